"""A live discovery detector in Python for `blastradius replay`, from data/README §4, §11, §14.

It is never told which deploy was the bug: every deploy row (`deploy`, and the scoping log's
`bug_introduced` and `bug_fixed`) is just a deploy. It reads the replayer's JSON lines from a
socket and replays each user's photos by the *intended* rule (a photo app sees only live
`timeline` photos). A successful `photo_api_call` that returned more items than that rule
could fill at its page is a flag. It pages at once on the first flag of each clock hour, and
again within the hour each time the hour's distinct flagged users double; each page has
confidence 1 - 0.5^n for n distinct flagged users in the hour so far, blames the latest
deploy seen before the hour's first flag, names the users and apps flagged since the last
page, and says the log time it fired at. Each page is one line back on the same socket:

    {"alarm":{"confidence":0.75,"deploy_id":204,"users":[3,9],"apps":[12],"fired_ts":...}}

Usage: python live_discover.py HOST:PORT     (start `blastradius replay` first; it listens)
"""

import gc
import json
import socket
import sys

HOUR = 3_600_000_000  # microseconds
DEPLOYS = {"deploy", "bug_introduced", "bug_fixed"}


def main(addr: str) -> int:
    gc.disable()  # millions of small objects live all along; none forms a cycle
    host, port = addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    events = sock.makefile("rb", buffering=1 << 20)
    visible = {}  # user -> live timeline photos
    photos = {}  # photo -> [on the timeline, deleted]
    last_deploy = None
    hour, blamed, flagged, next_page = None, None, set(), 1
    pending_users, pending_apps = set(), set()
    previous, pages = None, 0
    for line in events:
        if not line.strip():
            continue  # a heartbeat
        e = json.loads(line)
        kind = e["kind"]
        if kind in DEPLOYS:
            last_deploy = e["event_id"]
            continue
        if "user_id" not in e or "target_id" in e:
            continue  # the platform's other rows, and a View-As world's access log
        key = (e["ts"], e["event_id"])
        if key == previous:  # a duplicated event sits next to its original
            continue
        previous = key
        user = e["user_id"]
        if kind == "photo_uploaded":
            on_timeline = e["surface"] == "timeline"
            photos[e["photo_id"]] = [on_timeline, False]
            visible[user] = visible.get(user, 0) + on_timeline
        elif kind == "photo_published":
            p = photos.setdefault(e["photo_id"], [False, False])
            if not p[0] and not p[1]:
                p[0] = True
                visible[user] = visible.get(user, 0) + 1
        elif kind == "photo_deleted":
            p = photos.get(e["photo_id"])
            if p and not p[1]:
                p[1] = True
                visible[user] = visible.get(user, 0) - p[0]
        elif kind == "photo_api_call" and e["status"] == 200:
            size = e["page_size"]
            allowed = max(0, min(size, visible.get(user, 0) - e["page"] * size))
            if e["items_returned"] <= allowed:
                continue
            if hour != e["ts"] // HOUR:
                hour, blamed, flagged, next_page = e["ts"] // HOUR, last_deploy, set(), 1
            flagged.add(user)
            pending_users.add(user)
            pending_apps.add(e["app_id"])
            if len(flagged) >= next_page:
                next_page *= 2
                alarm = {"confidence": 1 - 0.5 ** len(flagged), "users": sorted(pending_users),
                         "apps": sorted(pending_apps), "fired_ts": e["ts"]}
                if blamed is not None:
                    alarm["deploy_id"] = blamed
                sock.sendall((json.dumps({"alarm": alarm}) + "\n").encode())
                pending_users, pending_apps = set(), set()
                pages += 1
    sock.shutdown(socket.SHUT_WR)
    print(f"live_discover: {pages} pages", file=sys.stderr)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python live_discover.py HOST:PORT")
    raise SystemExit(main(sys.argv[1]))
