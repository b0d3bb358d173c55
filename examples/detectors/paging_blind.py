"""paging-blind: a crude outside detector for the photo-API bug, in DuckDB.

Rule: (app, user, photo) is exposed when the photo was live on surface marketplace, story or
draft (uploaded, not yet deleted, not yet published to the timeline) at the moment of a
successful (status 200) photo_api_call by that app for that user inside the bug window.
The window runs from the log's `bug_introduced` event to its `bug_fixed` event; positions in
the log compare by (ts, event_id), as in data/README.md §4.

Why it is crude: it ignores paging. A call returns only positions page*page_size ..
page*page_size+page_size-1 of the user's visible photos (newest first, timeline included), but
this rule treats every call as if it had returned all of them. It therefore over-reports
off-timeline photos that sat deeper than the pages the app actually read (shallow paging, big
albums), and can date an exposure too early (a call that had the photo beyond its page). It
never misses an exposure of the exact rule: its recall is 1 and only its precision suffers.

Usage: python paging_blind.py DATASET OUT
Reads only DATASET/events/*.parquet (never truth/). Writes OUT/exposures.parquet,
OUT/affected_users.parquet and OUT/findings.json.
"""

import json
import sys
import time
from pathlib import Path

import duckdb

QUERY = """
WITH ev AS (
    SELECT event_id, ts, kind, user_id, app_id, photo_id, surface, status
    FROM read_parquet({events})
),
win AS (  -- the bug window; system events appear once per shard, so take min positions
    SELECT min((ts, event_id)) FILTER (WHERE kind = 'bug_introduced') AS intro,
           min((ts, event_id)) FILTER (WHERE kind = 'bug_fixed') AS fix
    FROM ev WHERE event_id < 16777216
),
calls AS (
    SELECT c.event_id, c.ts, c.user_id, c.app_id
    FROM ev c, win
    WHERE c.kind = 'photo_api_call' AND c.status = 200
      AND (c.ts, c.event_id) > win.intro
      AND (win.fix IS NULL OR (c.ts, c.event_id) < win.fix)
),
photos AS (  -- each off-timeline upload with the position where it stops being exposable
    SELECT u.user_id, u.photo_id, (u.ts, u.event_id) AS born,
           min((e.ts, e.event_id)) AS gone
    FROM ev u
    LEFT JOIN ev e ON e.photo_id = u.photo_id AND e.kind IN ('photo_deleted', 'photo_published')
    WHERE u.kind = 'photo_uploaded' AND u.surface IN ('marketplace', 'story', 'draft')
    GROUP BY ALL
)
SELECT c.app_id, c.user_id, p.photo_id, min(c.ts) AS first_exposed_ts
FROM calls c
JOIN photos p ON p.user_id = c.user_id AND p.born < (c.ts, c.event_id)
             AND (p.gone IS NULL OR p.gone > (c.ts, c.event_id))
GROUP BY ALL
"""


def fail(message: str) -> None:
    print(f"paging_blind: {message}", file=sys.stderr)
    raise SystemExit(2)


def main() -> None:
    if len(sys.argv) != 3:
        fail("usage: python paging_blind.py DATASET OUT")
    dataset, out = Path(sys.argv[1]), Path(sys.argv[2])
    if not dataset.is_dir():
        fail(f"no dataset folder at {dataset}")
    shards = sorted((dataset / "events").glob("*.parquet"))
    if not shards:
        fail(f"no events: {dataset / 'events'} holds no *.parquet file")
    start = time.perf_counter()
    con = duckdb.connect()
    events = "[" + ", ".join("'" + str(s).replace("'", "''") + "'" for s in shards) + "]"
    try:
        intro = con.execute(
            f"SELECT count(*) FROM read_parquet({events}) WHERE kind = 'bug_introduced'"
        ).fetchone()[0]
        if intro == 0:
            fail(f"no bug_introduced event in {dataset / 'events'}: the bug window is unknown")
        con.execute("CREATE TABLE exposures AS " + QUERY.format(events=events))
    except duckdb.Error as e:
        fail(f"cannot read {dataset / 'events'}: {str(e).splitlines()[0]}")
    out.mkdir(parents=True, exist_ok=True)
    con.execute(f"COPY (SELECT * FROM exposures ORDER BY user_id, app_id, photo_id) "
                f"TO '{out / 'exposures.parquet'}' (FORMAT parquet)")
    con.execute(f"COPY (SELECT DISTINCT user_id FROM exposures ORDER BY user_id) "
                f"TO '{out / 'affected_users.parquet'}' (FORMAT parquet)")
    n_exp, n_users = con.execute(
        "SELECT count(*), count(DISTINCT user_id) FROM exposures").fetchone()
    wall = time.perf_counter() - start
    findings = {"detector": "paging-blind (DuckDB)", "wall_seconds": round(wall, 3)}
    (out / "findings.json").write_text(json.dumps(findings, indent=2) + "\n")
    print(f"paging-blind: {n_users} affected users, {n_exp} exposures in {wall:.2f} s")


if __name__ == "__main__":
    main()
