"""The Spark example detector (examples/detectors/spark_exact.py) through the benchmark, as a
Spark user would run it: on every preset through `blastradius score`, then through `stress
--exec` on damaged copies.

Usage: python .ci/spark_detector.py BLASTRADIUS WORKDIR

1. On each preset (a held-out seed), the example must score F1 1.0 at every level the truth
   has rows for (users, exposures, message violations), and each of those levels must be
   scored: a level left out would pass unseen. The per-app table must be filled.
2. `stress --exec` runs it on the clean log and on damaged copies; every cell must be scored
   (the rule is exact, so the clean cell is 1.0; damaged cells are whatever the damage makes).
Exits non-zero with one line per failure.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DETECTOR = ROOT / "examples" / "detectors" / "spark_exact.py"
PRESETS = {"facebook-2018": 20000, "messaging-partners": 5000, "shallow-paging": 8000}
failures = []


def check(ok: bool, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def run(*args) -> None:
    subprocess.run([str(a) for a in args], check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("binary")
    p.add_argument("work", type=Path)
    args = p.parse_args()
    binary, work = args.binary, args.work
    work.mkdir(parents=True, exist_ok=True)
    for preset, users in PRESETS.items():
        data = work / preset
        run(binary, "generate", "--users", users, "--seed", "911", "--scenario", preset,
            "--out", data, "--force")
        found = work / f"{preset}-findings"
        subprocess.run(["rm", "-rf", str(found)], check=True)
        run(sys.executable, DETECTOR, data, found)
        run(binary, "score", data, found, "--out", work / f"{preset}-scored", "--force")
        report = json.loads((work / f"{preset}-scored" / "report.json").read_text())
        row = report["detectors"][0]
        counts = json.loads((data / "manifest.json").read_text())["counts"]
        levels = {"users": counts["affected_users"], "exposures": counts["exposures"],
                  "violations": counts["message_violations"]}
        for level, truth_rows in levels.items():
            if truth_rows == 0:
                continue
            f1 = row["scores"][level]["f1"]
            check(f1 == 1.0, f"{preset}: {level} F1 {f1} ({truth_rows} in the truth)")
        apps = {a["app_id"]: a for a in report.get("apps", [])}
        check(counts["affected_apps"] == 0 or apps, f"{preset}: the per-app table is filled")
        check(row["wall_seconds"] is not None, f"{preset}: its findings.json timing is carried")

    small = work / "stress-data"
    run(binary, "generate", "--users", "5000", "--seed", "3", "--out", small, "--force")
    run(binary, "stress", small, "--out", work / "stress", "--force", "--detectors", "exact",
        "--shard-memory-limits", "none", "--drop", "0.01", "--duplicate", "none",
        "--reorder", "15m", "--skew", "none", "--no-truncate",
        "--exec", f"{sys.executable} {DETECTOR} {{dataset}} {{out}}",
        "--name", "spark-exact", "--timeout", "600")
    stress = json.loads((work / "stress" / "report.json").read_text())
    cells = [c for c in stress["cells"] if c["detector"] == "spark-exact"]
    check(len(cells) == 3, f"stress ran it on the clean log and 2 damaged copies ({len(cells)})")
    check(all(c["failure"] is None and c["user"]["f1"] is not None for c in cells),
          "every cell is scored")
    clean = [c["user"]["f1"] for c in cells if c["level"] == 0]
    check(clean == [1.0], f"the clean cell scores 1.0 ({clean})")
    print(f"{len(failures)} failed" if failures else "spark example: every check passed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
