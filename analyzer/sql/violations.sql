-- The SPEC §4 message rule, tuned for DataFusion (55), over the event log registered as
-- table `ev`: every successful message_api_call made without an active grant of the
-- matching scope (read -> read_mailbox, write -> write_mailbox, delete -> delete_mailbox)
-- from that user to that app before it. One query, no join: the successful calls and
-- the mailbox grants/revocations are merged, and per (user, app, scope) in log order
-- (ts, event_id) each call reads the state left by the last grant (true) or revocation
-- (false) before it; none, or a revocation, is a violation. `scope <> 'user_photos'` keeps
-- the mailbox grants and revocations (scope is null on every other kind).
--
-- Two statements, separated by a semicolon at the end of a line: run them in order on one
-- SessionContext; the last one returns the answer. The first turns on Parquet filter
-- pushdown (decode the other columns only for rows that pass), which the exposures file
-- sets too; it stays on for the session.
SET datafusion.execution.parquet.pushdown_filters = true;

WITH log AS (
    SELECT user_id, app_id, CAST(action AS VARCHAR) || '_mailbox' AS scope, ts, event_id,
           CAST(action AS VARCHAR) AS action, CAST(NULL AS BOOLEAN) AS granted
    FROM ev WHERE kind = 'message_api_call' AND status = 200
    UNION ALL
    SELECT user_id, app_id, CAST(scope AS VARCHAR) AS scope, ts, event_id,
           CAST(NULL AS VARCHAR) AS action, kind = 'permission_granted' AS granted
    FROM ev WHERE (kind = 'permission_granted' OR kind = 'permission_revoked') AND scope <> 'user_photos'
),
state AS (
    SELECT event_id, app_id, user_id, action, ts, granted,
           last_value(granted) IGNORE NULLS OVER (
               PARTITION BY user_id, app_id, scope ORDER BY ts, event_id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS active
    FROM log
)
SELECT event_id, app_id, user_id, action, ts FROM state
WHERE granted IS NULL AND active IS NOT TRUE
ORDER BY event_id
