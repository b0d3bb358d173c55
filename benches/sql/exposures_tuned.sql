-- The SPEC §4 photo-API rule, tuned for DuckDB: the same answer as exposures.sql (every
-- (app, user, photo) a successful call returned off the timeline, with the first call's
-- time), but only the work that can matter.
-- `{events}` is replaced by a quoted glob of the event shards, e.g. 'DATASET/events/*.parquet'.
-- Positions in the log compare as (ts, event_id); a photo's id is its upload's event_id.
--
-- 1. Only a successful call while the bug is active can return a photo that is not on the
--    timeline, so only in-window calls are kept (the window comes from the log's deploys).
-- 2. Only those callers' photo events are read: the semi-join `user_id IN (calls)` becomes a
--    dynamic filter inside the Parquet scan, so the other users' rows are never decoded.
--    One GROUP BY folds each photo's upload, publish and delete into one row.
--    The ts bounds are scalar subqueries on purpose: DuckDB applies them inside the scan as
--    dynamic filters. Written as literals, they change the cardinality estimates and DuckDB
--    builds the semi-join's hash table on the 16.7M-row side instead (3x slower).
-- 3. No ranking per call. Each user's photos (messenger ones never count) get a fixed
--    position `spos` (1 = newest, by up_ts DESC, photo_id DESC). For a call, the photos
--    uploaded before it are exactly those with spos >= s0, where s0 is the spos of the
--    newest one uploaded before it (an ASOF join). A photo p visible at the call is at
--        pos = spos(p) - s0 + 1 - (photos deleted before the call with spos < spos(p))
--    (a photo deleted before the call was uploaded before it, so needs no check on s0).
--    Only the call's off-timeline candidates (marketplace/story/draft, live, unpublished)
--    need a position, and a candidate with spos(p) - s0 < page*page_size is already before
--    the page (deletes only move a photo up).
-- The query assumes one bug_introduced and at most one bug_fixed deploy, as every scenario
-- has (copies in every shard are the same event).
WITH deploys AS (
    SELECT
        arg_min(ts, ts) FILTER (WHERE kind = 'bug_introduced') AS intro_ts,
        arg_min(event_id, ts) FILTER (WHERE kind = 'bug_introduced') AS intro_id,
        arg_min(ts, ts) FILTER (WHERE kind = 'bug_fixed') AS fix_ts,
        arg_min(event_id, ts) FILTER (WHERE kind = 'bug_fixed') AS fix_id
    FROM read_parquet({events}) WHERE event_id < 16777216
),
calls AS (
    SELECT c.event_id AS call_id, c.ts AS call_ts, c.user_id, c.app_id,
           c.page * c.page_size AS lo, c.page_size,
           epoch_us(c.ts)::HUGEINT * 18446744073709551616 + c.event_id AS call_pos
    FROM read_parquet({events}) c, deploys d
    WHERE c.kind = 'photo_api_call' AND c.status = 200
      -- scalar subqueries, so that DuckDB turns them into a ts range inside the scan
      AND c.ts >= (SELECT intro_ts FROM deploys)
      AND c.ts <= (SELECT coalesce(fix_ts, 'infinity'::TIMESTAMPTZ) FROM deploys)
      AND (c.ts > d.intro_ts OR (c.ts = d.intro_ts AND c.event_id > d.intro_id))
      AND (d.fix_ts IS NULL OR c.ts < d.fix_ts OR (c.ts = d.fix_ts AND c.event_id < d.fix_id))
),
photos AS (
    SELECT photo_id,
        any_value(user_id) AS user_id,
        min(ts) FILTER (WHERE kind = 'photo_uploaded') AS up_ts,
        min(event_id) FILTER (WHERE kind = 'photo_uploaded') AS up_id,
        CAST(any_value(surface) FILTER (WHERE kind = 'photo_uploaded') AS VARCHAR) AS surface,
        min(ts) FILTER (WHERE kind = 'photo_published') AS pub_ts,
        min(event_id) FILTER (WHERE kind = 'photo_published') AS pub_id,
        min(ts) FILTER (WHERE kind = 'photo_deleted') AS del_ts,
        min(event_id) FILTER (WHERE kind = 'photo_deleted') AS del_id
    FROM read_parquet({events})
    WHERE photo_id IS NOT NULL  -- uploads, publishes and deletes only
      AND user_id IN (SELECT user_id FROM calls)
      AND ts <= (SELECT max(call_ts) FROM calls)  -- nothing later can matter
    GROUP BY photo_id
),
p AS (
    SELECT *, epoch_us(up_ts)::HUGEINT * 18446744073709551616 + up_id AS up_pos,
        row_number() OVER (PARTITION BY user_id ORDER BY up_ts DESC, photo_id DESC) AS spos
    FROM photos WHERE surface <> 'messenger' AND up_ts IS NOT NULL
),
s AS (
    SELECT c.call_id, c.call_ts, c.user_id, c.app_id, c.lo, c.page_size, p.spos AS s0
    FROM calls c ASOF JOIN p ON c.user_id = p.user_id AND c.call_pos > p.up_pos
),
x AS (
    SELECT s.call_id, s.call_ts, s.user_id, s.app_id, s.lo, s.page_size, p.photo_id,
           p.surface, p.spos, p.spos - s.s0 + 1 AS raw
    FROM s JOIN p ON p.user_id = s.user_id
    WHERE p.surface IN ('marketplace', 'story', 'draft')
      AND p.spos - s.s0 >= s.lo
      AND (p.up_ts < s.call_ts OR (p.up_ts = s.call_ts AND p.up_id < s.call_id))
      AND (p.del_ts IS NULL OR p.del_ts > s.call_ts OR (p.del_ts = s.call_ts AND p.del_id > s.call_id))
      AND (p.pub_ts IS NULL OR p.pub_ts > s.call_ts OR (p.pub_ts = s.call_ts AND p.pub_id > s.call_id))
),
ranked AS (
    SELECT x.app_id, x.user_id, x.photo_id, x.surface, x.call_ts, x.lo, x.page_size,
           any_value(x.raw) - count(d.photo_id) AS pos
    FROM x LEFT JOIN p d
      ON d.user_id = x.user_id AND d.spos < x.spos
     AND (d.del_ts < x.call_ts OR (d.del_ts = x.call_ts AND d.del_id < x.call_id))
    GROUP BY x.call_id, x.photo_id, x.app_id, x.user_id, x.surface, x.call_ts, x.lo, x.page_size
)
SELECT app_id, user_id, photo_id, min(call_ts) AS first_exposed_ts, any_value(surface) AS surface
FROM ranked
WHERE pos > lo AND pos <= lo + page_size
GROUP BY app_id, user_id, photo_id
