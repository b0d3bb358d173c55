"""The SPEC §4 photo-API rule in DuckDB (benches/sql/exposures.sql) on a dataset, and with
--violations-out the message rule too (benches/sql/violations_tuned.sql), on one connection.

Usage: python benches/duckdb_exposures.py DATASET [--sql FILE] [--runs N] [--out FILE.parquet]
       [--violations-out FILE.parquet] [--check]
--sql picks the formulation: benches/sql/exposures.sql (the default, straightforward) or
benches/sql/exposures_tuned.sql.
Times N runs (default 1) and prints the median. --out writes the answer as Parquet;
--violations-out finds the message violations in each run as well (timed with it) and writes
them there; --check compares the exposures (and the violations, when found) with the dataset's
truth/ and exits 1 when they differ.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import duckdb

COLUMNS = "app_id, user_id, photo_id, first_exposed_ts"
VIOLATIONS = Path(__file__).parent / "sql" / "violations_tuned.sql"


def query(root: Path, sql_file: Path) -> str:
    sql = sql_file.read_text()
    return sql.replace("{events}", "'" + str(root / "events" / "*.parquet") + "'")


def differences(con, table: str, truth: Path, columns: str) -> int:
    """Rows of `table` not in the truth's Parquet folder `truth`, plus the truth's rows not in
    `table`, compared on `columns`."""
    files = f"read_parquet('{truth / '*.parquet'}')"
    return con.execute(
        f"""SELECT count(*) FROM (
            (SELECT {columns} FROM {table} EXCEPT SELECT {columns} FROM {files})
            UNION ALL
            (SELECT {columns} FROM {files} EXCEPT SELECT {columns} FROM {table}))"""
    ).fetchone()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--sql", type=Path, default=Path(__file__).parent / "sql" / "exposures.sql")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--violations-out", type=Path,
                        help="find the message violations too (benches/sql/violations_tuned.sql) and write them here")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    times = []
    for i in range(args.runs):
        con = duckdb.connect()
        start = time.perf_counter()
        con.execute(f"CREATE TABLE answer AS SELECT {COLUMNS} FROM ({query(args.dataset, args.sql)})")
        if args.violations_out:
            con.execute(f"CREATE TABLE violations AS {query(args.dataset, VIOLATIONS)}")
        times.append(time.perf_counter() - start)
        n = con.execute("SELECT count(*) FROM answer").fetchone()[0]
        print(f"run {i + 1}: {times[-1]:.2f} s, {n} exposures", flush=True)
    if args.out:
        con.execute(f"COPY answer TO '{args.out}' (FORMAT parquet)")
    if args.violations_out:
        con.execute(f"COPY violations TO '{args.violations_out}' (FORMAT parquet)")
    result = {"system": "duckdb", "median_seconds": statistics.median(times), "runs": times}
    if args.check:
        result["matches_truth"] = differences(con, "answer", args.dataset / "truth" / "exposures",
                                              "app_id, user_id, photo_id, epoch_us(first_exposed_ts)") == 0
        if args.violations_out:
            result["violations_match_truth"] = differences(
                con, "violations", args.dataset / "truth" / "message_violations",
                "event_id, app_id, user_id, CAST(action AS VARCHAR), epoch_us(ts)") == 0
    print(json.dumps(result))
    return 0 if result.get("matches_truth", True) and result.get("violations_match_truth", True) else 1


if __name__ == "__main__":
    raise SystemExit(main())
