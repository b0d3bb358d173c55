"""CI: discovery (issue 26), every printed number recomputed from the raw files.

On a 100,000-user discovery world (the bug's deploy unmarked), its control world and a copy
with 1% of events dropped:
- `blastradius discover` runs the built-in baselines; the outside example
  (examples/detectors/discover_hourly.py, written from data/README §14) writes alarms that
  `blastradius score` scores;
- every number of each discovery.json (time to detect, blame, false alarms and their rate per
  day, alarms after the deploy at every threshold; the 24 h and 72 h estimates) is recomputed
  here from the alarms folders, deploys.parquet, the manifest and truth/ alone;
- the policy replay pages within 5 minutes of the deploy on the clean log, blames it and
  names only affected users; neither it nor the example pages on the control world;
- `stress --exec` runs the example on a 20,000-user world's damaged copies, and each copy's
  discovery cell is recomputed from the alarms it wrote there.

With a third argument, a View-As world (made by CI before): its report (the View-As
baseline `token-rate` among the others) recomputed the same way, timed from the first theft.

Usage: python .ci/discovery_check.py BLASTRADIUS OUT [VIEW_AS_DATASET]
"""

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

HOUR = 3_600_000_000
DAY = 24 * HOUR
ROOT = Path(__file__).resolve().parent.parent


def run(*args) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, args))} failed:\n{done.stderr}")
    return done.stdout


def micros(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) * 1_000_000


def ints(table, name):
    return pc.cast(table.column(name), pa.int64()).to_pylist()


def load_alarms(folder: Path) -> list:
    a = pq.read_table(folder / "alarms.parquet").sort_by("alarm_id")  # ties: smallest id first
    deploys = (a.column("deploy_id").to_pylist() if "deploy_id" in a.column_names
               else [None] * a.num_rows)
    alarms = {i: {"ts": t, "c": c, "deploy": d, "users": set(), "apps": set()}
              for i, t, c, d in zip(ints(a, "alarm_id"), ints(a, "fired_ts"),
                                    a.column("confidence").to_pylist(), deploys)}
    for name, key, col in (("alarm_users", "users", "user_id"), ("alarm_apps", "apps", "app_id")):
        p = folder / f"{name}.parquet"
        if p.exists():
            t = pq.read_table(p)
            for i, v in zip(ints(t, "alarm_id"), ints(t, col)):
                alarms[i][key].add(v)
    return list(alarms.values())


def view_as_truth_of(dataset: Path) -> dict:
    """The View-As attack's world: timed from the first theft, no deploy to blame."""
    m = json.loads((dataset / "manifest.json").read_text())
    t = ds.dataset(dataset / "truth" / "stolen_tokens", format="parquet").to_table()
    first = {}
    for u, ts in zip(ints(t, "user_id"), ints(t, "stolen_ts")):
        first[u] = min(first.get(u, ts), ts)
    v = ds.dataset(dataset / "truth" / "view_as_users", format="parquet").to_table()
    onset = min(first.values()) if first else None
    return {"start": micros(m["period"]["start"]), "end": micros(m["period"]["end"]),
            "bug": (None, onset) if onset is not None else None,
            "users": set(ints(v, "user_id")), "apps": set(), "first": first}


def truth_of(dataset: Path) -> dict:
    m = json.loads((dataset / "manifest.json").read_text())
    bug = pq.read_table(dataset / "truth" / "bug_deploys.parquet")
    intro = [(d, t) for d, t, c in zip(ints(bug, "deploy_id"), ints(bug, "ts"),
                                       bug.column("change").to_pylist()) if c == "introduced"]
    users, apps, first = set(), set(), {}
    exp_dir = dataset / "truth" / "exposures"
    if any(exp_dir.iterdir()):
        e = ds.dataset(exp_dir, format="parquet").to_table()
        for a, u, t in zip(ints(e, "app_id"), ints(e, "user_id"), ints(e, "first_exposed_ts")):
            apps.add(a)
            first[u] = min(first.get(u, t), t)
    au = ds.dataset(dataset / "truth" / "affected_users", format="parquet").to_table()
    users = set(ints(au, "user_id"))
    aa = dataset / "truth" / "affected_apps.parquet"
    if aa.exists():
        apps |= set(ints(pq.read_table(aa), "app_id"))
    return {"start": micros(m["period"]["start"]), "end": micros(m["period"]["end"]),
            "bug": intro[0] if intro else None, "users": users, "apps": apps, "first": first}


