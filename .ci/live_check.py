"""Live replay as an outside detector meets it.

Usage: python .ci/live_check.py BLASTRADIUS DATASET WORKDIR
1. pyarrow reads the Arrow IPC stream `replay --stdout --format arrow` writes, every event.
2. The Python streaming detector of examples/detectors/live_exact.py follows a replay over
   TCP and finds exactly the truth, with its latency measured.
Exits non-zero with one line per failure.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.ipc as ipc

ROOT = Path(__file__).resolve().parent.parent
failures = []


def check(ok: bool, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def main(binary: str, dataset: Path, work: Path) -> int:
    work.mkdir(parents=True, exist_ok=True)
    replay = subprocess.Popen([binary, "replay", str(dataset), "--stdout", "--format", "arrow", "--rate", "1e9",
                               "--wait", "0", "--out", str(work / "arrow"), "--force"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    table = ipc.open_stream(replay.stdout).read_all()
    replay.wait()
    report = json.loads((work / "arrow" / "report.json").read_text())
    check(table.num_rows == report["events_sent"] > 0,
          f"pyarrow reads the Arrow IPC stream: {table.num_rows} rows, {report['events_sent']} sent")
    check(str(table.schema.field("kind").type).startswith("dictionary"), "kind arrives as a dictionary")

    port = 7391
    replay = subprocess.Popen([binary, "replay", str(dataset), "--listen", f"127.0.0.1:{port}", "--rate", "50000",
                               "--out", str(work / "python"), "--force"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = replay.stderr.readline()
    check(line.startswith("listening on"), f"replay listens: {line.strip()}")
    detector = subprocess.run([sys.executable, str(ROOT / "examples" / "detectors" / "live_exact.py"),
                               f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=600)
    check(detector.returncode == 0, f"the Python detector ran: {detector.stderr.strip()}")
    replay.wait(timeout=600)
    report = json.loads((work / "python" / "report.json").read_text())
    scores = report["scores"]
    check(scores["users"]["f1"] == 1.0, f"it finds every affected user: {scores['users']}")
    check(scores["exposures"]["f1"] == 1.0, f"and every exposure: {scores['exposures']}")
    check(report["latency_ms"]["all"]["count"] > 0, f"latency measured: {report['latency_ms']['all']}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
