-- The SPEC §4 message rule, tuned for DataFusion (55), over the event log registered as
-- table `ev`: every successful message_api_call made without an active grant of the
-- matching scope (read -> read_mailbox, write -> write_mailbox, delete -> delete_mailbox)
-- from that user to that app before it. The successful calls and the mailbox
-- grants/revocations are merged, and per (user, app, scope) in log order (ts, event_id) a
-- running count of grants and revocations numbers each call with the last one before it
-- (kept as a table: it is read twice); joined to it, that one's kind is the call's state
-- (none, or a revocation, is a violation).
-- `scope <> 'user_photos'` keeps the mailbox grants and revocations (scope is null on every
-- other kind). The same question as `last_value(granted) IGNORE NULLS` over the preceding
-- rows, asked without IGNORE NULLS, which Ballista 55 does not honour on its executors (it
-- reported 189 violations on a 4,000-user log that has none); and without a second window
-- partitioned by the group, which trips an internal check of DataFusion 55 on Ballista.
--
-- Three statements, separated by a semicolon at the end of a line: run them in order on one
-- SessionContext; the last one returns the answer. The first turns on Parquet filter
-- pushdown (decode the other columns only for rows that pass), which the exposures file
-- sets too; it stays on for the session.
SET datafusion.execution.parquet.pushdown_filters = true;

CREATE OR REPLACE TABLE br_msg_grouped AS
WITH log AS (
    SELECT user_id, app_id, CAST(action AS VARCHAR) || '_mailbox' AS scope, ts, event_id,
           CAST(action AS VARCHAR) AS action, CAST(NULL AS BOOLEAN) AS granted
    FROM ev WHERE kind = 'message_api_call' AND status = 200
    UNION ALL
    SELECT user_id, app_id, CAST(scope AS VARCHAR) AS scope, ts, event_id,
           CAST(NULL AS VARCHAR) AS action, kind = 'permission_granted' AS granted
    FROM ev WHERE (kind = 'permission_granted' OR kind = 'permission_revoked') AND scope <> 'user_photos'
),
grouped AS (
    SELECT event_id, app_id, user_id, scope, action, ts, granted,
           count(granted) OVER (
               PARTITION BY user_id, app_id, scope ORDER BY ts, event_id
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS grp
    FROM log
)
SELECT * FROM grouped;

SELECT c.event_id, c.app_id, c.user_id, c.action, c.ts
FROM br_msg_grouped c LEFT JOIN br_msg_grouped s
  ON s.granted IS NOT NULL AND s.user_id = c.user_id AND s.app_id = c.app_id
 AND s.scope = c.scope AND s.grp = c.grp
WHERE c.granted IS NULL AND s.granted IS NOT TRUE
ORDER BY c.event_id
