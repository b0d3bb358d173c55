"""Macro benchmark: the same detection by blastradius `exact`, DuckDB SQL, Polars lazy,
DataFusion SQL (the `sql` detector) and Spark SQL (the Spark example detector, local mode),
on one dataset, runs alternated, each answer checked against `exact`'s.

Run through benches/compare.sh, which sets up what this needs. Writes compare.json and
compare.md under benches/runs/<date>-<machine>/ and prints the table.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "blastradius"


def machine() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
    return {"cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1), "cpu": cpu,
            "os": platform.platform(), "python": platform.python_version()}


def descendants(pid: int) -> list:
    """The processes under `pid` (children, their children...), from /proc."""
    children = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def sample_peaks(pid: int, peaks: dict, done) -> None:
    """Until `done` is set, records each process's peak resident memory (VmHWM, which the
    kernel keeps as a high-water mark) under `pid`, by process: {pid: (name, bytes)}. A
    JVM started by a Python driver is a process of its own, so Spark's driver and its JVM
    are told apart."""
    while not done.is_set():
        for p in descendants(pid):
            try:
                status = Path(f"/proc/{p}/status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if "VmHWM" in fields:
                hwm = int(fields["VmHWM"].split()[0]) * 1024
                name = fields["Name"].strip()
                peaks[p] = (name, max(hwm, peaks.get(p, (name, 0))[1]))
        done.wait(0.1)


def timed(cmd: list) -> tuple:
    """Runs cmd; returns (wall seconds, peak RSS bytes of the process, the peak of each
    process it started by name: {name: bytes})."""
    import tempfile
    import threading
    with tempfile.TemporaryFile() as errfile:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errfile)
        peaks, done = {}, threading.Event()
        sampler = threading.Thread(target=sample_peaks, args=(proc.pid, peaks, done))
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        errfile.seek(0)
        err = errfile.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[0]} failed: {err}")
    by_name = {}
    for name, hwm in peaks.values():
        by_name[name] = max(hwm, by_name.get(name, 0))
    return wall, usage.ru_maxrss * 1024, by_name


def answer(exposures: Path, violations: Path) -> tuple:
    """A system's two answers as sets of rows: (app, user, photo, first time) and the
    violating calls' (event, app, user, action, time)."""
    found = duckdb.sql(f"SELECT app_id, user_id, photo_id, epoch_us(first_exposed_ts) "
                       f"FROM read_parquet('{exposures}')").fetchall()
    bad = duckdb.sql(f"SELECT event_id, app_id, user_id, CAST(action AS VARCHAR), epoch_us(ts) "
                     f"FROM read_parquet('{violations}')").fetchall()
    return set(found), set(bad)


def default_dataset(users: int) -> tuple:
    """The default dataset of `users` users (generated when missing): its folder and manifest."""
    dataset = ROOT / "data" / "generated" / f"facebook-2018-{users}u-seed2018"
    manifest = dataset / "manifest.json"
    # Schema version 2 (signed ids) is what every engine here reads as bigint.
    if not manifest.exists() or json.loads(manifest.read_text())["schema_version"] < 2:
        subprocess.run([str(BIN), "generate", "--users", str(users), "--out", str(dataset),
                        "--force"], check=True)
    return dataset, json.loads((dataset / "manifest.json").read_text())


def keep(run: str, result: dict, md: list) -> None:
    """Keeps a run as benches/runs/<date>-<machine>/<run>/<kind>.json and <kind>.md (run is
    <kind>-<users>) and prints the table."""
    stem = run.split("-")[0]
    m = result["machine"]
    out = (ROOT / "benches" / "runs" / f"{datetime.date.today().isoformat()}-{m['cores']}c-{round(m['memory_gib'])}g"
           / run)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{stem}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"\nkept in {out.relative_to(ROOT)}")


