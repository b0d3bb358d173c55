"""Opens a generated dataset with DuckDB and checks what users of other engines rely on.

Usage: python .ci/duckdb_check.py DATASET

Checks: every file's row count equals the manifest's; `ts` reads as a timestamp with time
zone; enum columns read as strings; ids read as unsigned integers; a detector-style query
over the truth agrees with the manifest's counts. Exits non-zero with one line per failure.
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

    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))", [events]).fetchall())
    check(types["ts"] == "TIMESTAMP WITH TIME ZONE", f"events.ts reads as {types['ts']}")
    for column in ["kind", "surface", "scope", "action"]:
        check(types[column] == "VARCHAR", f"events.{column} reads as {types[column]}")
    for column in ["event_id", "user_id", "photo_id"]:
        check(types[column] == "UBIGINT", f"events.{column} reads as {types[column]}")
    for column in ["app_id", "page", "page_size", "items_returned"]:
        check(types[column] == "UINTEGER", f"events.{column} reads as {types[column]}")
    check(types["status"] == "USMALLINT", f"events.status reads as {types['status']}")

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

    scopes = con.execute("SELECT typeof(scopes) FROM read_parquet(?) LIMIT 1", [str(root / "apps.parquet")]).fetchone()[0]
    check(scopes == "VARCHAR[]", f"apps.scopes reads as {scopes}")

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
