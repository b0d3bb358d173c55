"""Recomputes a View-As world's truth from its access log alone, by the rules of data/README
§13, and compares it with truth/stolen_tokens and truth/view_as_users row for row. The
recomputation is the outside example examples/detectors/view_as_duckdb.py, written from that
section alone (DuckDB); this script reads only files. Also checks the friend graph: mutual,
no self-friendship, each row in its user's shard.

    python .ci/view_as_truth.py DATASET

Exits 1 naming the first difference.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

EXAMPLE = Path(__file__).resolve().parent.parent / "examples/detectors/view_as_duckdb.py"
ORDER = ["contact", "profile", "timeline", "friends", "groups", "conversations"]


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: view_as_truth.py DATASET", file=sys.stderr)
        return 2
    root = Path(sys.argv[1])
    manifest = json.loads((root / "manifest.json").read_text())
    con = duckdb.connect()
    # A token is taken at most once in a world (§13): the example keeps the first taking, so
    # a second one would go unseen by the comparison below.
    twice = con.execute(
        f"""
        SELECT count(*) FROM (
            SELECT issued_token_id FROM read_parquet('{root}/access/*.parquet')
            WHERE kind = 'token_issued' AND path = 'video_uploader' AND target_id <> user_id
            GROUP BY issued_token_id HAVING count(DISTINCT event_id) > 1)
        """
    ).fetchone()[0]
    if twice:
        print(f"{twice} tokens are taken more than once; data/README §13 says a token is taken at most once")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "found"
        subprocess.run([sys.executable, str(EXAMPLE), str(root), str(out)], check=True)
        token_cols = "token_id, user_id, stolen_ts, stolen_event_id, hop, pivot_id"
        want_tokens = con.execute(
            f"SELECT {token_cols} FROM read_parquet('{out}/stolen_tokens.parquet') ORDER BY user_id, stolen_ts"
        ).fetchall()
        want_users = con.execute(
            f"SELECT user_id, tier, field_groups FROM read_parquet('{out}/view_as_users.parquet') ORDER BY user_id"
        ).fetchall()
    got_tokens = con.execute(
        f"SELECT {token_cols} FROM read_parquet('{root}/truth/stolen_tokens/*.parquet') ORDER BY user_id, stolen_ts"
    ).fetchall()
    if want_tokens != got_tokens:
        diff = set(want_tokens) ^ set(got_tokens)
        print(f"stolen_tokens differ: {len(want_tokens)} recomputed, {len(got_tokens)} in the truth; e.g. {sorted(diff)[:3]}")
        return 1
    got_users = con.execute(
        f"SELECT user_id, tier, field_groups FROM read_parquet('{root}/truth/view_as_users/*.parquet') ORDER BY user_id"
    ).fetchall()
    want_users = [(u, t, sorted(g, key=ORDER.index)) for u, t, g in want_users]
    got_users = [(u, t, list(g)) for u, t, g in got_users]
    if want_users != got_users:
        bad = [(w, g) for w, g in zip(want_users, got_users) if w != g][:3]
        print(f"view_as_users differ: {len(want_users)} recomputed, {len(got_users)} in the truth; e.g. {bad}")
        return 1
    # The graph: mutual, irreflexive, each row in its user's shard.
    con.execute(f"CREATE VIEW friendships AS SELECT * FROM read_parquet('{root}/friendships/*.parquet')")
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
        "SELECT median(d), avg(d), max(d) FROM (SELECT user_id, count(*) AS d FROM friendships GROUP BY user_id)"
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
