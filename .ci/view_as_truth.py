"""Recomputes a View-As world's truth from its access log alone, by the rules of data/README
§13, in DuckDB, and compares it with truth/stolen_tokens and truth/view_as_users row for row.
Also checks the friend graph: mutual, no self-friendship, each row in its user's shard.

    python .ci/view_as_truth.py DATASET

Exits 1 naming the first difference. Independent of the Rust code: it reads only the files.
"""

import json
import sys
from pathlib import Path

import duckdb


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: view_as_truth.py DATASET", file=sys.stderr)
        return 2
    root = Path(sys.argv[1])
    manifest = json.loads((root / "manifest.json").read_text())
    con = duckdb.connect()
    con.execute(f"CREATE VIEW access AS SELECT * FROM read_parquet('{root}/access/*.parquet')")
    con.execute(f"CREATE VIEW friendships AS SELECT * FROM read_parquet('{root}/friendships/*.parquet')")
    # Rule 1: taken tokens.
    con.execute(
        """
        CREATE TABLE taken AS
        SELECT issued_token_id AS token_id, target_id AS user_id, ts AS stolen_ts,
               event_id AS stolen_event_id, user_id AS pivot_id, token_id AS parent
        FROM access
        WHERE kind = 'token_issued' AND path = 'video_uploader' AND target_id <> user_id
        """
    )
    # Rule 2: hops, by following parents until a token that was not taken.
    con.execute(
        """
        CREATE TABLE hops AS
        WITH RECURSIVE chain(token_id, hop, parent) AS (
            SELECT t.token_id, 1, t.parent FROM taken t
            WHERE t.parent IS NULL OR t.parent NOT IN (SELECT token_id FROM taken)
            UNION ALL
            SELECT t.token_id, c.hop + 1, t.parent FROM taken t JOIN chain c ON t.parent = c.token_id
        )
        SELECT token_id, hop FROM chain
        """
    )
    want_tokens = con.execute(
        """
        SELECT t.token_id, t.user_id, t.stolen_ts, t.stolen_event_id, h.hop, t.pivot_id
        FROM taken t JOIN hops h USING (token_id)
        ORDER BY t.user_id, t.stolen_ts
        """
    ).fetchall()
    got_tokens = con.execute(
        f"""
        SELECT token_id, user_id, stolen_ts, stolen_event_id, hop, pivot_id
        FROM read_parquet('{root}/truth/stolen_tokens/*.parquet')
        ORDER BY user_id, stolen_ts
        """
    ).fetchall()
    if want_tokens != got_tokens:
        diff = set(want_tokens) ^ set(got_tokens)
        print(f"stolen_tokens differ: {len(want_tokens)} recomputed, {len(got_tokens)} in the truth; e.g. {sorted(diff)[:3]}")
        return 1
    # Rules 3 and 4: groups read and tiers.
    order = ["contact", "profile", "timeline", "friends", "groups", "conversations"]
    want_users = con.execute(
        f"""
        WITH reads AS (
            SELECT t.user_id, list(DISTINCT a.field_group) AS groups
            FROM taken t JOIN access a ON a.kind = 'profile_read' AND a.token_id = t.token_id
            GROUP BY t.user_id
        ), pivots AS (
            SELECT DISTINCT t.user_id FROM taken t JOIN taken c ON c.parent = t.token_id
        )
        SELECT t.user_id,
               CASE WHEN p.user_id IS NOT NULL THEN 'pivot'
                    WHEN list_contains(r.groups, 'profile') THEN 'contact_profile'
                    WHEN list_contains(r.groups, 'contact') THEN 'contact'
                    ELSE 'token_only' END AS tier,
               list_sort(coalesce(r.groups, []::VARCHAR[])) AS groups
        FROM (SELECT DISTINCT user_id FROM taken) t
        LEFT JOIN reads r USING (user_id) LEFT JOIN pivots p USING (user_id)
        ORDER BY t.user_id
        """
    ).fetchall()
    got_users = con.execute(
        f"""
        SELECT user_id, tier, field_groups FROM read_parquet('{root}/truth/view_as_users/*.parquet')
        ORDER BY user_id
        """
    ).fetchall()
    key = order.index
    want_users = [(u, t, sorted(g, key=key)) for u, t, g in want_users]
    got_users = [(u, t, list(g)) for u, t, g in got_users]
    if want_users != got_users:
        bad = [(w, g) for w, g in zip(want_users, got_users) if w != g][:3]
        print(f"view_as_users differ: {len(want_users)} recomputed, {len(got_users)} in the truth; e.g. {bad}")
        return 1
    # The graph: mutual, irreflexive, each row in its user's shard.
    asym = con.execute(
        """
        SELECT count(*) FROM friendships f
        ANTI JOIN friendships g ON g.user_id = f.friend_id AND g.friend_id = f.user_id
        """
    ).fetchone()[0]
    selfs = con.execute("SELECT count(*) FROM friendships WHERE user_id = friend_id").fetchone()[0]
    users, shards = manifest["users"], manifest["shards"]
    misplaced = con.execute(
        f"""
        SELECT count(*) FROM read_parquet('{root}/friendships/*.parquet', filename = true)
        WHERE user_id < ({users} * CAST(regexp_extract(filename, 'part-(\\d+)', 1) AS HUGEINT)) // {shards}
           OR user_id >= ({users} * (CAST(regexp_extract(filename, 'part-(\\d+)', 1) AS HUGEINT) + 1)) // {shards}
        """
    ).fetchone()[0]
    if asym or selfs or misplaced:
        print(f"friendships: {asym} one-way rows, {selfs} self-friendships, {misplaced} rows outside their shard")
        return 1
    stats = con.execute(
        """
        SELECT median(d), avg(d), max(d) FROM (SELECT user_id, count(*) AS d FROM friendships GROUP BY user_id)
        """
    ).fetchone()
    tiers = {}
    for _, t, _ in got_users:
        tiers[t] = tiers.get(t, 0) + 1
    print(
        f"view-as truth recomputed from the log: {len(got_tokens)} tokens taken, tiers {tiers}, "
        f"max hop {max((r[4] for r in got_tokens), default=0)}; friend graph mutual, "
        f"degree median {stats[0]:.0f}, mean {stats[1]:.1f}, max {stats[2]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