def summary(runs: list, events: int) -> dict:
    """A system's alternated runs in short: median, min and max wall time, events per second
    at the median, and the median peak memory."""
    walls = [r["wall_seconds"] for r in runs]
    med = statistics.median(walls)
    names = sorted({n for r in runs for n in r.get("peak_by_process", {})})
    by_process = {n: statistics.median(r["peak_by_process"].get(n, 0) for r in runs) for n in names}
    return {"median_seconds": med, "min_seconds": min(walls), "max_seconds": max(walls),
            "events_per_second": events / med,
            "peak_memory_bytes": statistics.median(r["peak_memory_bytes"] for r in runs),
            "peak_by_process": by_process}


def timing_cells(x: dict) -> str:
    """The wall time (median, min–max), events/s and peak memory cells of a table row. A
    system of several processes (Spark's Python driver and its JVM) shows each one's peak."""
    # Helpers under 16 MiB (the shell that starts Spark's JVM, rm) are left out.
    procs = {k: v for k, v in x.get("peak_by_process", {}).items() if v >= 16 << 20}
    memory = f"{x['peak_memory_bytes'] / 2**20:.0f} MiB"
    if len(procs) > 1:
        memory = " + ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in sorted(procs.items()))
    return (f"{x['median_seconds']:.2f} ({x['min_seconds']:.2f}–{x['max_seconds']:.2f}) | "
            f"{x['events_per_second'] / 1e6:.2f}M | {memory}")


def systems_for(dataset: Path, work: Path, straightforward: bool) -> dict:
    """Each system: its command and where its two answers land (exposures, message
    violations). Every system finds both, as `exact` and the `sql` detector do. Ours first."""
    py = sys.executable
    b = ROOT / "benches"
    systems = {
        "blastradius exact": ([str(BIN), "analyze", str(dataset), "--detector", "exact", "--no-score",
                               "--force", "--out", str(work / "ours")],
                              work / "ours" / "exact" / "exposures.parquet",
                              work / "ours" / "exact" / "message_violations.parquet"),
        "DuckDB, tuned SQL": ([py, str(b / "duckdb_exposures.py"), str(dataset), "--sql",
                               str(b / "sql" / "exposures_tuned.sql"), "--out", str(work / "duckdb-tuned.parquet"),
                               "--violations-out", str(work / "duckdb-tuned-violations.parquet")],
                              work / "duckdb-tuned.parquet", work / "duckdb-tuned-violations.parquet"),
        "Polars, tuned lazy": ([py, str(b / "polars_tuned.py"), str(dataset), str(work / "polars-tuned.parquet"),
                                "--violations-out", str(work / "polars-tuned-violations.parquet")],
                               work / "polars-tuned.parquet", work / "polars-tuned-violations.parquet"),
        "DataFusion, tuned SQL (the sql detector)": (
            [str(BIN), "analyze", str(dataset), "--detector", "sql", "--no-score", "--force",
             "--out", str(work / "datafusion")],
            work / "datafusion" / "sql" / "exposures.parquet",
            work / "datafusion" / "sql" / "message_violations.parquet"),
        # The example writes into an empty folder only: each run starts from none.
        "Spark, tuned SQL (examples/detectors/spark_exact.py, local[2])": (
            ["sh", "-c", f'rm -rf "{work / "spark"}" && exec "{py}" "{ROOT / "examples" / "detectors" / "spark_exact.py"}" '
                         f'"{dataset}" "{work / "spark"}"'],
            work / "spark" / "exposures" / "*.parquet",
            work / "spark" / "message_violations" / "*.parquet"),
    }
    if straightforward:
        systems.update({
            "DuckDB, straightforward SQL": ([py, str(b / "duckdb_exposures.py"), str(dataset), "--out",
                                             str(work / "duckdb.parquet"),
                                             "--violations-out", str(work / "duckdb-violations.parquet")],
                                            work / "duckdb.parquet", work / "duckdb-violations.parquet"),
            "Polars, straightforward lazy": ([py, str(b / "polars_exposures.py"), str(dataset),
                                              str(work / "polars.parquet"), str(work / "polars-violations.parquet")],
                                             work / "polars.parquet", work / "polars-violations.parquet"),
            "DataFusion, straightforward SQL (Python)": ([py, str(b / "datafusion_exposures.py"), str(dataset),
                                                         str(work / "datafusion.parquet"),
                                                         str(work / "datafusion-violations.parquet")],
                                                        work / "datafusion.parquet",
                                                        work / "datafusion-violations.parquet"),
        })
    return systems


