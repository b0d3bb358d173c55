"""Opens a generated dataset with DuckDB and checks what users of other engines rely on.

Usage: python .ci/duckdb_check.py DATASET

Checks: every file's row count equals the manifest's; the bug window read from the log's
deploys; a detector-style query over the truth agrees with the manifest's counts; the footer
carries the seed. (The column types, in DuckDB and four other engines: .ci/interop.py.)
Exits non-zero with one line per failure.
"""

import json
import sys
from pathlib import Path

import duckdb


def main(root: Path) -> int:
    manifest = json.loads((root / "manifest.json").read_text())
    con = duckdb.connect()
    failures = []

    def check(ok: bool, what: str) -> None:
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    for f in manifest["files"]:
        n = con.execute("SELECT count(*) FROM read_parquet(?)", [str(root / f["path"])]).fetchone()[0]
        check(n == f["rows"], f"{f['path']}: {n} rows, manifest says {f['rows']}")

    events = str(root / "events" / "*.parquet")
    total = con.execute("SELECT count(*) FROM read_parquet(?)", [events]).fetchone()[0]
    check(total == manifest["counts"]["events"], f"events: {total} rows in all shards")

    kinds = dict(con.execute("SELECT kind, count(*) FROM read_parquet(?) GROUP BY kind", [events]).fetchall())
    check(kinds == manifest["counts"]["events_by_kind"], f"events by kind: {kinds}")

    window = con.execute(
        "SELECT min(ts) FILTER (kind = 'bug_introduced'), min(ts) FILTER (kind = 'bug_fixed') FROM read_parquet(?)",
        [events],
    ).fetchone()
    check(window[0] is not None and window[0] < window[1], f"bug window read from system events: {window}")

    exposures = str(root / "truth" / "exposures" / "*.parquet")
    affected = con.execute("SELECT count(DISTINCT user_id) FROM read_parquet(?)", [exposures]).fetchone()[0]
    check(affected == manifest["counts"]["affected_users"], f"{affected} affected users in truth/exposures")
    outside = con.execute(
        "SELECT count(*) FROM read_parquet(?) WHERE first_exposed_ts < ? OR first_exposed_ts >= ?",
        [exposures, window[0], window[1]],
    ).fetchone()[0]
    check(outside == 0, f"{outside} exposures outside the bug window")

    meta = con.execute(
        "SELECT decode(value) FROM parquet_kv_metadata(?) WHERE decode(key) = 'blastradius.seed'",
        [str(root / "events" / "part-00000.parquet")],
    ).fetchone()
    check(meta is not None and int(meta[0]) == manifest["seed"], f"footer seed {meta}")

    print(f"{len(failures)} failed" if failures else "duckdb interop: all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1])))
