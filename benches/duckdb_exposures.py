"""The SPEC §4 photo-API rule in DuckDB (benches/sql/exposures.sql) on a dataset.

Usage: python benches/duckdb_exposures.py DATASET [--sql FILE] [--runs N] [--out FILE.parquet] [--check]
--sql picks the formulation: benches/sql/exposures.sql (the default, straightforward) or
benches/sql/exposures_tuned.sql.
Times N runs (default 1) and prints the median. --out writes the answer as Parquet;
--check compares it with the dataset's truth/exposures and exits 1 when they differ.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import duckdb

COLUMNS = "app_id, user_id, photo_id, first_exposed_ts"


def query(root: Path, sql_file: Path) -> str:
    sql = sql_file.read_text()
    return sql.replace("{events}", "'" + str(root / "events" / "*.parquet") + "'")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--sql", type=Path, default=Path(__file__).parent / "sql" / "exposures.sql")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    times = []
    for i in range(args.runs):
        con = duckdb.connect()
        start = time.perf_counter()
        con.execute(f"CREATE TABLE answer AS SELECT {COLUMNS} FROM ({query(args.dataset, args.sql)})")
        times.append(time.perf_counter() - start)
        n = con.execute("SELECT count(*) FROM answer").fetchone()[0]
        print(f"run {i + 1}: {times[-1]:.2f} s, {n} exposures", flush=True)
    if args.out:
        con.execute(f"COPY answer TO '{args.out}' (FORMAT parquet)")
    result = {"system": "duckdb", "median_seconds": statistics.median(times), "runs": times}
    if args.check:
        truth = str(args.dataset / "truth" / "exposures" / "*.parquet")
        diff = con.execute(
            f"""SELECT count(*) FROM (
                (SELECT app_id, user_id, photo_id, epoch_us(first_exposed_ts) FROM answer
                 EXCEPT SELECT app_id, user_id, photo_id, epoch_us(first_exposed_ts) FROM read_parquet('{truth}'))
                UNION ALL
                (SELECT app_id, user_id, photo_id, epoch_us(first_exposed_ts) FROM read_parquet('{truth}')
                 EXCEPT SELECT app_id, user_id, photo_id, epoch_us(first_exposed_ts) FROM answer))"""
        ).fetchone()[0]
        result["matches_truth"] = diff == 0
    print(json.dumps(result))
    return 0 if result.get("matches_truth", True) else 1


if __name__ == "__main__":
    raise SystemExit(main())
