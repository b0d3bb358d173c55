-- The SPEC §4 photo-API rule as one SQL query over a dataset's event log: every
-- (app, user, photo) a successful call returned off the timeline, with the first call's time.
-- `{events}` is replaced by a glob of the event shards, e.g. 'DATASET/events/*.parquet'.
-- Positions in the log compare as (ts, event_id).
WITH ev AS (
    SELECT event_id, ts, kind, user_id, app_id, photo_id, surface, status, page, page_size
    FROM read_parquet({events})
),
deploys AS (
    SELECT
        arg_min(ts, ts) FILTER (WHERE kind = 'bug_introduced') AS intro_ts,
        arg_min(event_id, ts) FILTER (WHERE kind = 'bug_introduced') AS intro_id,
        arg_min(ts, ts) FILTER (WHERE kind = 'bug_fixed') AS fix_ts,
        arg_min(event_id, ts) FILTER (WHERE kind = 'bug_fixed') AS fix_id
    FROM ev WHERE kind IN ('bug_introduced', 'bug_fixed')
),
uploads AS (
    SELECT user_id, photo_id, ts AS up_ts, event_id AS up_id, surface
    FROM ev WHERE kind = 'photo_uploaded'
),
publishes AS (
    SELECT photo_id, ts AS pub_ts, event_id AS pub_id FROM ev WHERE kind = 'photo_published'
),
deletes AS (
    SELECT photo_id, ts AS del_ts, event_id AS del_id FROM ev WHERE kind = 'photo_deleted'
),
calls AS (
    SELECT c.event_id AS call_id, c.ts, c.user_id, c.app_id, c.page, c.page_size,
        ((c.ts > d.intro_ts OR (c.ts = d.intro_ts AND c.event_id > d.intro_id))
         AND (d.fix_ts IS NULL OR c.ts < d.fix_ts OR (c.ts = d.fix_ts AND c.event_id < d.fix_id))) AS bug
    FROM ev c, deploys d
    WHERE c.kind = 'photo_api_call' AND c.status = 200
),
candidates AS (
    SELECT c.call_id, c.ts, c.user_id, c.app_id, c.page, c.page_size, u.photo_id, u.up_ts,
        CASE WHEN p.pub_ts IS NOT NULL
                  AND (p.pub_ts < c.ts OR (p.pub_ts = c.ts AND p.pub_id < c.call_id))
             THEN 'timeline' ELSE u.surface END AS surface_now,
        c.bug
    FROM calls c
    JOIN uploads u
      ON u.user_id = c.user_id AND (u.up_ts < c.ts OR (u.up_ts = c.ts AND u.up_id < c.call_id))
    LEFT JOIN publishes p ON p.photo_id = u.photo_id
    LEFT JOIN deletes x ON x.photo_id = u.photo_id
    WHERE x.del_ts IS NULL OR x.del_ts > c.ts OR (x.del_ts = c.ts AND x.del_id > c.call_id)
),
visible AS (
    SELECT *, row_number() OVER (PARTITION BY call_id ORDER BY up_ts DESC, photo_id DESC) AS pos
    FROM candidates
    WHERE surface_now = 'timeline' OR (bug AND surface_now IN ('marketplace', 'story', 'draft'))
)
SELECT app_id, user_id, photo_id, min(ts) AS first_exposed_ts
FROM visible
WHERE surface_now <> 'timeline'
  AND pos > page * page_size AND pos <= page * page_size + page_size
GROUP BY app_id, user_id, photo_id
