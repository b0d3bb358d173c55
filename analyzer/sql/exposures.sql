-- The SPEC §4 photo-API rule, tuned for DataFusion (55), over the event log registered as
-- table `ev` (enum columns are dictionary-encoded strings, cast where compared as text).
-- Same answer as the `sql` detector's EXPOSURES_SQL (app_id, user_id, photo_id,
-- first_exposed_ts, surface); positions in the log compare as (ts, event_id), and a
-- photo's id is its upload's event_id.
--
-- Several statements, separated by a semicolon at the end of a line: run them in order on
-- one SessionContext; the last one returns the answer. DataFusion inlines a CTE at every
-- use (no materialisation), so the small intermediate results that are used more than once
-- are kept as memory tables (CREATE OR REPLACE TABLE), which a rerun replaces.
--
-- 1. Only a successful call while the bug is active can return an off-timeline photo: keep
--    the in-window calls (window read from the log's deploys).
-- 2. Read only those callers' rows: joined on a small memory table of their user_ids, the
--    hash join's dynamic filter reaches the Parquet scan, and with pushdown_filters it is
--    applied while decoding, so other users' rows are never decoded past user_id.
-- 3. No ranking per call. Each user's photos (messenger never counts) get a fixed position
--    apos (1 = oldest, by up_ts, photo_id). For a call, nb = how many of them were uploaded
--    before it (one running count over calls and uploads merged in log order), so the
--    photos uploaded before it are those with apos <= nb. A photo p visible at the call is at
--        pos = nb - apos(p) + 1 - (photos deleted before the call with apos > apos(p))
--    Only the call's off-timeline candidates (marketplace/story/draft, live, unpublished)
--    need a position; one with nb - apos(p) < page*page_size is already before the page.
-- Assumes one bug_introduced and at most one bug_fixed deploy, as every scenario has.
SET datafusion.execution.parquet.pushdown_filters = true;

CREATE OR REPLACE TABLE br_tuned_calls AS
WITH deploys AS (
    SELECT
        min(CASE WHEN kind = 'bug_introduced' THEN ts END) AS intro_ts,
        min(CASE WHEN kind = 'bug_introduced' THEN event_id END) AS intro_id,
        min(CASE WHEN kind = 'bug_fixed' THEN ts END) AS fix_ts,
        min(CASE WHEN kind = 'bug_fixed' THEN event_id END) AS fix_id
    FROM ev WHERE kind = 'bug_introduced' OR kind = 'bug_fixed'
)
SELECT c.event_id AS call_id, c.ts AS call_ts, c.user_id, c.app_id,
       CAST(c.page * c.page_size AS BIGINT) AS lo, CAST(c.page_size AS BIGINT) AS page_size
FROM ev c CROSS JOIN deploys d
WHERE c.kind = 'photo_api_call' AND c.status = 200
  AND c.ts >= d.intro_ts AND (d.fix_ts IS NULL OR c.ts <= d.fix_ts)
  AND (c.ts > d.intro_ts OR c.event_id > d.intro_id)
  AND (d.fix_ts IS NULL OR c.ts < d.fix_ts OR c.event_id < d.fix_id);

CREATE OR REPLACE TABLE br_tuned_users AS SELECT DISTINCT user_id FROM br_tuned_calls;

CREATE OR REPLACE TABLE br_tuned_photos AS
WITH pe AS (
    SELECT kind, user_id, photo_id, ts, event_id, surface
    FROM ev WHERE user_id IN (SELECT user_id FROM br_tuned_users)
),
agg AS (
    SELECT photo_id,
        min(user_id) AS user_id,
        min(CASE WHEN kind = 'photo_uploaded' THEN ts END) AS up_ts,
        min(CASE WHEN kind = 'photo_uploaded' THEN CAST(surface AS VARCHAR) END) AS surface,
        min(CASE WHEN kind = 'photo_published' THEN ts END) AS pub_ts,
        min(CASE WHEN kind = 'photo_published' THEN event_id END) AS pub_id,
        min(CASE WHEN kind = 'photo_deleted' THEN ts END) AS del_ts,
        min(CASE WHEN kind = 'photo_deleted' THEN event_id END) AS del_id
    FROM pe WHERE photo_id IS NOT NULL
    GROUP BY photo_id
)
SELECT *, CAST(row_number() OVER (PARTITION BY user_id ORDER BY up_ts, photo_id) AS BIGINT) AS apos
FROM agg WHERE up_ts IS NOT NULL AND surface <> 'messenger';

WITH nb AS (
    SELECT i AS call_id, n AS nb FROM (
        SELECT i, is_photo,
               CAST(sum(is_photo) OVER (PARTITION BY user_id ORDER BY t, i
                                        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) AS n
        FROM (SELECT user_id, call_ts AS t, call_id AS i, CAST(0 AS BIGINT) AS is_photo FROM br_tuned_calls
              UNION ALL
              SELECT user_id, up_ts AS t, photo_id AS i, CAST(1 AS BIGINT) AS is_photo FROM br_tuned_photos) m
    ) s WHERE is_photo = 0
),
x AS (
    SELECT c.call_id, c.call_ts, c.user_id, c.app_id, c.lo, c.page_size, p.photo_id, p.surface,
           p.apos, n.nb - p.apos + 1 AS raw
    FROM br_tuned_calls c
    JOIN nb n ON n.call_id = c.call_id
    JOIN br_tuned_photos p ON p.user_id = c.user_id
    WHERE p.surface <> 'timeline'
      AND p.apos <= n.nb - c.lo
      AND (p.del_ts IS NULL OR p.del_ts > c.call_ts OR (p.del_ts = c.call_ts AND p.del_id > c.call_id))
      AND (p.pub_ts IS NULL OR p.pub_ts > c.call_ts OR (p.pub_ts = c.call_ts AND p.pub_id > c.call_id))
),
ranked AS (
    SELECT x.call_id, x.photo_id, x.app_id, x.user_id, x.surface, x.call_ts, x.lo, x.page_size,
           x.raw - CAST(count(d.photo_id) AS BIGINT) AS pos
    FROM x LEFT JOIN br_tuned_photos d
      ON d.user_id = x.user_id AND d.apos > x.apos
     AND (d.del_ts < x.call_ts OR (d.del_ts = x.call_ts AND d.del_id < x.call_id))
    GROUP BY x.call_id, x.photo_id, x.app_id, x.user_id, x.surface, x.call_ts, x.lo, x.page_size, x.raw
)
SELECT app_id, user_id, photo_id, min(call_ts) AS first_exposed_ts, min(surface) AS surface
FROM ranked
WHERE pos > lo AND pos <= lo + page_size
GROUP BY app_id, user_id, photo_id
ORDER BY app_id, user_id, photo_id
