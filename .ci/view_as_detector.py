"""The View-As outside example (examples/detectors/view_as_duckdb.py, written from
data/README.md §13 alone) through the findings contract: `score` gives token and user F1 1.0
and every tier right on the clean log and on a copy with duplicates and late rows; on a copy
with drops it scores exactly what `exact` scores; and `stress --exec` runs it in every cell.

    python .ci/view_as_detector.py BLASTRADIUS DATASET WORKDIR
"""

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
EXAMPLE = HERE / "examples/detectors/view_as_duckdb.py"


def run(*args):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(map(str, args))} failed:\n{r.stdout}\n{r.stderr}")
    return r


def scores(report_dir: Path, detector: str) -> dict:
    report = json.loads((report_dir / "report.json").read_text())
    row = next(d for d in report["detectors"] if d["detector"] == detector)
    return row["scores"]


def main() -> int:
    exe, dataset, work = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    work.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    copies = {
        "clean": dataset,
        "late-and-twice": work / "late-and-twice",
        "dropped": work / "dropped",
    }
    run(exe, "perturb", dataset, "--out", copies["late-and-twice"], "--duplicate", "0.05", "--reorder", "15m")
    run(exe, "perturb", dataset, "--out", copies["dropped"], "--drop", "0.03")
    for name, data in copies.items():
        out = work / f"{name}-findings"
        run(py, EXAMPLE, data, out)
        scored = work / f"{name}-scored"
        run(exe, "score", data, out, "--out", scored)
        s = scores(scored, "view-as-duckdb")
        tokens, users, tiers = s["stolen_tokens"], s["view_as_users"], s["view_as_tiers"]
        if name == "dropped":
            analyzed = work / "dropped-exact"
            run(exe, "analyze", data, "--detector", "exact", "--out", analyzed)
            want = scores(analyzed, "exact")
            for level in ["stolen_tokens", "view_as_users"]:
                if s[level] != want[level]:
                    sys.exit(f"dropped: {level}: the example scores {s[level]}, exact {want[level]}")
            print(f"dropped: the example scores as exact does: token F1 {tokens['f1']:.4f}, user F1 {users['f1']:.4f}")
            continue
        if not (tokens["f1"] == 1.0 and users["f1"] == 1.0 and tiers["agreed"] == tiers["compared"] > 0):
            sys.exit(f"{name}: token {tokens}, user {users}, tiers {tiers}: want F1 1.0 and every tier right")
        print(f"{name}: token F1 1.0 ({tokens['true_positives']} tokens), user F1 1.0, tiers right {tiers['agreed']} of {tiers['compared']}")
    stress = work / "stress"
    run(
        exe, "stress", dataset, "--out", stress, "--detectors", "exact",
        "--exec", f"{py} {EXAMPLE} {{dataset}} {{out}}", "--name", "view-as-duckdb",
        "--drop", "0.01", "--duplicate", "0.05", "--reorder", "15m", "--skew", "none",
        "--shard-memory-limits", "none", "--no-truncate",
    )
    report = json.loads((stress / "report.json").read_text())
    cells = [c for c in report["cells"] if c["detector"] == "view-as-duckdb"]
    failed = [c for c in cells if c.get("failure")]
    if not cells or failed or any(c.get("token") is None for c in cells):
        sys.exit(f"stress --exec: {len(cells)} cells, failed {failed}")
    print(f"stress --exec: {len(cells)} cells scored, clean token F1 {cells[0]['token']['f1']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
