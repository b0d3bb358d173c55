"""Times the SPEC §4 rule in DuckDB (benches/sql/exposures.sql) on a dataset, and checks
its answer against the dataset's truth/exposures.

Usage: python benches/duckdb_exposures.py DATASET [RUNS]
Prints one line per run and a final JSON line with the median wall seconds.
"""

import json
import statistics
import sys
import time
from pathlib import Path

import duckdb


def main(root: Path, runs: int) -> int:
    sql = (Path(__file__).parent / "sql" / "exposures.sql").read_text()
    query = sql.replace("{events}", "'" + str(root / "events" / "*.parquet") + "'")
    truth_glob = str(root / "truth" / "exposures" / "*.parquet")
    times = []
    answer = None
    for i in range(runs):
        con = duckdb.connect()
        start = time.perf_counter()
        answer = con.execute(f"SELECT app_id, user_id, photo_id, epoch_us(first_exposed_ts) FROM ({query})").fetchall()
        times.append(time.perf_counter() - start)
        print(f"run {i + 1}: {times[-1]:.2f} s, {len(answer)} exposures", flush=True)
    con = duckdb.connect()
    truth = con.execute(
        f"SELECT app_id, user_id, photo_id, epoch_us(first_exposed_ts) FROM read_parquet('{truth_glob}')"
    ).fetchall()
    same = sorted(answer) == sorted(truth)
    print(json.dumps({"system": "duckdb", "median_seconds": statistics.median(times),
                      "runs": times, "exposures": len(answer), "matches_truth": same}))
    return 0 if same else 1


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        print(__doc__)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) == 3 else 3))
