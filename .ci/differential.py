#!/usr/bin/env python3
"""Differential tests: the numbers blastradius prints against an independent recomputation.

Usage: python .ci/differential.py BLASTRADIUS_BINARY WORKDIR [-k NAME]

For each preset (facebook-2018, messaging-partners, shallow-paging) a small world is generated
and damaged five ways with `perturb` (drop, duplicate, reorder, skew, truncate). Every check is
a named case, `FAMILY/PRESET/DAMAGE/CHECK`; each prints `PASS name` or `FAIL name: details`,
all of them run, and the last line is `N passed, M failed` (exit status 1 if any failed).
`-k TEXT` runs only the cases whose name contains TEXT (and only the setup they need).

What is independent of what
---------------------------
* The binary makes the inputs (`generate`, `perturb`) and the numbers under test (`analyze`,
  `score`, `lookup`, `export`, `replay` + `detect`). Every *expected* value is recomputed in
  this file, in plain Python or DuckDB, from raw Parquet: the dataset's events/, truth/,
  apps.parquet and providers.parquet, and the findings files the tool wrote (or this script
  wrote). No expected value is read from a report, a manifest or another blastradius command.
* The truth is itself checked first (family `truth`), on the clean worlds, against two
  implementations of the data/README §4 rules that share no code with the simulator: a
  pure-Python replay of the log written here, and the tuned DuckDB SQL of benches/sql/
  (exposures_tuned.sql, violations_tuned.sql: a separate SQL formulation). The later families
  take truth/ as the reference, which is sound because `truth` passes on the clean worlds and
  `perturb/*/truth-copied` checks a damaged copy's truth/ equals its source's.
* Scores are recomputed from sets: precision tp/(tp+fp), recall tp/(tp+fn), F1
  2tp/(2tp+fp+fn), each null ("–") when its denominator is 0. Users are scored from
  affected_users when a findings folder has it, else from the users of its exposures.
* Live: a small TCP relay in this script sits between `replay --listen` and `detect --follow`
  and records every finding line `detect` sends back, so the replay's report is recomputed
  from what it really received. A whole, unsliced replay is scored here against the whole
  truth (data/README §11 restricts the truth only for a slice or a replay stopped early).
  The report's `truth_carried` (the truth whose first event the stream carried) is
  recomputed from the events files: a violation when its event is in the damaged log, an
  exposure when the call that first returned it is (truth's first_exposed_event_id, itself
  checked by `truth`; for older datasets, the clean log's call of that user, app and time),
  a user when one of its exposures is. When the scores differ, the case also says whether
  they equal a scoring against only that carried truth, to tell a scoring rule from an
  arithmetic slip.
* Names with `new-...` check what issue 20 added (lookup's photos_exposed and mailbox,
  export's violations/incidents columns and mailbox-only rows, the copies count in export's
  summary, detect --lateness).
"""

import argparse
import csv
import datetime as dt
import json
import random
import re
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ["facebook-2018", "messaging-partners", "shallow-paging"]
DAMAGES = {
    "clean": None,
    "drop": ["--drop", "0.01"],
    "duplicate": ["--duplicate", "0.01"],
    "reorder": ["--reorder", "15m"],
    "skew": ["--skew", "5m"],
    "truncate": ["--truncate", "25d"],
}
USERS = 4000
SEED = 5
PHOTO_SURFACES_IN_BUG = {"marketplace", "story", "draft"}
LEVELS = ("users", "exposures", "violations")
EPS = 1e-9


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------

class CaseFailure(Exception):
    pass


def run(cmd, timeout=300, check=True):
    """Run a command; return (stdout, stderr). A non-zero exit raises CaseFailure."""
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise CaseFailure(f"`{' '.join(map(str, cmd))}` exited {p.returncode}: "
                          f"{(p.stderr or p.stdout).strip()[-600:]}")
    return p.stdout, p.stderr


def columns(path, cols=None):
    """A Parquet file or folder as {column: python list}; timestamps as int microseconds."""
    t = pq.read_table(str(path), columns=cols)
    out = {}
    for name in t.column_names:
        c = t.column(name)
        if pa.types.is_timestamp(c.type):
            c = c.cast(pa.timestamp("us")).cast(pa.int64())
        out[name] = c.to_pylist()
    return out


def rows(path, cols):
    d = columns(path, cols)
    return list(zip(*[d[c] for c in cols])) if d[cols[0]] else []


def read_findings_table(folder: Path, name: str, cols):
    """A findings table (NAME.parquet, NAME.csv or NAME/ of parts) as rows, or None."""
    if (folder / f"{name}.parquet").exists():
        return rows(folder / f"{name}.parquet", cols)
    if (folder / f"{name}.csv").exists():
        with open(folder / f"{name}.csv") as f:
            return [tuple(int(r[c]) for c in cols) for r in csv.DictReader(f)]
    if (folder / name).is_dir():
        return rows(folder / name, cols)
    return None


def fmt_ts(us: int) -> str:
    """UTC text as lookup prints it: microseconds, without them when zero."""
    t = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=us)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def prf(found: set, truth: set) -> dict:
    tp, fp, fn = len(found & truth), len(found - truth), len(truth - found)
    return {
        "true_positives": tp, "false_positives": fp, "false_negatives": fn,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "f1": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else None,
    }


