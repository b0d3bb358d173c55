"""The example outside detector through the whole benchmark, as a detector author would run it.

Usage: python .ci/outside_detector.py BLASTRADIUS WORKDIR

1. pyarrow reads every table of a dataset folder and groups the event log by its enum
   columns (files declare them as strings, so their dictionaries never need unifying).
2. On `shallow-paging` (held-out seed), the paging-blind DuckDB detector is scored by
   `blastradius score` beside exact's own findings: exact scores 1, the crude rule at most
   0.8 at exposure level (the preset tells them apart).
3. `blastradius stress --exec` runs it on every damaged copy and scores every cell.
Exits non-zero with one line per failure.
"""

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
DETECTOR = ROOT / "examples" / "detectors" / "paging_blind.py"
failures = []


def check(ok: bool, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def run(*args: str) -> None:
    subprocess.run([str(a) for a in args], check=True, stdout=subprocess.DEVNULL)


def main(binary: str, work: Path) -> int:
    work.mkdir(parents=True, exist_ok=True)
    data = work / "sp"
    run(binary, "generate", "--users", "20000", "--seed", "77", "--scenario", "shallow-paging",
        "--out", data, "--force")

    events = pq.read_table(data / "events")
    for column in ["kind", "surface", "scope", "action"]:
        groups = events.group_by(column).aggregate([("event_id", "count")])
        check(groups.num_rows > 1, f"pyarrow groups the whole events folder by {column} ({groups.num_rows} groups)")
    for table in ["truth/exposures", "truth/affected_users", "users"]:
        t = pq.read_table(data / table)
        check(t.num_rows > 0, f"pyarrow reads {table} ({t.num_rows} rows)")
    kinds = events.column("kind").type
    check(str(kinds) == "string", f"kind reads as {kinds}")

    findings = work / "paging-blind"
    run(sys.executable, DETECTOR, data, findings)
    run(binary, "analyze", data, "--detector", "exact", "--out", work / "analyzed", "--force")
    run(binary, "score", data, findings, work / "analyzed" / "exact", "--name", "paging-blind",
        "--name", "exact", "--out", work / "scored", "--force")
    report = json.loads((work / "scored" / "report.json").read_text())
    rows = {d["detector"]: d for d in report["detectors"]}
    crude = rows["paging-blind"]["scores"]["exposures"]["f1"]
    exact = rows["exact"]["scores"]["exposures"]["f1"]
    check(exact == 1.0, f"exact's exposure F1 is {exact}")
    check(crude <= 0.8, f"the paging-blind rule's exposure F1 is {crude:.3} (at most 0.8)")
    check(rows["paging-blind"]["wall_seconds"] is not None, "its findings.json timing is carried")

    small = work / "small"
    run(binary, "generate", "--users", "5000", "--seed", "3", "--out", small, "--force")
    run(binary, "stress", small, "--out", work / "stress", "--force", "--detectors", "exact",
        "--shard-memory-limits", "none", "--drop", "0.01", "--duplicate", "0.01", "--reorder", "15m",
        "--skew", "15m", "--exec", f"{sys.executable} {DETECTOR} {{dataset}} {{out}}",
        "--name", "paging-blind", "--timeout", "300")
    stress = json.loads((work / "stress" / "report.json").read_text())
    cells = [c for c in stress["cells"] if c["detector"] == "paging-blind"]
    check(len(cells) == 6, f"stress ran it on the clean log and 5 damaged copies ({len(cells)})")
    check(all(c["failure"] is None and c["user"]["f1"] is not None for c in cells),
          "every cell is scored")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], Path(sys.argv[2])))
