-- The SPEC §4 message rule, tuned for DuckDB: every successful message_api_call made
-- without an active grant of the matching scope (read -> read_mailbox, write ->
-- write_mailbox, delete -> delete_mailbox) from that user to that app before it.
-- `{events}` is replaced by a quoted glob of the event shards, e.g. 'DATASET/events/*.parquet'.
-- One ASOF join finds, for each call, the latest grant or revocation of its (user, app,
-- scope) before it in log order (ts, event_id); the call is a violation when there is none
-- or it was a revocation. `scope <> 'user_photos'` keeps the mailbox grants and revocations
-- (scope is null on every other kind) and is pushed into the Parquet scan.
WITH calls AS (
    SELECT event_id, ts, user_id, app_id, action,
           CAST(action AS VARCHAR) || '_mailbox' AS scope,
           epoch_us(ts)::HUGEINT * 18446744073709551616 + event_id AS pos
    FROM read_parquet({events})
    WHERE kind = 'message_api_call' AND status = 200
),
perms AS (
    SELECT user_id, app_id, CAST(scope AS VARCHAR) AS scope, kind = 'permission_granted' AS granted,
           epoch_us(ts)::HUGEINT * 18446744073709551616 + event_id AS pos
    FROM read_parquet({events})
    WHERE (kind = 'permission_granted' OR kind = 'permission_revoked') AND scope <> 'user_photos'
)
SELECT c.event_id, c.app_id, c.user_id, CAST(c.action AS VARCHAR) AS action, c.ts
FROM calls c ASOF LEFT JOIN perms p
  ON c.user_id = p.user_id AND c.app_id = p.app_id AND c.scope = p.scope AND c.pos > p.pos
WHERE p.granted IS NOT TRUE
