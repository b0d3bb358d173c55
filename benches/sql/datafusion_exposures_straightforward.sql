-- The SPEC §4 photo-API rule as the sql detector ran it before it was tuned (kept as the
-- comparison's "straightforward SQL" row for DataFusion): every successful call of the whole
-- period joined with every photo of its user, ranked per call by one window function.
-- Table `ev` is the event log.
WITH deploys AS (
    SELECT
        min(CASE WHEN kind = 'bug_introduced' THEN ts END) AS intro_ts,
        min(CASE WHEN kind = 'bug_introduced' THEN event_id END) AS intro_id,
        min(CASE WHEN kind = 'bug_fixed' THEN ts END) AS fix_ts,
        min(CASE WHEN kind = 'bug_fixed' THEN event_id END) AS fix_id
    FROM ev WHERE kind = 'bug_introduced' OR kind = 'bug_fixed'
),
uploads AS (
    SELECT user_id, photo_id, ts AS up_ts, event_id AS up_id, CAST(surface AS VARCHAR) AS surface
    FROM ev WHERE kind = 'photo_uploaded'
),
publishes AS (SELECT photo_id, ts AS pub_ts, event_id AS pub_id FROM ev WHERE kind = 'photo_published'),
deletes AS (SELECT photo_id, ts AS del_ts, event_id AS del_id FROM ev WHERE kind = 'photo_deleted'),
calls AS (
    SELECT c.event_id AS call_id, c.ts AS call_ts, c.user_id, c.app_id, c.page, c.page_size,
        ((c.ts > d.intro_ts OR (c.ts = d.intro_ts AND c.event_id > d.intro_id))
         AND (d.fix_ts IS NULL OR c.ts < d.fix_ts OR (c.ts = d.fix_ts AND c.event_id < d.fix_id))) AS bug
    FROM ev c CROSS JOIN deploys d
    WHERE c.kind = 'photo_api_call' AND c.status = 200
),
candidates AS (
    SELECT c.call_id, c.call_ts, c.user_id, c.app_id, c.page, c.page_size, u.photo_id, u.up_ts, c.bug,
        CASE WHEN p.pub_ts IS NOT NULL AND (p.pub_ts < c.call_ts OR (p.pub_ts = c.call_ts AND p.pub_id < c.call_id))
             THEN 'timeline' ELSE u.surface END AS surface_now
    FROM calls c
    JOIN uploads u ON u.user_id = c.user_id
    LEFT JOIN publishes p ON p.photo_id = u.photo_id
    LEFT JOIN deletes x ON x.photo_id = u.photo_id
    WHERE (u.up_ts < c.call_ts OR (u.up_ts = c.call_ts AND u.up_id < c.call_id))
      AND (x.del_ts IS NULL OR x.del_ts > c.call_ts OR (x.del_ts = c.call_ts AND x.del_id > c.call_id))
),
visible AS (
    SELECT *, row_number() OVER (PARTITION BY call_id ORDER BY up_ts DESC, photo_id DESC) AS pos
    FROM candidates
    WHERE surface_now = 'timeline' OR (bug AND surface_now IN ('marketplace', 'story', 'draft'))
)
SELECT app_id, user_id, photo_id, min(call_ts) AS first_exposed_ts,
       first_value(surface_now ORDER BY call_ts) AS surface
FROM visible
WHERE surface_now <> 'timeline'
  AND pos > page * page_size AND pos <= page * page_size + page_size
GROUP BY app_id, user_id, photo_id
ORDER BY app_id, user_id, photo_id