def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def check_score(name: str, alarms: list, w: dict, s: dict) -> None:
    """Every number of one detector's score, recomputed."""
    def same(what, got, want):
        ok = close(got, want) if isinstance(want, float) or isinstance(got, float) else got == want
        if not ok:
            sys.exit(f"{name}: {what} is {got}, recomputed {want}")
    quiet_until = w["bug"][1] if w["bug"] else float("inf")
    days = ((w["bug"][1] if w["bug"] else w["end"]) - w["start"]) / DAY
    same("alarms", s["alarms"], len(alarms))
    for row in s["curve"]:
        over = [a for a in alarms if a["c"] >= row["threshold"]]
        false = [a for a in over if a["ts"] <= quiet_until]
        after = [a for a in over if w["bug"] and a["ts"] > w["bug"][1]]
        first = min(after, key=lambda a: a["ts"]) if after else None
        th = row["threshold"]
        same(f"false alarms at {th}", row["false_alarms"], len(false))
        same(f"false alarms per day at {th}", row["false_alarms_per_day"],
             len(false) / days if days > 0 else None)
        same(f"alarms after at {th}", row["alarms_after"], len(after))
        same(f"time to detect at {th}", row["time_to_detect_seconds"],
             (first["ts"] - w["bug"][1]) / 1e6 if first else None)
        culprit = w["bug"][0] if w["bug"] else None
        same(f"blamed at {th}", row["attributed"],
             first["deploy"] == culprit if first and culprit is not None else None)
    if not w["bug"]:
        same("estimates", s["estimates"], [])
        return
    for e in s["estimates"]:
        until = w["bug"][1] + e["hours"] * HOUR
        named = [a for a in alarms if w["bug"][1] < a["ts"] <= until]
        users = set().union(*(a["users"] for a in named)) if named else set()
        apps = set().union(*(a["apps"] for a in named)) if named else set()
        exposed = {u for u, t in w["first"].items() if t <= until}
        ratio = lambda x, y: x / y if y else None
        h = e["hours"]
        same(f"{h} h users named", e["users_named"], len(users))
        same(f"{h} h user precision", e["user_precision"], ratio(len(users & w["users"]), len(users)))
        same(f"{h} h user recall", e["user_recall"], ratio(len(users & w["users"]), len(w["users"])))
        same(f"{h} h exposed by then", e["users_exposed_by_then"], len(exposed))
        same(f"{h} h recall of exposed", e["user_recall_of_exposed"], ratio(len(users & exposed), len(exposed)))
        same(f"{h} h apps named", e["apps_named"], len(apps))
        same(f"{h} h app precision", e["app_precision"], ratio(len(apps & w["apps"]), len(apps)))
        same(f"{h} h app recall", e["app_recall"], ratio(len(apps & w["apps"]), len(w["apps"])))


def headline(alarms: list, w: dict) -> dict:
    """The few numbers a stress cell keeps (score.rs `Headline`), recomputed."""
    quiet_until = w["bug"][1] if w["bug"] else float("inf")
    days = ((w["bug"][1] if w["bug"] else w["end"]) - w["start"]) / DAY
    out = {"alarms": len(alarms)}
    for suffix, th in (("", 0.0), ("_at_half", 0.5)):
        over = [a for a in alarms if a["c"] >= th]
        after = [a for a in over if w["bug"] and a["ts"] > w["bug"][1]]
        first = min(after, key=lambda a: a["ts"]) if after else None
        key = "time_to_detect_seconds" if not suffix else "time_to_detect_at_half_seconds"
        out[key] = (first["ts"] - w["bug"][1]) / 1e6 if first else None
        out[f"false_alarms_per_day{suffix}"] = (
            len([a for a in over if a["ts"] <= quiet_until]) / days if days > 0 else None)
        if not suffix:
            out["attributed"] = (first["deploy"] == w["bug"][0]) if first and w["bug"] and w["bug"][0] is not None else None
    named = [a for a in alarms if w["bug"] and w["bug"][1] < a["ts"] <= w["bug"][1] + 24 * HOUR]
    users = set().union(*(a["users"] for a in named)) if named else set()
    exposed = {u for u, t in w["first"].items() if w["bug"] and t <= w["bug"][1] + 24 * HOUR}
    out["estimate_24h_user_precision"] = len(users & w["users"]) / len(users) if users else None
    out["estimate_24h_recall_of_exposed"] = len(users & exposed) / len(exposed) if exposed else None
    return out


