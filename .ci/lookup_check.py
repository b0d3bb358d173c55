"""`blastradius lookup` for 100 random users against a DuckDB query over the truth.

Usage: python .ci/lookup_check.py BLASTRADIUS DATASET
For each user: the (app, photo, surface, first exposure) it reports must be the truth's rows
for that user, and the apps it says hold a photo grant now must be those whose last
user_photos grant or revocation in the log was a grant. Exits non-zero on any difference.
"""

import json
import random
import subprocess
import sys
from pathlib import Path

import duckdb


def main(binary: str, root: Path) -> int:
    manifest = json.loads((root / "manifest.json").read_text())
    users = manifest["users"]
    con = duckdb.connect()
    truth = str(root / "truth" / "exposures" / "*.parquet")
    events = str(root / "events" / "*.parquet")
    affected = [r[0] for r in con.execute(f"SELECT DISTINCT user_id FROM read_parquet('{truth}') ORDER BY 1").fetchall()]
    rng = random.Random(1)
    sample = rng.sample(affected, min(50, len(affected))) + rng.sample(range(users), 50)
    failures = 0
    for user in sample:
        out = subprocess.run([binary, "lookup", str(root), str(user), "--json"], check=True,
                             capture_output=True, text=True).stdout
        answer = json.loads(out)
        got = sorted((e["app_id"], e["photo_id"], e["surface"], e["first_exposed"]) for e in answer["exposures"])
        want = sorted(
            (a, p, s, t.strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z"))
            for a, p, s, t in con.execute(
                f"SELECT app_id, photo_id, surface, first_exposed_ts AT TIME ZONE 'UTC' "
                f"FROM read_parquet('{truth}') WHERE user_id = ?", [user]).fetchall())
        grants = sorted(r[0] for r in con.execute(f"""
            SELECT app_id FROM (
                SELECT app_id, arg_max(kind, (ts, event_id)) AS last
                FROM read_parquet('{events}')
                WHERE user_id = ? AND scope = 'user_photos'
                GROUP BY app_id) WHERE last = 'permission_granted'""", [user]).fetchall())
        got_grants = sorted(g["app_id"] for g in answer["photo_grants_now"])
        violations = str(root / "truth" / "message_violations" / "*.parquet")
        calls = con.execute(f"SELECT count(*) FROM read_parquet('{violations}') WHERE user_id = ?",
                            [user]).fetchone()[0]
        got_calls = sum(m["calls"] for m in answer["mailbox"])
        if (got != want or grants != got_grants or got_calls != calls
                or answer["affected"] != (bool(want) or calls > 0)
                or answer["photos_exposed"] != len({p for _, p, _, _ in want})):
            failures += 1
            print(f"FAIL user {user}: lookup {got} {got_grants}, DuckDB {want} {grants}")
    print(f"lookup agrees with DuckDB for {len(sample) - failures} of {len(sample)} users")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], Path(sys.argv[2])))
