"""view-as-duckdb: an outside detector for the View-As token theft, in DuckDB, written from
data/README.md §13 alone.

Rules (§13): a `token_issued` row with path `video_uploader` whose owner (`target_id`) is not
the session's account (`user_id`) took the token `issued_token_id`; its hop is one more than
the hop of the token the session used (`token_id`), 1 when that token was not taken; what was
read with a taken token is the `field_group` of every `profile_read` row carrying it; a user
whose taken token took others is a pivot, else the tier follows from what was read.
Rows delivered twice share an `event_id` and are counted once; the order of rows is ignored.

Usage: python view_as_duckdb.py DATASET OUT
Reads only DATASET/access/*.parquet (never truth/). Writes OUT/stolen_tokens.parquet,
OUT/view_as_users.parquet and OUT/findings.json. OUT must be absent or empty.
"""

import json
import sys
import time
from pathlib import Path

import duckdb


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: view_as_duckdb.py DATASET OUT", file=sys.stderr)
        return 2
    dataset, out = Path(sys.argv[1]), Path(sys.argv[2])
    parts = sorted((dataset / "access").glob("*.parquet"))
    if not parts:
        print(f"{dataset}: no access/*.parquet: give a View-As dataset (generate --scenario view-as-2018)", file=sys.stderr)
        return 2
    if out.exists() and any(out.iterdir()):
        print(f"{out}: not empty; give a new folder", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    con = duckdb.connect()
    files = "[" + ", ".join(f"'{p}'" for p in parts) + "]"
    con.execute(
        f"""
        CREATE TABLE access AS
        SELECT DISTINCT ON (event_id) * FROM read_parquet({files})
        """
    )
    con.execute(
        """
        CREATE TABLE taken AS
        SELECT DISTINCT ON (issued_token_id)
               issued_token_id AS token_id, target_id AS user_id, ts AS stolen_ts,
               event_id AS stolen_event_id, user_id AS pivot_id, token_id AS parent
        FROM access
        WHERE kind = 'token_issued' AND path = 'video_uploader' AND target_id <> user_id
        ORDER BY issued_token_id, ts, event_id
        """
    )
    con.execute(
        """
        CREATE TABLE hops AS
        WITH RECURSIVE chain(token_id, hop) AS (
            SELECT token_id, 1 FROM taken
            WHERE parent IS NULL OR parent NOT IN (SELECT token_id FROM taken)
            UNION ALL
            SELECT t.token_id, c.hop + 1 FROM taken t JOIN chain c ON t.parent = c.token_id
        )
        SELECT token_id, max(hop) AS hop FROM chain GROUP BY token_id
        """
    )
    con.execute(
        f"""
        COPY (
            SELECT t.token_id, t.user_id, t.stolen_ts, t.stolen_event_id,
                   CAST(h.hop AS INTEGER) AS hop, t.pivot_id
            FROM taken t JOIN hops h USING (token_id) ORDER BY t.user_id, t.stolen_ts
        ) TO '{out / "stolen_tokens.parquet"}' (FORMAT parquet)
        """
    )
    con.execute(
        f"""
        COPY (
            WITH reads AS (
                SELECT t.user_id, list(DISTINCT a.field_group) AS groups
                FROM taken t JOIN access a ON a.kind = 'profile_read' AND a.token_id = t.token_id
                GROUP BY t.user_id
            ), pivots AS (
                SELECT DISTINCT t.user_id FROM taken t JOIN taken c ON c.parent = t.token_id
            )
            SELECT u.user_id,
                   CASE WHEN p.user_id IS NOT NULL THEN 'pivot'
                        WHEN list_contains(r.groups, 'profile') THEN 'contact_profile'
                        WHEN list_contains(r.groups, 'contact') THEN 'contact'
                        ELSE 'token_only' END AS tier,
                   coalesce(r.groups, []::VARCHAR[]) AS field_groups
            FROM (SELECT DISTINCT user_id FROM taken) u
            LEFT JOIN reads r USING (user_id) LEFT JOIN pivots p USING (user_id)
            ORDER BY u.user_id
        ) TO '{out / "view_as_users.parquet"}' (FORMAT parquet)
        """
    )
    events = con.execute("SELECT count(*) FROM access").fetchone()[0]
    (out / "findings.json").write_text(
        json.dumps(
            {"detector": "view-as-duckdb", "wall_seconds": time.time() - started, "events": events},
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