def check_stress(blast: Path, out: Path) -> int:
    """`stress --exec` of the outside example: every copy's discovery cell recomputed."""
    data = out / "stress-world"
    run(blast, "generate", "--users", "20000", "--seed", "1", "--out", data, "--force")
    example = ROOT / "examples" / "detectors" / "discover_hourly.py"
    sweep = out / "stress"
    print(run(blast, "stress", data, "--out", sweep, "--force", "--keep-data", "--detectors", "exact",
              "--drop", "0.01", "--duplicate", "0.01", "--reorder", "15m", "--skew", "5m",
              "--no-truncate", "--exec", f"{sys.executable} {example} {{dataset}} {{out}}",
              "--name", "example").splitlines()[-1])
    w = truth_of(data)
    report = json.loads((sweep / "report.json").read_text())
    cells = [c for c in report["discovery"] if c["detector"] == "example"]
    assert len(cells) == 5 and all(c["origin"] == "outside" for c in cells), cells
    for c in cells:
        label = "".join(ch if ch.isalnum() or ch == "." else "_" for ch in c["label"])
        folder = sweep / "data" / "findings" / f"{c['fault']}-{label}" / "example"
        want = headline(load_alarms(folder), w)
        for k, v in want.items():
            got = c["score"][k]
            if not (close(got, v) if isinstance(v, float) or isinstance(got, float) else got == v):
                sys.exit(f"stress {c['fault']} {c['label']} example: {k} is {got}, recomputed {v}")
    return len(cells)


