"""An outside discovery detector, written from data/README.md §4 and §14 alone (pyarrow).

It is never told which deploy was the bug. It replays each user's photos by the *intended*
rule (a photo app sees only live `timeline` photos), flags a successful `photo_api_call` that
returned more items than that rule could fill at its page, and pages once per hour that holds
a flagged call: at the hour's end (it has then read every event up to that time), with
confidence 1 - 0.5^n for n distinct flagged users in the hour, blaming the latest deploy at or
before the hour's first flag, and naming the hour's flagged users and apps.

Usage: python examples/detectors/discover_hourly.py DATASET OUT
Then:  blastradius score DATASET OUT
"""

import json
import sys
import time
from bisect import bisect_right
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

HOUR = 3_600_000_000  # microseconds


def flags(dataset: Path) -> list:
    """(ts, user, app) of every call that returned more than the intended rule allows."""
    t = ds.dataset(dataset / "events", format="parquet").to_table(
        columns=["event_id", "ts", "kind", "user_id", "app_id", "photo_id", "surface",
                 "status", "page", "page_size", "items_returned"])
    t = t.set_column(1, "ts", pc.cast(t.column("ts"), pa.int64()))
    t = t.sort_by([("ts", "ascending"), ("event_id", "ascending")])
    col = {c: t.column(c).to_pylist() for c in t.column_names}
    visible, photos, out, previous = {}, {}, [], None
    for i in range(t.num_rows):
        key = (col["ts"][i], col["event_id"][i])
        if key == previous:  # a duplicated event sits next to its original
            continue
        previous = key
        kind, user, photo = col["kind"][i], col["user_id"][i], col["photo_id"][i]
        if kind == "photo_uploaded":
            on_timeline = col["surface"][i] == "timeline"
            photos[photo] = [on_timeline, False]
            visible[user] = visible.get(user, 0) + on_timeline
        elif kind == "photo_published":
            p = photos.setdefault(photo, [False, False])
            if not p[0] and not p[1]:
                p[0] = True
                visible[user] = visible.get(user, 0) + 1
        elif kind == "photo_deleted":
            p = photos.get(photo)
            if p and not p[1]:
                p[1] = True
                visible[user] = visible.get(user, 0) - p[0]
        elif kind == "photo_api_call" and col["status"][i] == 200:
            size = col["page_size"][i]
            allowed = max(0, min(size, visible.get(user, 0) - col["page"][i] * size))
            if col["items_returned"][i] > allowed:
                out.append((col["ts"][i], user, col["app_id"][i]))
    return out


def main(dataset: Path, out: Path) -> None:
    started = time.monotonic()
    found = flags(dataset)
    deploys = pq.read_table(dataset / "deploys.parquet").sort_by("ts")
    deploy_ts = pc.cast(deploys.column("ts"), pa.int64()).to_pylist()
    deploy_id = deploys.column("deploy_id").to_pylist()
    hours = {}
    for ts, user, app in found:
        hours.setdefault(ts // HOUR, []).append((ts, user, app))
    alarms, users, apps = [], [], []
    for k, (hour, rows) in enumerate(sorted(hours.items()), start=1):
        n = len({u for _, u, _ in rows})
        first = rows[0][0]
        at = bisect_right(deploy_ts, first)
        alarms.append((k, (hour + 1) * HOUR, 1 - 0.5 ** n, deploy_id[at - 1] if at else None))
        users += [(k, u) for u in sorted({u for _, u, _ in rows})]
        apps += [(k, a) for a in sorted({a for _, _, a in rows})]
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({
        "alarm_id": pa.array([a[0] for a in alarms], pa.int64()),
        "fired_ts": pa.array([a[1] for a in alarms], pa.timestamp("us", tz="UTC")),
        "confidence": pa.array([a[2] for a in alarms], pa.float64()),
        "deploy_id": pa.array([a[3] for a in alarms], pa.int64()),
    }), out / "alarms.parquet")
    pq.write_table(pa.table({
        "alarm_id": pa.array([u[0] for u in users], pa.int64()),
        "user_id": pa.array([u[1] for u in users], pa.int64()),
    }), out / "alarm_users.parquet")
    pq.write_table(pa.table({
        "alarm_id": pa.array([a[0] for a in apps], pa.int64()),
        "app_id": pa.array([a[1] for a in apps], pa.int64()),
    }), out / "alarm_apps.parquet")
    (out / "findings.json").write_text(json.dumps({
        "detector": "discover-hourly (Python)",
        "wall_seconds": time.monotonic() - started,
    }) + "\n")
    print(f"{len(alarms)} alarms from {len(found)} flagged calls -> {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
