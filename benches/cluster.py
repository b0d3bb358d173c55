"""The sql detector on a Ballista cluster of 1 and 2 executors, beside the same plan in one
process and `exact`, on one dataset; runs alternated, every answer checked against `exact`'s.

Run through benches/cluster.sh, which builds what this needs. Starts the cluster itself
(`blastradius cluster scheduler|executor` on loopback, each executor with its own work
folder), measures the client's whole-process wall time and peak memory, and each node's peak
memory (VmHWM) after the rounds, then stops the nodes and removes their work folders. Writes
cluster.json and cluster.md under benches/runs/<date>-<machine>/cluster-<users>/ and prints
the table.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import (BIN, ROOT, answer, default_dataset, keep, machine, summary,  # noqa: E402
                     timed, timing_cells)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


class Cluster:
    """A scheduler and `executors` executors, `cores` task slots each, on loopback."""

    def __init__(self, executors: int, cores: int, work: Path):
        self.port = free_port()
        self.procs = []
        self.executors, self.cores, self.work = executors, cores, work

    def start(self) -> None:
        executors, cores, work = self.executors, self.cores, self.work
        logs = work / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.procs.append(("scheduler", subprocess.Popen(
            [str(BIN), "cluster", "scheduler", "--bind", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=open(logs / "scheduler.log", "w"))))
        wait_port(self.port)
        for i in range(executors):
            wd = work / f"executor-{i}"
            wd.mkdir(parents=True, exist_ok=True)
            flight = free_port()
            self.procs.append((f"executor-{i}", subprocess.Popen(
                [str(BIN), "cluster", "executor", "--scheduler", f"127.0.0.1:{self.port}",
                 "--port", str(flight), "--grpc-port", str(free_port()), "--cores", str(cores),
                 "--work-dir", str(wd)],
                stdout=subprocess.DEVNULL, stderr=open(logs / f"executor-{i}.log", "w"))))
            wait_port(flight)
        time.sleep(1)  # let the executors register

    def engine(self) -> str:
        return f"ballista://127.0.0.1:{self.port}"

    def stop(self) -> dict:
        peaks = {name: peak_rss(p.pid) for name, p in self.procs}
        for _, p in self.procs:
            p.terminate()
        for _, p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        # The executors' shuffle files (GBs at 10M users) go with them; the logs stay.
        for i in range(self.executors):
            shutil.rmtree(self.work / f"executor-{i}", ignore_errors=True)
        return peaks


def main() -> int:
    p = argparse.ArgumentParser(description="the sql detector on a Ballista cluster")
    p.add_argument("--users", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--executors", default="1,2", help="cluster sizes, e.g. 1,2")
    args = p.parse_args()
    dataset, manifest = default_dataset(args.users)
    events = manifest["counts"]["events"]
    cores = len(os.sched_getaffinity(0))
    work = ROOT / "target" / "cluster-bench"
    work.mkdir(parents=True, exist_ok=True)

    def analyze(name: str, detector: str, extra: list) -> tuple:
        out = work / name
        cmd = [str(BIN), "analyze", str(dataset), "--detector", detector, "--no-score", "--force",
               "--out", str(out)] + extra
        return cmd, out / detector / "exposures.parquet", out / detector / "message_violations.parquet"

    local = {
        "exact (one process)": analyze("exact", "exact", []),
        "sql, DataFusion in one process": analyze("sql-local", "sql", []),
    }
    rows = []
    reference = None
    for n in [int(x) for x in args.executors.split(",")]:
        # Executors share this machine's cores: n executors of cores/n task slots each.
        slots = max(1, cores // n)
        cluster = Cluster(n, slots, Path(tempfile.mkdtemp(dir=work, prefix=f"nodes-{n}-")))
        try:
            cluster.start()
            name = f"sql on Ballista, {n} executor{'s' if n > 1 else ''} × {slots} task slot{'s' if slots > 1 else ''}"
            systems = dict(local)
            systems[name] = analyze(f"ballista-{n}", "sql", ["--engine", cluster.engine()])
            runs = {s: [] for s in systems}
            names = list(systems)
            for r in range(args.rounds):
                for s in (names if r % 2 == 0 else names[::-1]):
                    wall, rss = timed(systems[s][0])
                    runs[s].append({"wall_seconds": wall, "peak_memory_bytes": rss})
                    print(f"{n} executor(s), round {r + 1}, {s}: {wall:.2f} s, {rss / 2**20:.0f} MiB", flush=True)
        finally:
            peaks = cluster.stop()
        if reference is None:
            reference = answer(*systems["exact (one process)"][1:])
        for s in names:
            if s in local and any(x["system"] == s for x in rows):
                rows[[x["system"] for x in rows].index(s)]["runs"].extend(runs[s])
                continue
            rows.append({"system": s, "runs": runs[s],
                         "nodes_peak_memory_bytes": peaks if s not in local else None,
                         "answer": "same as exact" if answer(*systems[s][1:]) == reference
                         else "WRONG (differs from exact)"})
    ours = None
    for x in rows:
        x.update(summary(x["runs"], events))
        if x["system"] == "exact (one process)":
            ours = x["median_seconds"]
    for x in rows:
        x["ratio_to_exact"] = x["median_seconds"] / ours
    m = machine()
    command = f"benches/cluster.sh --users {args.users} --rounds {args.rounds} --executors {args.executors}"
    result = {"command": command, "machine": m, "dataset": str(dataset.relative_to(ROOT)), "events": events,
              "rounds": args.rounds, "systems": rows}
    md = [f"# The sql detector on a Ballista cluster, {args.users:,} users ({events:,} events)", "",
          f"`{command}` on {m['cores']} cores, {m['memory_gib']} GiB, {m['cpu']}. The scheduler and "
          "the executors are separate processes of this binary (`blastradius cluster`) on loopback, "
          "all on this one machine, so n executors share its cores. Client whole-process wall time, "
          f"median (min–max) of {args.rounds} alternated runs per cluster size (the one-process rows "
          "ran beside each size, so have rounds × sizes runs); peak memory of the client, and of each "
          "node (VmHWM) after its rounds. Every answer (exposures and message violations) is "
          "checked against `exact`'s.",
          "", "| system | wall s | events/s | client peak | nodes' peak | ratio to exact | answer |",
          "|---|---|---:|---:|---|---:|---|"]
    for x in rows:
        nodes = x["nodes_peak_memory_bytes"]
        node_text = ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in nodes.items()) if nodes else "–"
        md.append(f"| {x['system']} | {timing_cells(x)} | {node_text} | "
                  f"{x['ratio_to_exact']:.1f}× | {x['answer']} |")
    keep(f"cluster-{args.users}", result, md)
    return 0 if all(x["answer"] == "same as exact" for x in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
