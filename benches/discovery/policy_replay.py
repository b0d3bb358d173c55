"""A first measurement for issue 26 (discovery), not a contract: the policy-replay baseline.

The platform knows its own policy, not the bug: a photo call may return only the caller's
timeline photos (data/README §4 without the bug). This replays every user's photos in log
order, never reading the deploy events (`bug_introduced`, `bug_fixed`), and flags each
successful `photo_api_call` that returned more items than the timeline could fill: an
alarm at the call's `ts`, suspecting its user and app. With `--strict`, a call is flagged
only when it returned exactly what the bug would have (timeline, marketplace, story and
draft photos), which spares some calls a lost event made look wrong.

It prints how soon the first alarm came after the bug's deploy (the manifest's
`bug_window`; alarms before it are false ones), and false alarms per day: on a control
world (`generate --no-incident`) every alarm over the whole period; elsewhere the alarms
outside the window, over the days outside it.

Usage: python benches/discovery/policy_replay.py DATASET [--strict]
"""

import datetime
import json
import sys

import pyarrow.compute as pc
import pyarrow.dataset as ds

VISIBLE_IN_BUG = ("timeline", "marketplace", "story", "draft")


def utc(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1e6


def main(root: str, strict: bool) -> dict:
    t = ds.dataset(f"{root}/events", format="parquet").to_table(
        columns=["event_id", "ts", "kind", "user_id", "app_id", "photo_id", "surface", "status",
                 "page", "page_size", "items_returned"])
    t = t.sort_by([("ts", "ascending"), ("event_id", "ascending")])
    col = {c: t.column(c).to_pylist() for c in t.column_names}
    col["ts"] = pc.cast(t.column("ts"), "int64").to_pylist()
    albums = {}  # user -> [[photo_id, surface, deleted], ...]
    alarms = []  # (ts, user, app)
    previous = None
    for i in range(t.num_rows):
        kind, key = col["kind"][i], (col["ts"][i], col["event_id"][i])
        if key == previous:  # a duplicate sits next to its original in log order
            continue
        previous = key
        user = col["user_id"][i]
        if kind == "photo_uploaded":
            albums.setdefault(user, []).append([col["photo_id"][i], col["surface"][i], False])
        elif kind in ("photo_published", "photo_deleted"):
            for p in albums.get(user, []):
                if p[0] == col["photo_id"][i]:
                    if kind == "photo_published":
                        p[1] = "timeline"
                    else:
                        p[2] = True
        elif kind == "photo_api_call" and col["status"][i] == 200:
            start, size = col["page"][i] * col["page_size"][i], col["page_size"][i]
            album = albums.get(user, [])
            fill = lambda surfaces: max(0, min(size, sum(
                1 for p in album if not p[2] and p[1] in surfaces) - start))
            returned = col["items_returned"][i]
            if returned > fill(("timeline",)) and (not strict or returned == fill(VISIBLE_IN_BUG)):
                alarms.append((col["ts"][i], user, col["app_id"][i]))
    m = json.load(open(f"{root}/manifest.json"))
    start, end = utc(m["bug_window"]["start"]), utc(m["bug_window"]["end"])
    days = (utc(m["period"]["end"]) - utc(m["period"]["start"])) / 86400e6
    control = m.get("control", False)
    if control:
        false, days_counted = alarms, days
    else:
        false = [a for a in alarms if not start <= a[0] < end]
        days_counted = days - (end - start) / 86400e6
    after = [a[0] for a in alarms if a[0] >= start]
    first = None if control or not after else min(after)
    return {
        "dataset": root,
        "control": control,
        "perturbation": m.get("perturbation", {}).get("faults") if m.get("perturbation") else None,
        "strict": strict,
        "alarm_calls": len(alarms),
        "users_flagged": len({a[1] for a in alarms}),
        "first_alarm_minutes_after_deploy": None if first is None else round((first - start) / 60e6, 1),
        "false_alarms_per_day": round(len(false) / days_counted, 2),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], "--strict" in sys.argv[2:])))