def check_report(dataset: Path, report_dir: Path) -> dict:
    w = truth_of(dataset)
    r = json.loads((report_dir / "discovery.json").read_text())
    assert r.get("bug_deploy_id") == (w["bug"][0] if w["bug"] else None), r
    if r.get("view_as_began") is not None:
        at = datetime.fromisoformat(r["view_as_began"].replace("Z", "+00:00"))
        began = (at - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
        assert began == view_as_truth_of(dataset)["bug"][1], (r["view_as_began"], began)
    out = {}
    for row in r["detectors"]:
        world = view_as_truth_of(dataset) if row["incident"] == "view-as" else w
        folder = Path(row["alarms_folder"])
        check_score(f"{dataset.name}/{row['detector']}", load_alarms(folder), world, row["score"])
        out[row["detector"]] = row["score"]
    return out


def replay_to(blast: Path, dataset: Path, live: Path, follower: list, *flags) -> dict:
    """Replays `dataset` (with `flags`) to `follower` (its argv, `{addr}` standing for the
    address the replay listens on); the replay's report."""
    replay = subprocess.Popen(
        [str(blast), "replay", str(dataset), "--listen", "127.0.0.1:0", "--out", str(live),
         "--force", "--wait", "60", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    addr = None
    for line in replay.stderr:
        if line.startswith("listening on "):
            addr = line.split()[2].rstrip(":")
            break
    assert addr, "replay did not listen"
    done = subprocess.run([addr if a == "{addr}" else str(a) for a in follower],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    replay.communicate(timeout=600)
    assert replay.returncode == 0, replay.returncode
    return json.loads((live / "report.json").read_text())


def check_live(blast: Path, dataset: Path, out: Path, batch: dict) -> int:
    """Replays `dataset` to the live policy replay: its pages are the batch run's, and the
    report's discovery numbers are recomputed from the alarms folder the replay wrote. Then
    to the Python example live_discover.py: its own first page is the batch one's."""
    live = out / "live"
    r = replay_to(blast, dataset, live,
                  [blast, "detect", "--follow", "{addr}", "--detector", "policy-replay", "--deploys", dataset],
                  "--rate", "2000000", "--format", "arrow")
    assert r["alarms"] == batch["alarms"], (r["alarms"], batch["alarms"])
    (d,) = r["discovery"]
    check_score("live/policy-replay", load_alarms(live / d["folder"]), truth_of(dataset), d["score"])
    first = d["score"]["curve"][0]
    assert first["time_to_detect_seconds"] >= batch["curve"][0]["time_to_detect_seconds"], first
    assert first["attributed"] == batch["curve"][0]["attributed"], first
    print(f"live: {r['alarms']} pages as in batch; first {d['wall'][0]['seconds']:.3f} s of wall "
          f"time after the deploy was due ({first['time_to_detect_seconds']:.0f} s of log time)")
    python = out / "live-python"
    example = ROOT / "examples" / "detectors" / "live_discover.py"
    r = replay_to(blast, dataset, python, [sys.executable, example, "{addr}"], "--rate", "400000")
    (d,) = r["discovery"]
    check_score("live/python", load_alarms(python / d["folder"]), truth_of(dataset), d["score"])
    assert d["claims_ahead_of_stream"] == 0, d
    claimed = d["wall"][0]["claimed_seconds"]
    assert claimed == batch["curve"][0]["time_to_detect_seconds"], (claimed, batch["curve"][0])
    assert d["score"]["curve"][0]["attributed"] is True, d
    print(f"live Python: {r['alarms']} pages; its first at {claimed:.0f} s of log time by its own "
          f"fired_ts, as the batch policy replay's; {d['wall'][0]['seconds']:.3f} s of wall time "
          "after the deploy was due")
    return 2


def main(bin_path: str, out: str, view_as: str = None) -> None:
    blast, out = Path(bin_path).resolve(), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    worlds = {"clean": out / "discovery", "control": out / "control", "drop": out / "drop"}
    run(blast, "generate", "--users", "100000", "--seed", "1", "--discovery",
        "--out", worlds["clean"], "--force")
    run(blast, "generate", "--users", "100000", "--seed", "1", "--no-incident",
        "--out", worlds["control"], "--force")
    run(blast, "perturb", worlds["clean"], "--drop", "0.01", "--out", worlds["drop"], "--force")
    example = ROOT / "examples" / "detectors" / "discover_hourly.py"
    scores = {}
    for name, dataset in worlds.items():
        built_in = out / f"report-{name}"
        print(run(blast, "discover", dataset, "--out", built_in, "--force"), end="")
        mine = out / f"example-{name}"
        run(sys.executable, example, dataset, mine)
        scored = out / f"scored-{name}"
        print(run(blast, "score", dataset, mine, "--name", "example", "--out", scored,
                  "--force"), end="")
        scores[name] = check_report(dataset, built_in) | check_report(dataset, scored)
    clean = scores["clean"]["policy-replay"]["curve"][0]
    assert clean["time_to_detect_seconds"] is not None and clean["time_to_detect_seconds"] <= 300, clean
    assert clean["attributed"] is True and clean["false_alarms"] == 0, clean
    assert scores["clean"]["policy-replay"]["estimates"][0]["user_precision"] == 1.0
    assert scores["clean"]["example"]["curve"][0]["attributed"] is True
    for detector in ("policy-replay", "example"):
        assert scores["control"][detector]["alarms"] == 0, (detector, scores["control"][detector])
    reports = 6 + check_live(blast, worlds["clean"], out, scores["clean"]["policy-replay"])
    stress_cells = check_stress(blast, out)
    if view_as:
        built_in = out / "report-view-as"
        print(run(blast, "discover", view_as, "--out", built_in, "--force"), end="")
        scored = check_report(Path(view_as), built_in)
        assert "token-rate" in scored, scored
        reports += 1
    print(f"discovery: every number of {reports} reports and {stress_cells} stress cells of the outside example recomputed from the files; the policy replay "
          f"paged {clean['time_to_detect_seconds']:.0f} s after the bug's deploy and never on "
          "the control world")


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    main(*sys.argv[1:])
