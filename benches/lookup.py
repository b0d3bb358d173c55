"""Whole-process time of `blastradius lookup` on a dataset, over users drawn at random.

Usage: python benches/lookup.py DATASET [--users N] [--seed S]
Runs the release binary once per user (a warm-up first), and keeps the median, min and max
wall time and peak memory under benches/runs/<date>-<machine>/lookup/.
"""

import argparse
import datetime
import json
import os
import random
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "blastradius"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("dataset", type=Path)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    manifest = json.loads((args.dataset / "manifest.json").read_text())
    rng = random.Random(args.seed)
    users = [rng.randrange(manifest["users"]) for _ in range(args.users)]
    subprocess.run([str(BIN), "lookup", str(args.dataset), str(users[0])], check=True,
                   stdout=subprocess.DEVNULL)
    walls, peaks = [], []
    for u in users:
        start = time.perf_counter()
        proc = subprocess.Popen([str(BIN), "lookup", str(args.dataset), str(u), "--json"],
                                stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        peaks.append(usage.ru_maxrss * 1024)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"lookup {u} failed")
    cores = os.cpu_count()
    mem = round(int(next(l for l in Path("/proc/meminfo").read_text().splitlines()
                         if l.startswith("MemTotal")).split()[1]) / 2**20)
    out = ROOT / "benches" / "runs" / f"{datetime.date.today().isoformat()}-{cores}c-{mem}g" / "lookup"
    out.mkdir(parents=True, exist_ok=True)
    result = {"dataset": str(args.dataset), "users_in_dataset": manifest["users"], "lookups": len(users),
              "median_seconds": statistics.median(walls), "min_seconds": min(walls), "max_seconds": max(walls),
              "median_peak_bytes": statistics.median(peaks), "users": users, "wall_seconds": walls}
    (out / "lookup.json").write_text(json.dumps(result, indent=2) + "\n")
    md = (f"# lookup, whole process\n\n`python benches/lookup.py {args.dataset} --users {args.users}` on {cores} cores: "
          f"{len(users)} users drawn at random from {manifest['users']:,}, one process each after a warm-up.\n\n"
          f"| median | min | max | median peak memory |\n|---:|---:|---:|---:|\n"
          f"| {result['median_seconds'] * 1000:.0f} ms | {result['min_seconds'] * 1000:.0f} ms | "
          f"{result['max_seconds'] * 1000:.0f} ms | {result['median_peak_bytes'] / 2**20:.0f} MiB |\n")
    (out / "lookup.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
