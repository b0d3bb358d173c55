"""Live replay as an outside detector meets it.

Usage: python .ci/live_check.py BLASTRADIUS DATASET WORKDIR [VIEW_AS_DATASET]
1. pyarrow reads the Arrow IPC stream `replay --stdout --format arrow` writes, every event.
2. The Python streaming detector of examples/detectors/live_exact.py follows a replay over
   TCP and finds exactly the truth, with its latency measured.
3. With a View-As world: pyarrow reads its stream (both logs in one schema, every access-log
   row of the files once), and the same Python detector finds every stolen token and user,
   with the truth's tiers, timed from each theft.
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
    table, report = arrow_stream(binary, dataset, work / "arrow")
    check(table.num_rows == report["events_sent"] > 0,
          f"pyarrow reads the Arrow IPC stream: {table.num_rows} rows, {report['events_sent']} sent")
    check(str(table.schema.field("kind").type).startswith("dictionary"), "kind arrives as a dictionary")

    report = follow_python(binary, dataset, work / "python", 7391, "50000")
    scores = report["scores"]
    check(scores["users"]["f1"] == 1.0, f"it finds every affected user: {scores['users']}")
    check(scores["exposures"]["f1"] == 1.0, f"and every exposure: {scores['exposures']}")
    check(report["latency_ms"]["all"]["count"] > 0, f"latency measured: {report['latency_ms']['all']}")
    return 1 if failures else 0


def arrow_stream(binary: str, dataset: Path, out: Path):
    """The Arrow IPC stream `replay --stdout --format arrow` writes, read by pyarrow; the report."""
    replay = subprocess.Popen([binary, "replay", str(dataset), "--stdout", "--format", "arrow", "--rate", "1e9",
                               "--wait", "0", "--out", str(out), "--force"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    table = ipc.open_stream(replay.stdout).read_all()
    replay.wait()
    return table, json.loads((out / "report.json").read_text())


def follow_python(binary: str, dataset: Path, out: Path, port: int, rate: str) -> dict:
    """examples/detectors/live_exact.py follows a replay of `dataset`; the replay's report."""
    replay = subprocess.Popen([binary, "replay", str(dataset), "--listen", f"127.0.0.1:{port}", "--rate", rate,
                               "--out", str(out), "--force"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = replay.stderr.readline()
    check(line.startswith("listening on"), f"replay listens: {line.strip()}")
    detector = subprocess.run([sys.executable, str(ROOT / "examples" / "detectors" / "live_exact.py"),
                               f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=900)
    check(detector.returncode == 0, f"the Python detector ran on {dataset.name}: {detector.stderr.strip()}")
    replay.wait(timeout=900)
    return json.loads((out / "report.json").read_text())


def view_as(binary: str, dataset: Path, work: Path) -> None:
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    table, report = arrow_stream(binary, dataset, work / "va-arrow")
    check(table.num_rows == report["events_sent"] > 0, f"View-As world: pyarrow reads {table.num_rows} rows of {report['events_sent']} sent")
    access = ds.dataset(dataset / "access", format="parquet").to_table(columns=["event_id", "user_id"])
    # Each user row once, the platform's own (no user; in every part) once each.
    expected = pc.sum(pc.is_valid(access["user_id"])).as_py() \
        + len(pc.unique(pc.filter(access["event_id"], pc.is_null(access["user_id"]))))
    streamed = pc.sum(pc.is_valid(table["target_id"])).as_py() \
        + pc.sum(pc.is_in(pc.cast(table["kind"], "string"),
                          value_set=__import__("pyarrow").array(["flaw_introduced", "flaw_fixed", "tokens_reset"]))).as_py()
    check(streamed == expected, f"the stream carries every access-log row once: {streamed} of {expected}")

    report = follow_python(binary, dataset, work / "va-python", 7392, "1000000")
    tokens = ds.dataset(dataset / "truth" / "stolen_tokens", format="parquet").count_rows()
    v = report["scores"]["view_as"]
    check(v["stolen_tokens"]["f1"] == 1.0 and v["stolen_tokens"]["true_positives"] == tokens,
          f"it finds every stolen token: {v['stolen_tokens']}")
    check(v["view_as_users"]["f1"] == 1.0, f"and every user the attack reached: {v['view_as_users']}")
    check(v["view_as_tiers"] == {"compared": tokens, "agreed": tokens}, f"each with the truth's tier: {v['view_as_tiers']}")
    check(report["latency_ms"]["stolen_tokens"]["count"] == tokens,
          f"each token timed from its theft: {report['latency_ms']['stolen_tokens']}")
    check(report["premature_findings"] == 0, "nothing named before its theft was sent")


if __name__ == "__main__":
    code = main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
    if len(sys.argv) > 4:
        view_as(sys.argv[1], Path(sys.argv[4]), Path(sys.argv[3]))
        code = 1 if failures else 0
    raise SystemExit(code)