def same_number(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= EPS


def diff_scores(got: dict, want: dict, where: str) -> list:
    """Differences between a report's score block and a recomputed one."""
    problems = []
    if got is None and not (want["true_positives"] or want["false_positives"] or want["false_negatives"]):
        return []  # nothing to score at this level, and the tool left it out
    for key, w in want.items():
        g = got.get(key, "<absent>") if got else "<absent>"
        if isinstance(w, int) and not isinstance(w, bool):
            ok = g == w
        else:
            ok = g != "<absent>" and same_number(g, w)
        if not ok:
            problems.append(f"{where}.{key}: tool {g}, recomputed {w}")
    return problems


def text4(x) -> str:
    return "–" if x is None else f"{x:.4f}"


def diff_sets(name, got: set, want: set, show=4) -> list:
    if got == want:
        return []
    extra, missing = sorted(got - want), sorted(want - got)
    return [f"{name}: {len(got)} from the tool vs {len(want)} recomputed; "
            f"only in tool {len(extra)} {extra[:show]}, only recomputed {len(missing)} {missing[:show]}"]


def expect(problems: list):
    if problems:
        raise CaseFailure("; ".join(problems))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Relay:
    """A TCP relay: detect connects here, the relay connects on to the replayer, copies both
    ways and keeps every byte detect sends back (its findings)."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.server.settimeout(60)
        self.port = self.server.getsockname()[1]
        self.findings = bytearray()
        self.error = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @staticmethod
    def _pump(src, dst, keep):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                if keep is not None:
                    keep += data
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _serve(self):
        try:
            down, _ = self.server.accept()
            up = socket.create_connection(("127.0.0.1", self.upstream_port))
            pumps = [threading.Thread(target=self._pump, args=(up, down, None), daemon=True),
                     threading.Thread(target=self._pump, args=(down, up, self.findings), daemon=True)]
            for t in pumps:
                t.start()
            for t in pumps:
                t.join()
            down.close()
            up.close()
        except OSError as e:
            self.error = e
        finally:
            self.server.close()

    def lines(self):
        self.thread.join(timeout=30)
        return [line for line in self.findings.decode().splitlines() if line.strip()]


def memo(method):
    """Cache a fixture's result (or its failure) on the instance."""
    def wrapper(self, *args):
        key = (method.__name__,) + args
        if key not in self._memo:
            try:
                self._memo[key] = (True, method(self, *args))
            except Exception as e:  # noqa: BLE001 - a setup failure fails every case using it
                self._memo[key] = (False, e)
        ok, value = self._memo[key]
        if not ok:
            raise value
        return value
    return wrapper


def memo_on(world, key):
    """Memoize a zero-argument closure on a world (shared by the cases of one family)."""
    def deco(fn):
        def wrapper():
            if key not in world._memo:
                try:
                    world._memo[key] = (True, fn())
                except Exception as e:  # noqa: BLE001
                    world._memo[key] = (False, e)
            ok, v = world._memo[key]
            if not ok:
                raise v
            return v
        return wrapper
    return deco


# ---------------------------------------------------------------------------------------
# the §4 rules in plain Python, and the worlds
# ---------------------------------------------------------------------------------------

def load_events(path: Path) -> list:
    """Every events row as a dict, system rows once, in log order (ts, event_id)."""
    d = columns(path / "events")
    names = list(d)
    out, seen_system = [], set()
    for values in zip(*[d[n] for n in names]):
        e = dict(zip(names, values))
        if e["event_id"] < 1 << 24:
            if e["event_id"] in seen_system:
                continue
            seen_system.add(e["event_id"])
        out.append(e)
    out.sort(key=lambda e: (e["ts"], e["event_id"]))
    return out


def replay_rules(events: list):
    """Apply data/README §4 to a log in order. Returns (exposures, violations, inconsistencies,
    first calls) with exposures {(app, user, photo): (surface, first_ts)}, violations
    {event_id: (app, user, action, ts)}, inconsistencies the calls whose logged status or
    items_returned disagree with the rules, first calls {(app, user, photo): event_id}."""
    intro = min(((e["ts"], e["event_id"]) for e in events if e["kind"] == "bug_introduced"), default=None)
    fix = min(((e["ts"], e["event_id"]) for e in events if e["kind"] == "bug_fixed"), default=None)
    photos = defaultdict(dict)  # user -> photo -> [upload ts, surface]
    grants = defaultdict(set)  # user -> {(app, scope)}
    exposures, first_calls, violations, bad = {}, {}, {}, []
    for e in events:
        kind, user, pos = e["kind"], e["user_id"], (e["ts"], e["event_id"])
        if kind == "permission_granted":
            grants[user].add((e["app_id"], e["scope"]))
        elif kind == "permission_revoked":
            grants[user].discard((e["app_id"], e["scope"]))
        elif kind == "photo_uploaded":
            photos[user][e["photo_id"]] = [e["ts"], e["surface"]]
        elif kind == "photo_published":
            if e["photo_id"] in photos[user]:
                photos[user][e["photo_id"]][1] = "timeline"
        elif kind == "photo_deleted":
            photos[user].pop(e["photo_id"], None)
        elif kind == "photo_api_call":
            granted = (e["app_id"], "user_photos") in grants[user]
            if (e["status"] == 403) == granted:
                bad.append(f"photo call {e['event_id']}: status {e['status']}, grant held {granted}")
            if e["status"] != 200:
                continue
            active = intro is not None and intro < pos and (fix is None or pos < fix)
            visible = sorted(((up, pid, s) for pid, (up, s) in photos[user].items()
                              if s == "timeline" or (active and s in PHOTO_SURFACES_IN_BUG)),
                             reverse=True)
            lo = e["page"] * e["page_size"]
            page = visible[lo:lo + e["page_size"]]
            if len(page) != e["items_returned"]:
                bad.append(f"photo call {e['event_id']}: items_returned {e['items_returned']}, rule {len(page)}")
            for _, pid, surface in page:
                if surface != "timeline":
                    if (e["app_id"], user, pid) not in exposures:
                        exposures[(e["app_id"], user, pid)] = (surface, e["ts"])
                        first_calls[(e["app_id"], user, pid)] = e["event_id"]
        elif kind == "message_api_call":
            granted = (e["app_id"], e["action"] + "_mailbox") in grants[user]
            if e["status"] == 403 and granted:
                bad.append(f"message call {e['event_id']}: 403 with the grant held")
            if e["status"] == 200 and not granted:
                violations[e["event_id"]] = (e["app_id"], user, e["action"], e["ts"])
    return exposures, violations, bad, first_calls


class Truth:
    """A dataset's truth/ tables as Python sets and maps."""

    def __init__(self, path: Path):
        t = path / "truth"
        self.exposure_rows = {(a, u, p): (s, ts) for a, u, p, s, ts in rows(
            t / "exposures", ["app_id", "user_id", "photo_id", "surface", "first_exposed_ts"])}
        self.exposures = set(self.exposure_rows)
        names = pq.read_schema(next((t / "exposures").glob("*.parquet"))).names
        # the call that first returned each exposure (a column added on 2026-12-06)
        self.first_calls = dict(((a, u, p), e) for a, u, p, e in rows(
            t / "exposures", ["app_id", "user_id", "photo_id", "first_exposed_event_id"])) \
            if "first_exposed_event_id" in names else None
        self.violation_rows = {e: (a, u, act, ts) for e, a, u, act, ts in rows(
            t / "message_violations", ["event_id", "app_id", "user_id", "action", "ts"])}
        self.violations = set(self.violation_rows)
        self.affected_users = {r[0]: (r[1], r[2]) for r in rows(t / "affected_users", ["user_id", "apps", "photos"])}
        self.users = {u for _, u, _ in self.exposures}
        self.violation_users = {u for _, u, _, _ in self.violation_rows.values()}


class Context:
    def __init__(self, binary: Path, work: Path):
        self.binary = binary
        self.work = work
        self.worlds = {}
        self._events = {}

    def events_of(self, world, keep=2):
        """A world's events, from a small most-recently-used cache (a log as Python dicts takes
        a few hundred MB; 18 of them would not fit a small CI machine)."""
        key = (world.preset, world.damage)
        if key in self._events:
            self._events[key] = self._events.pop(key)  # most recent last
        else:
            self._events[key] = load_events(world.dataset_path())
            while len(self._events) > keep:
                self._events.pop(next(iter(self._events)))
        return self._events[key]

    def world(self, preset, damage="clean"):
        key = (preset, damage)
        if key not in self.worlds:
            self.worlds[key] = World(self, preset, damage)
        return self.worlds[key]


class World:
    """One dataset (a preset, clean or damaged) and the tool outputs made from it, built lazily."""

    def __init__(self, ctx: Context, preset: str, damage: str):
        self.ctx, self.preset, self.damage = ctx, preset, damage
        self.path = ctx.work / "ds" / f"{preset}-{damage}"
        self.out = ctx.work / "out" / f"{preset}-{damage}"
        self._memo = {}

    def tool(self, *args, **kw):
        return run([self.ctx.binary, *args], **kw)

    @memo
    def dataset(self) -> str:
        if self.damage == "clean":
            out, _ = self.tool("generate", "--users", USERS, "--seed", SEED, "--scenario", self.preset,
                               "--out", self.path, "--force")
        else:
            src = self.ctx.world(self.preset).dataset_path()
            out, _ = self.tool("perturb", src, "--out", self.path, *DAMAGES[self.damage], "--force")
        return out

    def dataset_path(self) -> Path:
        self.dataset()
        return self.path

    def events(self) -> list:
        """The log in order, loaded on demand; the context keeps few logs in memory at once."""
        return self.ctx.events_of(self)

    @memo
    def truth(self) -> Truth:
        return Truth(self.dataset_path())

    @memo
    def names(self):
        apps = {a: (n, p) for a, n, p in rows(self.dataset_path() / "apps.parquet", ["app_id", "name", "provider_id"])}
        providers = dict(rows(self.path / "providers.parquet", ["provider_id", "name"]))
        return apps, providers

    @memo
    def analyze(self):
        """`analyze --detector exact`: (printed text, report.json, findings folder)."""
        out = self.out / "analyze"
        text, _ = self.tool("analyze", self.dataset_path(), "--detector", "exact", "--out", out, "--force")
        return text, json.loads((out / "report.json").read_text()), out / "exact"


def detector_sets(folder: Path):
    """The sets a findings folder claims, by level (None: the level is absent)."""
    exp = read_findings_table(folder, "exposures", ["app_id", "user_id", "photo_id"])
    users = read_findings_table(folder, "affected_users", ["user_id"])
    viol = read_findings_table(folder, "message_violations", ["event_id"])
    exposures = set(exp) if exp is not None else None
    if users is not None:
        users = {u for (u,) in users}
    elif exposures is not None:
        users = {u for _, u, _ in exposures}
    return {"users": users, "exposures": exposures,
            "violations": {e for (e,) in viol} if viol is not None else None}


def truth_sets(truth: Truth):
    return {"users": set(truth.affected_users), "exposures": truth.exposures, "violations": truth.violations}


def check_detector_entry(entry: dict, found: dict, truth: Truth, where: str) -> list:
    """A report's detector entry (analyze or score) against scores recomputed from sets."""
    problems = []
    want_levels = [lvl for lvl in LEVELS if found[lvl] is not None]
    if entry.get("levels") != want_levels:
        problems.append(f"{where} levels: tool {entry.get('levels')}, findings hold {want_levels}")
    for level, count_key in zip(LEVELS, ("affected_users", "exposures", "message_violations")):
        if found[level] is None:
            continue
        if entry.get(count_key) != len(found[level]):
            problems.append(f"{where} {count_key}: tool {entry.get(count_key)}, findings hold {len(found[level])}")
        problems += diff_scores(entry["scores"].get(level), prf(found[level], truth_sets(truth)[level]),
                                f"{where} {level}")
    return problems


def check_table_row(text: str, name: str, found: dict, truth: Truth) -> list:
    """The printed summary row `name users exposures violations userP userR userF1 expF1 violF1 ...`."""
    line = next((ln for ln in text.splitlines() if ln.split()[:1] == [name]), None)
    if line is None:
        return [f"no printed row for {name}"]
    tok = line.split()
    want = [str(len(found[lvl])) if found[lvl] is not None else "–" for lvl in LEVELS]
    ts = truth_sets(truth)
    sc = {lvl: prf(found[lvl], ts[lvl]) if found[lvl] is not None else {"precision": None, "recall": None, "f1": None}
          for lvl in LEVELS}
    want += [text4(sc["users"]["precision"]), text4(sc["users"]["recall"]), text4(sc["users"]["f1"]),
             text4(sc["exposures"]["f1"]), text4(sc["violations"]["f1"])]
    if tok[1:9] != want:
        return [f"printed row {tok[1:9]}, recomputed {want}"]
    return []


def check_report_tables(report: dict, world: World, found_by: dict) -> list:
    """apps / providers / surfaces / days / partners tables of a report, recomputed."""
    truth, problems = world.truth(), []
    apps, providers = world.names()
    t_users, t_exp = defaultdict(set), Counter()
    for a, u, _ in truth.exposures:
        t_users[a].add(u)
        t_exp[a] += 1
    d_users = {name: defaultdict(set) for name in found_by}
    for name, found in found_by.items():
        for a, u, _ in found["exposures"] or ():
            d_users[name][a].add(u)
    listed = {r["app_id"]: r for r in report["apps"]}
    if not set(t_users) <= set(listed):
        problems.append(f"apps table misses truth apps {sorted(set(t_users) - set(listed))[:5]}")
    for a, r in listed.items():
        want = {"name": apps[a][0], "provider_id": apps[a][1], "provider": providers[apps[a][1]],
                "truth_users": len(t_users[a]), "truth_exposures": t_exp[a],
                "detected_users": {n: len(d_users[n][a]) for n in found_by}}
        got = {k: r.get(k) for k in want}
        got["detected_users"] = {n: (r.get("detected_users") or {}).get(n, 0) for n in found_by}
        if got != want:
            problems.append(f"apps[{a}]: tool {got}, recomputed {want}")
    # providers: apps = the provider's apps with an exposure in the truth
    p_apps, p_users = defaultdict(set), defaultdict(set)
    pd_users = {n: defaultdict(set) for n in found_by}
    for a, users in t_users.items():
        p_apps[apps[a][1]].add(a)
        p_users[apps[a][1]] |= users
    for n in found_by:
        for a, users in d_users[n].items():
            pd_users[n][apps[a][1]] |= users
    for r in report["providers"]:
        p = r["provider_id"]
        want = {"name": providers[p], "apps": len(p_apps[p]), "truth_users": len(p_users[p]),
                "detected_users": {n: len(pd_users[n][p]) for n in found_by}}
        got = {k: r.get(k) for k in want}
        got["detected_users"] = {n: (r.get("detected_users") or {}).get(n, 0) for n in found_by}
        if got != want:
            owned = sum(1 for a in apps.values() if a[1] == p)
            problems.append(f"providers[{p}]: tool {got}, recomputed {want} (it owns {owned} apps)")
    if not set(p_users) <= {r["provider_id"] for r in report["providers"]}:
        problems.append("providers table misses truth providers")
    # surfaces: truth exposures by first surface, and how many of them each detector found
    want = defaultdict(lambda: {"truth_exposures": 0, "found": {n: 0 for n in found_by}})
    for key, (s, _) in truth.exposure_rows.items():
        want[s]["truth_exposures"] += 1
        for n, found in found_by.items():
            want[s]["found"][n] += key in (found["exposures"] or ())
    got = {r["surface"]: {"truth_exposures": r["truth_exposures"], "found": r["found"]} for r in report["surfaces"]}
    if got != dict(want):
        problems.append(f"surfaces: tool {got}, recomputed {dict(want)}")
    # days: truth exposures by UTC day of first exposure and surface
    want = defaultdict(Counter)
    for s, ts in truth.exposure_rows.values():
        want[fmt_ts(ts)[:10]][s] += 1
    got = {r["day"]: r["exposures_by_surface"] for r in report["days"]}
    if got != {d: dict(c) for d, c in want.items()}:
        problems.append(f"days: tool {got}, recomputed {dict(want)}")
    # partners: truth violations by (app, action); the revoked/never split on clean logs only
    holders = [n for n, found in found_by.items() if found["violations"] is not None]
    want = defaultdict(lambda: {"truth_violations": 0, "found": {n: 0 for n in holders}})
    for e, (a, _, act, _) in truth.violation_rows.items():
        want[(a, act)]["truth_violations"] += 1
        for n in holders:
            want[(a, act)]["found"][n] += e in found_by[n]["violations"]
    # The revoked / never-granted split is exact's view of the log: recomputed from the clean
    # log; on a damaged one it must at least add up to what exact found; without exact, null.
    with_exact = "exact" in found_by
    causes = violation_causes(world) if world.damage == "clean" and with_exact else None
    for (a, act), w in want.items():
        w["partner"] = apps[a][0]
        if causes is not None:
            c = Counter(causes[e] for e, (a2, _, act2, _) in truth.violation_rows.items() if (a2, act2) == (a, act))
            w["revoked_token"], w["never_granted"] = c["revoked"], c["never granted"]
    got = {}
    for r in report["partners"]:
        g = {"truth_violations": r["truth_violations"], "found": r["found"], "partner": r["partner"]}
        if causes is not None:
            g["revoked_token"], g["never_granted"] = r["revoked_token"], r["never_granted"]
        elif with_exact and r["revoked_token"] + r["never_granted"] != r["found"].get("exact", 0):
            problems.append(f"partners[{r['app_id']},{r['action']}]: revoked {r['revoked_token']} + never "
                            f"{r['never_granted']} != found by exact {r['found'].get('exact', 0)}")
        got[(r["app_id"], r["action"])] = g
    if got != dict(want):
        for k in sorted(set(got) | set(want)):
            if got.get(k) != want.get(k):
                problems.append(f"partners[{k}]: tool {got.get(k)}, recomputed {want.get(k)}")
    return problems


def violation_causes(world: World) -> dict:
    """event_id -> "revoked" when the user had granted that app the call's scope at some event
    before the call (log order (ts, event_id); the call's place taken from the truth, so a call
    a damaged copy lost still has one), else "never granted"."""
    grants = defaultdict(list)
    for e in world.events():
        if e["kind"] == "permission_granted":
            grants[(e["user_id"], e["app_id"], e["scope"])].append((e["ts"], e["event_id"]))
    causes = {}
    for event, (app, user, action, ts) in world.truth().violation_rows.items():
        before = any(g < (ts, event) for g in grants.get((user, app, action + "_mailbox"), []))
        causes[event] = "revoked" if before else "never granted"
    return causes


# ---------------------------------------------------------------------------------------
# case families
# ---------------------------------------------------------------------------------------

def truth_cases(ctx, preset):
    """1. The truth of a clean world against the §4 rules, recomputed twice."""
    w = ctx.world(preset)
    base = f"truth/{preset}/clean"

    def python_replay():
        exposures, violations, _, first_calls = replay_rules(w.events())
        t = w.truth()
        p = []
        if t.first_calls is not None and t.first_calls != first_calls:
            bad = sorted(k for k in first_calls if t.first_calls.get(k) != first_calls[k])
            p.append(f"first_exposed_event_id differs on {len(bad)}, e.g. "
                     + ", ".join(f"{k}: python {first_calls[k]} truth {t.first_calls.get(k)}" for k in bad[:3]))
        if exposures != t.exposure_rows:
            keys = set(exposures) | set(t.exposure_rows)
            bad = sorted(k for k in keys if exposures.get(k) != t.exposure_rows.get(k))
            p.append(f"exposures differ on {len(bad)} of {len(keys)} keys, e.g. "
                     + ", ".join(f"{k}: python {exposures.get(k)} truth {t.exposure_rows.get(k)}" for k in bad[:3]))
        if violations != t.violation_rows:
            keys = set(violations) | set(t.violation_rows)
            bad = sorted(k for k in keys if violations.get(k) != t.violation_rows.get(k))
            p.append(f"violations differ on {len(bad)} of {len(keys)}, e.g. "
                     + ", ".join(f"{k}: python {violations.get(k)} truth {t.violation_rows.get(k)}" for k in bad[:3]))
        expect(p)

    def log_consistency():
        _, _, bad, _ = replay_rules(w.events())
        expect([f"{len(bad)} calls disagree with the rules, e.g. {bad[:3]}"] if bad else [])

    def duckdb_sql():
        con = duckdb.connect()
        glob = "'" + str(w.dataset_path() / "events" / "*.parquet") + "'"
        con.execute("CREATE TABLE e AS " + (ROOT / "benches/sql/exposures_tuned.sql").read_text().replace("{events}", glob))
        con.execute("CREATE TABLE v AS " + (ROOT / "benches/sql/violations_tuned.sql").read_text().replace("{events}", glob))
        t = w.truth()
        got_e = {(a, u, p): (s, ts) for a, u, p, s, ts in con.execute(
            "SELECT app_id, user_id, photo_id, surface, epoch_us(first_exposed_ts) FROM e").fetchall()}
        got_v = {e: (a, u, act, ts) for e, a, u, act, ts in con.execute(
            "SELECT event_id, app_id, user_id, action, epoch_us(ts) FROM v").fetchall()}
        expect(diff_sets("exposures (app, user, photo, surface, first ts)", {k + v for k, v in got_e.items()},
                         {k + v for k, v in t.exposure_rows.items()})
               + diff_sets("violations", {(k,) + v for k, v in got_v.items()},
                           {(k,) + v for k, v in t.violation_rows.items()}))

    def derived_tables():
        t, p = w.truth(), []
        apps, _ = w.names()
        per_user = defaultdict(lambda: (set(), set()))
        per_app = defaultdict(lambda: (set(), 0))
        for a, u, ph in t.exposures:
            per_user[u][0].add(a)
            per_user[u][1].add(ph)
            per_app[a] = (per_app[a][0] | {u}, per_app[a][1] + 1)
        want_users = {u: (len(s[0]), len(s[1])) for u, s in per_user.items()}
        bad = sorted(k for k in set(t.affected_users) | set(want_users) if t.affected_users.get(k) != want_users.get(k))
        if t.affected_users != want_users:
            p.append(f"truth/affected_users: {len(t.affected_users)} rows vs recomputed {len(want_users)}, "
                     f"differ on {bad[:5]}")
        got_apps = {a: (pr, us, ph) for a, pr, us, ph in rows(w.path / "truth/affected_apps.parquet",
                                                               ["app_id", "provider_id", "users", "photos"])}
        want_apps = {a: (apps[a][1], len(us), n) for a, (us, n) in per_app.items()}
        if got_apps != want_apps:
            bad = sorted(k for k in set(got_apps) | set(want_apps) if got_apps.get(k) != want_apps.get(k))
            p.append(f"truth/affected_apps differs on apps {bad[:5]}: "
                     + ", ".join(f"{a}: tool {got_apps.get(a)} recomputed {want_apps.get(a)}" for a in bad[:3]))
        counts = json.loads((w.path / "manifest.json").read_text())["counts"]
        ev = w.events()
        n_rows = pq.ParquetDataset(str(w.path / "events")).read(columns=["event_id"]).num_rows
        want = {"exposures": len(t.exposures), "affected_users": len(want_users), "affected_apps": len(want_apps),
                "affected_providers": len({apps[a][1] for a in want_apps}),
                "message_violations": len(t.violations), "users": USERS, "events": n_rows,
                "events_by_kind": dict(Counter(e["kind"] for e in ev)),
                "photo_calls_by_status": dict(Counter(str(e["status"]) for e in ev if e["kind"] == "photo_api_call")),
                "message_calls_by_status": dict(Counter(str(e["status"]) for e in ev if e["kind"] == "message_api_call"))}
        # system rows are counted once per shard in the manifest
        shards = len(list((w.path / "events").glob("*.parquet")))
        for k in ("bug_introduced", "bug_fixed", "deploy"):
            if k in want["events_by_kind"]:
                want["events_by_kind"][k] *= shards
        for k, v in want.items():
            g = counts.get(k)
            if isinstance(v, dict):
                g = {kk: vv for kk, vv in (g or {}).items() if vv}
            if g != v:
                p.append(f"manifest counts.{k}: {g}, recomputed {v}")
        expect(p)

    return [(f"{base}/python-replay", python_replay), (f"{base}/log-consistency", log_consistency),
            (f"{base}/duckdb-sql", duckdb_sql), (f"{base}/derived-tables", derived_tables)]


def perturb_cases(ctx, preset, damage):
    """What perturb printed and recorded, against the files it wrote and its source."""
    w, src = ctx.world(preset, damage), ctx.world(preset)
    base = f"perturb/{preset}/{damage}"

    def counts():
        text = w.dataset()
        m = re.search(r"damage\s+(\d+) dropped, (\d+) duplicated, (\d+) rows truncated", text)
        n = re.search(r"events\s+(\d+)", text)
        if not (m and n):
            raise CaseFailure(f"no damage/events lines in {text!r}")
        dropped, duplicated, truncated = map(int, m.groups())
        con = duckdb.connect()
        q = "SELECT count(*), count(DISTINCT event_id) FILTER (WHERE event_id >= 16777216), " \
            "count(*) FILTER (WHERE event_id >= 16777216) FROM read_parquet('{}/events/*.parquet')"
        rows_dmg, distinct_dmg, user_rows_dmg = con.execute(q.format(w.path)).fetchone()
        rows_src, _, user_rows_src = con.execute(q.format(src.path)).fetchone()
        lost = con.execute(f"""SELECT count(*) FROM (SELECT event_id FROM read_parquet('{src.path}/events/*.parquet')
                               EXCEPT SELECT event_id FROM read_parquet('{w.path}/events/*.parquet'))""").fetchone()[0]
        p = []
        if int(n.group(1)) != rows_dmg:
            p.append(f"printed events {n.group(1)}, files hold {rows_dmg}")
        if duplicated != user_rows_dmg - distinct_dmg:
            p.append(f"printed {duplicated} duplicated, files repeat {user_rows_dmg - distinct_dmg} user event ids")
        if dropped + truncated != lost:
            p.append(f"printed {dropped} dropped + {truncated} truncated, {lost} source events are gone")
        if rows_src - dropped - truncated + duplicated != rows_dmg:
            p.append(f"source {rows_src} - {dropped} - {truncated} + {duplicated} != {rows_dmg}")
        pert = json.loads((w.path / "manifest.json").read_text()).get("perturbation", {})
        if (pert.get("dropped"), pert.get("duplicated"), pert.get("truncated_rows", 0)) != (dropped, duplicated, truncated):
            p.append(f"manifest perturbation {pert} disagrees with the printed line")
        expect(p)

    def truth_copied():
        p = []
        for f in sorted((src.path / "truth").rglob("*.parquet")):
            g = w.path / f.relative_to(src.path)
            if not g.exists() or g.read_bytes() != f.read_bytes():
                p.append(f"{f.relative_to(src.path)} differs from the source's")
        expect(p)

    return [(f"{base}/counts", counts), (f"{base}/truth-copied", truth_copied)]


def analyze_cases(ctx, preset, damage):
    """2. analyze --detector exact: scores, text and tables recomputed from its findings files."""
    w = ctx.world(preset, damage)
    base = f"analyze/{preset}/{damage}"

    def scores():
        text, report, folder = w.analyze()
        found, t = detector_sets(folder), w.truth()
        p = check_detector_entry(report["detectors"][0], found, t, "report.json")
        want_truth = {"affected_users": len(t.affected_users), "exposures": len(t.exposures),
                      "message_violations": len(t.violations)}
        got_truth = {k: report["truth"].get(k) for k in want_truth}
        if got_truth != want_truth:
            p.append(f"report truth block {got_truth}, truth files {want_truth}")
        p += check_table_row(text, "exact", found, t)
        expect(p)

    def missed_extra():
        _, _, folder = w.analyze()
        found, t = detector_sets(folder), w.truth()
        p = []
        for name, got_cols, want in [
            ("missed_users", ["user_id"], {(u,) for u in set(t.affected_users) - found["users"]}),
            ("extra_users", ["user_id"], {(u,) for u in found["users"] - set(t.affected_users)}),
            ("missed_exposures", ["app_id", "user_id", "photo_id"], t.exposures - found["exposures"]),
            ("extra_exposures", ["app_id", "user_id", "photo_id"], found["exposures"] - t.exposures)]:
            p += diff_sets(name, set(rows(folder / f"{name}.parquet", got_cols)), want)
        expect(p)

    def tables():
        _, report, folder = w.analyze()
        expect(check_report_tables(report, w, {"exact": detector_sets(folder)}))

    def exact_is_truth():
        _, report, folder = w.analyze()
        found, t = detector_sets(folder), w.truth()
        p = []
        for lvl in LEVELS:
            s = report["detectors"][0]["scores"][lvl]
            empty = not truth_sets(t)[lvl] and not found[lvl]
            if s["f1"] != 1.0 and not (empty and s["f1"] is None):
                p.append(f"{lvl} F1 {s['f1']}")
        p += diff_sets("exposures", found["exposures"], t.exposures)
        p += diff_sets("violations", found["violations"], t.violations)
        p += diff_sets("users", found["users"], set(t.affected_users))
        expect(p)

    cases = [(f"{base}/scores", scores), (f"{base}/missed-extra", missed_extra), (f"{base}/tables", tables)]
    if damage == "clean":
        cases.append((f"{base}/exact-is-truth", exact_is_truth))
    return cases


def score_cases(ctx, preset):
    """3. score on findings folders written here (Parquet and CSV, with known errors) and on
    the exact findings of the dropped copy, against the clean dataset's truth."""
    w = ctx.world(preset)
    base = f"score/{preset}"

    def make_folders():
        t, rng = w.truth(), random.Random(7)
        photo_apps = sorted(a for a, scopes in rows(w.path / "apps.parquet", ["app_id", "scopes"])
                            if "user_photos" in scopes)
        uploads = [(e["user_id"], e["photo_id"]) for e in w.events() if e["kind"] == "photo_uploaded"
                   and e["user_id"] not in t.users]
        others = [e["event_id"] for e in w.events() if e["kind"] == "message_api_call" and e["event_id"] not in t.violations]
        others = others or [e["event_id"] for e in w.events() if e["event_id"] >= 1 << 24][:50]
        # A: Parquet, exposures and violations, a few rows removed and a few wrong rows added
        exp = sorted(t.exposures)
        kept = [r for i, r in enumerate(exp) if i % 7 != 3]
        wrong = [(rng.choice(photo_apps), u, p) for u, p in rng.sample(uploads, 3)]
        viol = sorted(t.violations)
        kept_v = [e for i, e in enumerate(viol) if i % 9 != 4] + rng.sample(others, 3)
        a = ctx.work / "findings" / f"{preset}-parquet"
        a.mkdir(parents=True, exist_ok=True)
        ex = kept + wrong
        pq.write_table(pa.table({"app_id": pa.array([r[0] for r in ex], pa.int64()),
                                 "user_id": pa.array([r[1] for r in ex], pa.int64()),
                                 "photo_id": pa.array([r[2] for r in ex], pa.int64())}), a / "exposures.parquet")
        pq.write_table(pa.table({"event_id": pa.array(kept_v, pa.int64())}), a / "message_violations.parquet")
        # B: CSV, affected_users (one missed, two invented) and exposures; no violations level
        b = ctx.work / "findings" / f"{preset}-csv"
        b.mkdir(parents=True, exist_ok=True)
        users = sorted(t.affected_users)[1:] + sorted({u for u, _ in uploads})[:2]
        with open(b / "affected_users.csv", "w") as f:
            f.write("user_id\n" + "".join(f"{u}\n" for u in users))
        with open(b / "exposures.csv", "w") as f:
            f.write("app_id,user_id,photo_id\n" + "".join(f"{x},{y},{z}\n" for x, y, z in exp + wrong[:1]))
        (b / "findings.json").write_text(json.dumps({"detector": "handmade-csv"}))
        return a, b

    @memo_on(w, "score")
    def scored():
        a, b = make_folders()
        drop = ctx.world(preset, "drop").analyze()[2]
        out = ctx.work / "out" / f"{preset}-score"
        text, _ = run([ctx.binary, "score", w.dataset_path(), a, b, drop, "--name", "handmade-parquet",
                       "--name", "handmade-csv", "--name", "exact-on-drop", "--out", out, "--force"])
        return text, json.loads((out / "report.json").read_text()), {"handmade-parquet": a, "handmade-csv": b,
                                                                       "exact-on-drop": drop}, out

    def one(name):
        def case():
            text, report, folders, out = scored()
            entry = next((d for d in report["detectors"] if d["detector"] == name), None)
            if entry is None:
                raise CaseFailure(f"no detector named {name} in report.json: {[d['detector'] for d in report['detectors']]}")
            found, t = detector_sets(folders[name]), w.truth()
            p = check_detector_entry(entry, found, t, "report.json")
            for lvl in LEVELS:
                if found[lvl] is None and (entry["scores"].get(lvl) or {}).get("f1") is not None:
                    p.append(f"{lvl}: not in the folder, yet scored {entry['scores'][lvl]}")
            p += check_table_row(text, name, found, t)
            sub = out / name
            p += diff_sets("missed_exposures", set(rows(sub / "missed_exposures.parquet", ["app_id", "user_id", "photo_id"])),
                           t.exposures - found["exposures"])
            p += diff_sets("extra_users", {u for (u,) in rows(sub / "extra_users.parquet", ["user_id"])},
                           found["users"] - set(t.affected_users))
            expect(p)
        return case

    def tables():
        _, report, folders, _ = scored()
        expect(check_report_tables(report, w, {n: detector_sets(f) for n, f in folders.items()}))

    return [(f"{base}/clean/{n}", one(n)) for n in ("handmade-parquet", "handmade-csv", "exact-on-drop")] + \
        [(f"{base}/clean/tables", tables)]


def user_state_now(world: World, user: int):
    """Photo grants, other grants and live photos per surface at the end of the user's log."""
    last = {}
    photos = {}
    for e in world.events():
        if e["user_id"] != user:
            continue
        if e["kind"] in ("permission_granted", "permission_revoked"):
            last[(e["app_id"], e["scope"])] = e["kind"] == "permission_granted"
        elif e["kind"] == "photo_uploaded":
            photos[e["photo_id"]] = e["surface"]
        elif e["kind"] == "photo_published" and e["photo_id"] in photos:
            photos[e["photo_id"]] = "timeline"
        elif e["kind"] == "photo_deleted":
            photos.pop(e["photo_id"], None)
    photo_grants = sorted(a for (a, s), on in last.items() if on and s == "user_photos")
    other = sorted((a, s) for (a, s), on in last.items() if on and s != "user_photos")
    return photo_grants, other, dict(Counter(photos.values()))


def lookup_cases(ctx, preset, damage):
    """4. lookup USER --json for sampled users against the truth and the user's events."""
    w = ctx.world(preset, damage)
    base = f"lookup/{preset}/{damage}"
    n = 20 if damage == "clean" else 10

    @memo_on(w, "lookup")
    def answers():
        t, rng = w.truth(), random.Random(3)
        exposed = rng.sample(sorted(t.users), min(n * 2 // 5, len(t.users)))
        mailbox = sorted(t.violation_users - t.users)
        mailbox = rng.sample(mailbox, min(n * 3 // 10, len(mailbox)))
        rest = [u for u in rng.sample(range(USERS), n * 2) if u not in exposed and u not in mailbox]
        sample = exposed + mailbox + rest[: n - len(exposed) - len(mailbox)]
        out = {}
        for u in sample:
            text, _ = w.tool("lookup", w.dataset_path(), u, "--json")
            out[u] = json.loads(text)
        return out

    def exposures_grants():
        t, p = w.truth(), []
        apps, providers = w.names()
        for u, ans in answers().items():
            want = sorted((a, apps[a][0], providers[apps[a][1]], ph, s, fmt_ts(ts))
                          for (a, uu, ph), (s, ts) in t.exposure_rows.items() if uu == u)
            got = sorted((e["app_id"], e.get("app"), e.get("provider"), e["photo_id"], e["surface"], e["first_exposed"])
                         for e in ans["exposures"])
            if got != want:
                p.append(f"user {u} exposures: tool {got[:3]}.. ({len(got)}), truth {want[:3]}.. ({len(want)})")
            if u not in t.violation_users and ans["affected"] != bool(want):
                p.append(f"user {u} affected: tool {ans['affected']}, truth has {len(want)} exposures and no violation")
            grants, other, live = user_state_now(w, u)
            got_g = sorted(g["app_id"] for g in ans["photo_grants_now"])
            if got_g != grants:
                p.append(f"user {u} photo_grants_now: tool {got_g}, events {grants}")
            got_o = sorted((g["app_id"], g["scope"]) for g in ans.get("other_grants_now", []))
            if got_o != other:
                p.append(f"user {u} other_grants_now: tool {got_o}, events {other}")
            if ans.get("live_photos") != live:
                p.append(f"user {u} live_photos: tool {ans.get('live_photos')}, events {live}")
        expect(p)

    def text_summary():
        t, p = w.truth(), []
        for u in sorted(t.users)[:3]:
            text, _ = w.tool("lookup", w.dataset_path(), u)
            mine = [k for k in t.exposures if k[1] == u]
            m = re.search(r"(\d+) photo\(s\).*?seen by (\d+) app\(s\)", text)
            want = (len({k[2] for k in mine}), len({k[0] for k in mine}))
            if not m or tuple(map(int, m.groups())) != want:
                p.append(f"user {u}: printed {m.group(0) if m else text.splitlines()[0]!r}; the truth has "
                         f"{want[0]} distinct photo(s) seen by {want[1]} app(s) ({len(mine)} app×photo pairs); "
                         f"`{ctx.binary} lookup {w.path} {u}`")
        expect(p)

    def new_photos_exposed():
        t, p = w.truth(), []
        if not any("photos_exposed" in ans for ans in answers().values()):
            raise CaseFailure(f"no `photos_exposed` field in any of {len(answers())} answers (keys: "
                              f"{sorted(next(iter(answers().values())))})")
        for u, ans in answers().items():
            want = len({ph for _, uu, ph in t.exposures if uu == u})
            if ans.get("photos_exposed", "<absent>") != want:
                p.append(f"user {u}: photos_exposed {ans.get('photos_exposed', '<absent>')}, truth {want}")
        expect(p)

    def new_mailbox():
        t, p = w.truth(), []
        apps, providers = w.names()
        causes = violation_causes(w)
        if not any("mailbox" in ans for ans in answers().values()):
            n_v = sum(1 for u in answers() if u in t.violation_users)
            raise CaseFailure(f"no `mailbox` field in any of {len(answers())} answers ({n_v} of these users have "
                              f"violations; e.g. user 'affected' is false for a user with only violations)"
                              if n_v else f"no `mailbox` field in any of {len(answers())} answers")
        for u, ans in answers().items():
            groups = defaultdict(list)
            for e, (a, uu, act, ts) in t.violation_rows.items():
                if uu == u:
                    groups[(a, act, causes[e])].append(ts)
            want = sorted((a, apps[a][0], providers[apps[a][1]], act, len(ts), fmt_ts(min(ts)), fmt_ts(max(ts)), c)
                          for (a, act, c), ts in groups.items())
            if "mailbox" not in ans:
                p.append(f"user {u}: no mailbox field (truth: {len(want)} entries)")
                continue
            got = sorted((m.get("app_id"), m.get("app"), m.get("provider"), m.get("action"), m.get("calls"),
                          m.get("first"), m.get("last"), m.get("cause")) for m in ans["mailbox"])
            if got != want:
                p.append(f"user {u} mailbox: tool {got[:2]}, recomputed {want[:2]}")
            has = any(k[1] == u for k in t.exposures) or bool(want)
            if ans["affected"] != has:
                p.append(f"user {u} affected: tool {ans['affected']}, recomputed {has} "
                         f"(exposures or mailbox non-empty)")
        expect(p)

    # Every damage: lookup answers from the truth (what happened), whatever the log lost or
    # repeated; only the cause of a mailbox call is read from the (damaged) log's grants.
    return [(f"{base}/exposures-grants", exposures_grants), (f"{base}/text-summary", text_summary),
            (f"{base}/new-photos-exposed", new_photos_exposed), (f"{base}/new-mailbox", new_mailbox)]


def export_cases(ctx, preset):
    """5. export users / export apps against the truth."""
    w = ctx.world(preset)
    base = f"export/{preset}/clean"

    @memo_on(w, "export")
    def exported():
        u_out, a_out = ctx.work / "out" / f"{preset}-export-users", ctx.work / "out" / f"{preset}-export-apps"
        u_text, _ = w.tool("export", "users", w.dataset_path(), "--out", u_out, "--force")
        a_text, _ = w.tool("export", "apps", w.dataset_path(), "--out", a_out, "--force")
        return u_text, u_out, a_text, a_out

    def expected_users():
        t = w.truth()
        per = defaultdict(lambda: {"apps": set(), "photos": set(), "surfaces": set(), "first": None, "violations": 0})
        for (a, u, ph), (s, ts) in t.exposure_rows.items():
            r = per[u]
            r["apps"].add(a)
            r["photos"].add(ph)
            r["surfaces"].add(s)
            r["first"] = ts if r["first"] is None else min(r["first"], ts)
        for a, u, _, _ in t.violation_rows.values():
            per[u]["violations"] += 1
        return per

    def users_photo_rows():
        u_text, u_out, _, _ = exported()
        t, per, p = w.truth(), expected_users(), []
        apps, _ = w.names()
        d = columns(u_out / "users.parquet")
        got = {r["user_id"]: r for r in (dict(zip(d, v)) for v in zip(*d.values()))}
        p += diff_sets("exposed users listed", set(got) & t.users, t.users)
        stray = set(got) - t.users - t.violation_users
        if stray:
            p.append(f"rows for users neither exposed nor violated: {sorted(stray)[:5]}")
        for u in sorted(t.users & set(got)):
            r, e = got[u], per[u]
            ids = [int(x) for x in r["app_ids"].split("; ")] if r["app_ids"] else []
            names = r["app_names"].split("; ") if r["app_names"] else []
            want = {"photos": len(e["photos"]), "surfaces": e["surfaces"], "first": e["first"]}
            have = {"photos": r["photos"], "surfaces": set(r["surfaces"].split("; ")), "first": r["first_exposed_ts"]}
            if u not in t.violation_users:
                want["apps"], have["apps"] = len(e["apps"]), r["apps"]
                want["app_ids"], have["app_ids"] = e["apps"], set(ids)
            elif not e["apps"] <= set(ids):
                p.append(f"user {u}: app_ids {ids} miss exposure apps {sorted(e['apps'])}")
            if have != want:
                p.append(f"user {u}: tool {have}, recomputed {want}")
            if [apps[a][0] for a in ids] != names:
                p.append(f"user {u}: app_names {names} do not name app_ids {ids}")
        with open(u_out / "users.csv") as f:
            csv_users = [int(r["user_id"]) for r in csv.DictReader(f)]
        if sorted(csv_users) != sorted(got):
            p.append(f"users.csv lists {len(csv_users)} users, users.parquet {len(got)}")
        m = re.search(r"exported\s+(\d+) user", u_text)
        if not m or int(m.group(1)) != len(got):
            p.append(f"printed {u_text.splitlines()[0]!r}, users.parquet has {len(got)} rows")
        expect(p)

    def new_users_mailbox():
        u_text, u_out, _, _ = exported()
        t, per, p = w.truth(), expected_users(), []
        d = columns(u_out / "users.parquet")
        got = {r["user_id"]: r for r in (dict(zip(d, v)) for v in zip(*d.values()))}
        want_users = t.users | t.violation_users
        p += diff_sets("users listed (exposures ∪ violations)", set(got), want_users)
        for col in ("violations", "incidents"):
            if col not in d:
                p.append(f"users.parquet has no `{col}` column (it has {list(d)})")
        if "violations" in d and "incidents" in d:
            for u in sorted(want_users & set(got)):
                r = got[u]
                if r["violations"] != per[u]["violations"]:
                    p.append(f"user {u} violations: tool {r['violations']}, truth {per[u]['violations']}")
                if "partner_ids" in r:
                    want_p = sorted({a for a, uu, _, _ in t.violation_rows.values() if uu == u})
                    got_p = sorted(int(x) for x in (r["partner_ids"] or "").split("; ") if x)
                    if got_p != want_p:
                        p.append(f"user {u} partner_ids: tool {got_p}, truth {want_p}")
                if "first_violation_ts" in r:
                    ts = [v[3] for v in t.violation_rows.values() if v[1] == u]
                    if r["first_violation_ts"] != (min(ts) if ts else None):
                        p.append(f"user {u} first_violation_ts: tool {r['first_violation_ts']}, truth {min(ts) if ts else None}")
                inc = r["incidents"] or ""
                if ("photo-api" in inc) != (u in t.users) or ("messaging" in inc) != (u in t.violation_users):
                    p.append(f"user {u} incidents {inc!r}: exposed {u in t.users}, violated {u in t.violation_users}")
        m = re.search(r"exported\s+(\d+) user", u_text)
        if not m or int(m.group(1)) != len(want_users):
            p.append(f"printed {u_text.splitlines()[0]!r}, exposures ∪ violations hold {len(want_users)} users")
        expect(p)

    def per_app():
        t = w.truth()
        per = defaultdict(lambda: {"users": set(), "photos": set(), "violations": 0})
        for a, u, ph in t.exposures:
            per[a]["users"].add(u)
            per[a]["photos"].add(ph)
        for a, u, _, _ in t.violation_rows.values():
            per[a]["users"].add(u)
            per[a]["violations"] += 1
        return per

    def apps_photo_rows():
        _, _, _, a_out = exported()
        t, p = w.truth(), []
        apps, providers = w.names()
        d = columns(a_out / "apps.parquet")
        got = {r["app_id"]: r for r in (dict(zip(d, v)) for v in zip(*d.values()))}
        photo_apps = {a for a, _, _ in t.exposures}
        p += diff_sets("photo apps listed", set(got) & photo_apps, photo_apps)
        for a in sorted(photo_apps & set(got)):
            r = got[a]
            users = {u for aa, u, _ in t.exposures if aa == a}
            photos = {ph for aa, _, ph in t.exposures if aa == a}
            want = {"app_name": apps[a][0], "provider_id": apps[a][1], "provider_name": providers[apps[a][1]],
                    "photos": len(photos)}
            have = {k: r[k] for k in want}
            if not any(x[0] == a for x in t.violation_rows.values()):
                want["users"], have["users"] = len(users), r["users"]
            if have != want:
                p.append(f"app {a}: tool {have}, recomputed {want}")
        expect(p)

    def apps_partitions():
        _, _, _, a_out = exported()
        t, p = w.truth(), []
        for a in sorted({a for a, _, _ in t.exposures}):
            folder = a_out / f"app_id={a}"
            if not folder.is_dir():
                p.append(f"no folder app_id={a}")
                continue
            got = set(rows(folder / "photos.parquet", ["user_id", "photo_id", "surface", "first_exposed_ts"]))
            want = {(u, ph, s, ts) for (aa, u, ph), (s, ts) in t.exposure_rows.items() if aa == a}
            p += diff_sets(f"app_id={a}/photos.parquet", got, want, show=2)
            got_u = set(rows(folder / "users.parquet", ["user_id", "photos", "first_exposed_ts"]))
            per = defaultdict(list)
            for (aa, u, ph), (s, ts) in t.exposure_rows.items():
                if aa == a:
                    per[u].append(ts)
            p += diff_sets(f"app_id={a}/users.parquet", got_u, {(u, len(v), min(v)) for u, v in per.items()}, show=2)
        expect(p)

    def new_apps_mailbox():
        _, _, _, a_out = exported()
        per, p = per_app(), []
        d = columns(a_out / "apps.parquet")
        got = {r["app_id"]: r for r in (dict(zip(d, v)) for v in zip(*d.values()))}
        p += diff_sets("apps listed (exposures ∪ violations)", set(got), set(per))
        if "violations" not in d:
            p.append(f"apps.parquet has no `violations` column (it has {list(d)})")
        for a in sorted(set(got) & set(per)):
            have = {"users": got[a]["users"], "photos": got[a]["photos"]}
            want = {"users": len(per[a]["users"]), "photos": len(per[a]["photos"])}
            if "violations" in d:
                have["violations"], want["violations"] = got[a]["violations"], per[a]["violations"]
            if have != want:
                p.append(f"app {a}: tool {have}, recomputed {want}")
        expect(p)

    def apps_summary():
        _, _, a_text, _ = exported()
        t, p = w.truth(), []
        line = a_text.splitlines()[0] if a_text else ""

        def number(pattern):
            m = re.search(pattern, line)
            return int(m.group(1)) if m else None

        photo_apps, photo_users = {a for a, _, _ in t.exposures}, t.users
        want = {
            "app(s)": (number(r"(\d+) app\(s\)"), len(photo_apps | {v[0] for v in t.violation_rows.values()}),
                       f"photo apps alone {len(photo_apps)}"),
            "user(s)": (number(r"(\d+) user\(s\)"), len(photo_users | t.violation_users),
                        f"photo users alone {len(photo_users)}"),
            "distinct photo(s)": (number(r"(\d+) (?:distinct )?photo\(s\)"), len({ph for _, _, ph in t.exposures}),
                                  f"app×photo pairs {len(t.exposures)}"),
            "copies": (number(r"(\d+) cop(?:y|ies)"), len(t.exposures), "app×photo pairs"),
        }
        mailbox = number(r"(\d+) mailbox call")
        if mailbox is not None:
            want["mailbox calls"] = (mailbox, len(t.violations), "violating calls")
        for what, (got, expected, note) in want.items():
            if got != expected:
                p.append(f"{what}: printed {'nothing' if got is None else got}, recomputed {expected} ({note})")
        if p:
            p.append(f"in {line!r}")
        expect(p)

    return [(f"{base}/users-photo-rows", users_photo_rows), (f"{base}/new-users-mailbox", new_users_mailbox),
            (f"{base}/apps-photo-rows", apps_photo_rows), (f"{base}/apps-partitions", apps_partitions),
            (f"{base}/new-apps-mailbox", new_apps_mailbox), (f"{base}/new-apps-summary", apps_summary)]


def live_run(w: World, tag: str, detect_args):
    """replay --listen + detect --follow through a recording relay: (report, finding lines, detect text)."""
    out = w.out / f"live-{tag}"
    port = free_port()
    replay = subprocess.Popen([str(w.ctx.binary), "replay", str(w.dataset_path()), "--listen", f"127.0.0.1:{port}",
                               "--rate", "1000000", "--wait", "5", "--accept-timeout", "30", "--out", str(out), "--force"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = replay.stderr.readline()
        if "listening" not in first:
            raise CaseFailure(f"replay did not listen: {first.strip()} {replay.stderr.read()[-400:]}")
        relay = Relay(port)
        det = subprocess.run([str(w.ctx.binary), "detect", "--follow", f"127.0.0.1:{relay.port}", *detect_args,
                              "--idle-timeout", "60"], capture_output=True, text=True, timeout=180)
        if det.returncode != 0:
            raise CaseFailure(f"detect {' '.join(detect_args)} exited {det.returncode}: {det.stderr.strip()[-300:]}")
        replay.communicate(timeout=120)
        if replay.returncode != 0:
            raise CaseFailure(f"replay exited {replay.returncode}")
        return json.loads((out / "report.json").read_text()), relay.lines(), det.stdout + det.stderr
    finally:
        if replay.poll() is None:
            replay.kill()
            replay.wait()


def parse_findings(lines):
    users, exposures, violations, other = set(), set(), set(), 0
    for line in lines:
        o = json.loads(line)
        if all(k in o for k in ("user_id", "app_id", "photo_id")):
            exposures.add((o["app_id"], o["user_id"], o["photo_id"]))
        elif "event_id" in o:
            violations.add(o["event_id"])
        elif "user_id" in o:
            users.add(o["user_id"])
        else:
            other += 1
    return {"users": users | {u for _, u, _ in exposures}, "exposures": exposures, "violations": violations}, other


def carried_truth(w: World):
    """The truth whose calls are in this dataset's log (see the module docstring)."""
    t = w.truth()
    ids = {e["event_id"] for e in w.events()}
    if t.first_calls is not None:
        exposures = {k for k, e in t.first_calls.items() if e in ids}
    else:
        call_at = {(e["user_id"], e["app_id"], e["ts"]): e["event_id"] for e in w.ctx.world(w.preset).events()
                   if e["kind"] == "photo_api_call" and e["status"] == 200}
        exposures = {k for k, (_, ts) in t.exposure_rows.items() if call_at.get((k[1], k[0], ts)) in ids}
    return {"users": {u for _, u, _ in exposures}, "exposures": exposures, "violations": t.violations & ids}


def live_cases(ctx, preset, damage):
    """6. replay + detect --follow: the replay's report recomputed from the findings it received,
    and live F1 equal to batch analyze's F1."""
    w = ctx.world(preset, damage)
    base = f"live/{preset}/{damage}"

    @memo_on(w, "live")
    def plain():
        return live_run(w, "exact", ["--detector", "exact"])

    def report_vs_findings():
        report, lines, det_text = plain()
        found, other = parse_findings(lines)
        t = w.truth()
        whole = truth_sets(t)
        p = []
        # A whole, unsliced replay is scored against the whole truth (data/README §11 restricts
        # the truth only for a slice or a replay stopped early).
        for lvl in LEVELS:
            p += diff_scores(report["scores"].get(lvl), prf(found[lvl], whole[lvl]), lvl)
        want_c = [len(whole[lvl]) for lvl in LEVELS]
        if report["scores"].get("whole") is not True:
            p.append("a whole replay is not scored against the whole truth (scores.whole is not true)")
        # truth_carried is the truth whose first event the stream carried (the rest was
        # dropped or cut off in a damaged copy): recomputed from the log itself.
        n_carried = [len(v) for v in (lambda c: [c[lvl] for lvl in LEVELS])(carried_truth(w))]
        if report["scores"].get("truth_carried") != n_carried:
            p.append(f"truth_carried: tool {report['scores'].get('truth_carried')}, recomputed {n_carried}")
        for lvl in LEVELS:
            sc = report["scores"].get(lvl) or {}
            if sc and sc["true_positives"] + sc["false_positives"] != len(found[lvl]):
                p.append(f"{lvl}: tool counts tp {sc['true_positives']} + fp {sc['false_positives']} = "
                         f"{sc['true_positives'] + sc['false_positives']} findings, the relay saw "
                         f"{len(found[lvl])} distinct ones")
        if report.get("premature_findings"):
            p.append(f"{report['premature_findings']} findings counted as before their call was due (left out of the scores)")
        if p:
            # Diagnose: do the tool's numbers equal a scoring against only the truth whose calls
            # are in this log, with the findings of the other truth left out?
            carried = carried_truth(w)
            kept = {lvl: found[lvl] - (whole[lvl] - carried[lvl]) for lvl in LEVELS}
            alt = []
            for lvl in LEVELS:
                alt += diff_scores(report["scores"].get(lvl), prf(kept[lvl], carried[lvl]), lvl)
            n_carried = [len(carried[lvl]) for lvl in LEVELS]
            left_out = sum(len(found[lvl] & (whole[lvl] - carried[lvl])) for lvl in ("exposures", "violations"))
            if not alt and report["scores"].get("truth_carried") == n_carried:
                p.append(f"diagnosis: the tool's scores are those against only the truth whose calls are in this "
                         f"log ({n_carried} of {want_c}; the rest had their call event "
                         f"{'dropped' if w.damage == 'drop' else 'cut' if w.damage == 'truncate' else 'changed'}), "
                         f"with the {left_out} exposure/violation findings of that other truth left out")
            else:
                p.append(f"and they do not match a scoring against only the truth whose calls are in the log "
                         f"either ({n_carried}): {alt[:3]}")
        want_w = [len(t.affected_users), len(t.exposures), len(t.violations)]
        if report["scores"].get("truth_whole") != want_w:
            p.append(f"truth_whole: tool {report['scores'].get('truth_whole')}, truth {want_w}")
        if report.get("findings") != len(lines) or report.get("unparsed_lines") != other:
            p.append(f"findings {report.get('findings')} / unparsed {report.get('unparsed_lines')}, "
                     f"relay saw {len(lines)} lines / {other} not understood")
        con = duckdb.connect()
        n_rows, n_sys, n_sys_ids = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE event_id < 16777216), count(DISTINCT event_id) FILTER "
            f"(WHERE event_id < 16777216) FROM read_parquet('{w.path}/events/*.parquet')").fetchone()
        want_sent = n_rows - (n_sys - n_sys_ids)
        got = (report.get("events_in_files"), report.get("repeated_deploys"), report.get("events_sent"))
        if got != (n_rows, n_sys - n_sys_ids, want_sent):
            p.append(f"events in files / repeated deploys / sent: tool {got}, "
                     f"recomputed {(n_rows, n_sys - n_sys_ids, want_sent)}")
        m = re.search(r"followed\s+(\d+) events, (\d+) findings", det_text)
        if not m or (int(m.group(1)), int(m.group(2))) != (want_sent, len(lines)):
            p.append(f"detect printed {m.group(0) if m else det_text.strip()[:80]!r}, "
                     f"recomputed {want_sent} events, relay saw {len(lines)} findings")
        if p:
            p.append(f"reproduce: `{ctx.binary} replay {w.path} --listen 127.0.0.1:7070 --rate 1000000 --out X` "
                     f"+ `{ctx.binary} detect --follow 127.0.0.1:7070`")
        expect(p)

    def vs_batch(runner, label):
        def case():
            report, lines, _ = runner()
            _, batch, folder = w.analyze()
            found, _ = parse_findings(lines)
            batch_found = detector_sets(folder)
            p = []
            for lvl in LEVELS:
                lf = (report["scores"].get(lvl) or {}).get("f1")
                bf = batch["detectors"][0]["scores"][lvl]["f1"]
                if not same_number(lf, bf):
                    p.append(f"{lvl} F1: live {lf}, batch {bf}")
            if p:
                differ = []
                for lvl in LEVELS:
                    differ += diff_sets(f"{lvl} findings live vs batch", found[lvl], batch_found[lvl], show=3)
                p += differ or ["the live findings are exactly the batch findings (the scoring differs)"]
                p.append(f"live truth_carried {report['scores'].get('truth_carried')} of {report['scores'].get('truth_whole')}"
                         f"; premature_findings {report.get('premature_findings')}; {label}")
            expect(p)
        return case

    cases = [(f"{base}/report-vs-findings", report_vs_findings)]
    if damage in ("clean", "drop", "duplicate", "skew"):
        cases.append((f"{base}/vs-batch", vs_batch(plain, "detect --detector exact")))
    if damage == "reorder":
        @memo_on(w, "live-lateness")
        def late():
            return live_run(w, "lateness", ["--detector", "exact", "--lateness", "15m"])
        cases.append((f"{base}/new-lateness-vs-batch", vs_batch(late, "detect --detector exact --lateness 15m")))
    return cases


# ---------------------------------------------------------------------------------------
# runner
# ---------------------------------------------------------------------------------------

def all_cases(ctx):
    cases = []
    for preset in PRESETS:
        cases += truth_cases(ctx, preset)
        for damage in DAMAGES:
            if damage != "clean":
                cases += perturb_cases(ctx, preset, damage)
            cases += analyze_cases(ctx, preset, damage)
        cases += score_cases(ctx, preset)
        for damage in DAMAGES:
            cases += lookup_cases(ctx, preset, damage)
        cases += export_cases(ctx, preset)
        for damage in DAMAGES:
            cases += live_cases(ctx, preset, damage)
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary", type=Path)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("-k", default="", help="run only the cases whose name contains this")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    ctx = Context(args.binary.resolve(), args.workdir.resolve())
    passed = failed = 0
    start = time.monotonic()
    for name, case in all_cases(ctx):
        if args.k not in name:
            continue
        try:
            case()
            passed += 1
            print(f"PASS {name}", flush=True)
        except CaseFailure as e:
            failed += 1
            print(f"FAIL {name}: {e}", flush=True)
        except Exception as e:  # noqa: BLE001 - a crash in a case is that case's failure
            failed += 1
            where = traceback.extract_tb(e.__traceback__)[-1]
            print(f"FAIL {name}: {type(e).__name__}: {e} (at line {where.lineno})", flush=True)
    print(f"# {time.monotonic() - start:.1f} s", file=sys.stderr)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