def main() -> int:
    p = argparse.ArgumentParser(description="blastradius macro benchmark")
    p.add_argument("--users", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-straightforward", action="store_true",
                   help="leave out the straightforward formulations (they need 18 GB at 1M users)")
    args = p.parse_args()
    dataset, manifest = default_dataset(args.users)
    events = manifest["counts"]["events"]
    codec = manifest.get("compression", "zstd")
    work = ROOT / "target" / "compare"
    work.mkdir(parents=True, exist_ok=True)
    systems = systems_for(dataset, work, not args.no_straightforward)
    runs = {name: [] for name in systems}
    names = list(systems)
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            wall, rss, by_process = timed(systems[name][0])
            runs[name].append({"wall_seconds": wall, "peak_memory_bytes": rss,
                               "peak_by_process": by_process})
            print(f"round {r + 1} {name}: {wall:.2f} s, {rss / 2**20:.0f} MiB "
                  f"({', '.join(f'{k} {v / 2**20:.0f}' for k, v in by_process.items())})", flush=True)
    reference = answer(*systems["blastradius exact"][1:])
    truth = answer(dataset / "truth" / "exposures" / "*.parquet", dataset / "truth" / "message_violations" / "*.parquet")
    ours = statistics.median(x["wall_seconds"] for x in runs["blastradius exact"])
    rows = []
    for name in names:
        stats = summary(runs[name], events)
        got = answer(*systems[name][1:])
        same = got == reference
        rows.append({
            "system": name, **stats,
            "ratio_to_ours": stats["median_seconds"] / ours,
            "answer": ("same as exact" if same else "WRONG (differs from exact)")
                      + (" and the truth" if got == truth else " but NOT the truth"),
            "runs": runs[name],
        })
    m = machine()
    command = f"benches/compare.sh --users {args.users} --rounds {args.rounds}" + (
        " --no-straightforward" if args.no_straightforward else "")
    result = {"command": command, "machine": m, "dataset": str(dataset.relative_to(ROOT)), "events": events,
              "compression": codec, "rounds": args.rounds, "systems": rows}
    exposed, violating = len(reference[0]), len(reference[1])
    md = [f"# Detection by the SPEC §4 rules, {args.users:,} users ({events:,} events)", "",
          f"`{command}` on {m['cores']} cores, {m['memory_gib']} GiB, {m['cpu']}; files compressed with {codec}. "
          f"Whole-process wall time, median (min–max) of {args.rounds} alternated runs; "
          f"every system finds both the photo exposures ({exposed:,}) and the message violations "
          f"({violating:,}) in each run, and both answers are checked against `exact`'s and the truth. "
          "`exact` runs as `analyze --detector exact --no-score` (detect and write the findings, no scoring). "
          "Tuned: only successful calls inside the bug window, only their callers' photos, no "
          "per-call ranking (benches/sql/exposures_tuned.sql, benches/polars_tuned.py, "
          "analyzer/sql/exposures.sql, examples/detectors/spark_exact.py). Spark runs in local "
          "mode (driver and executor in one JVM, 2 cores, 2 GiB heap), started by its Python "
          "driver: its memory cell gives each process's peak, from the kernel's high-water mark "
          "sampled every 0.1 s. Straightforward: every successful call of the period "
          "joined with every photo of its user and ranked by a window function. The message rule "
          "has one formulation per engine, in both rows (benches/sql/violations_tuned.sql, "
          "polars_tuned.violations, analyzer/sql/violations.sql).", "",
          "| system | wall s | events/s | peak memory | ratio to ours | answer |", "|---|---|---:|---:|---:|---|"]
    for x in rows:
        md.append(f"| {x['system']} | {timing_cells(x)} | {x['ratio_to_ours']:.1f}× | {x['answer']} |")
    keep(f"compare-{args.users}", result, md)
    return 0 if all(x["answer"] == "same as exact and the truth" for x in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
