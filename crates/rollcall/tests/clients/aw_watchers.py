"""Plays ActivityWatch's window and afk watchers with the real aw-client
package against `rollcall relay` (tests/api/relay.rs drives it).

usage: aw_watchers.py PORT PHASE BASE_UNIX_SECONDS

Phase "day" (BASE .. BASE+1200 s), heartbeats every 5 s with pulsetime 6:
  window: code "main.rs" for 600 s, then firefox "Docs" for 600 s;
  afk: present 300 s, away 180 s (afk-watcher style: one start, growing
  duration), present 720 s.
Phase "later" (BASE+1200 .. BASE+1800): window: terminal "bash" for 600 s,
  afk: present throughout (merging with the last present event).
Prints what aw-client reads back (buckets, events, counts) as JSON.
"""

import json
import sys
from datetime import datetime, timedelta, timezone

from aw_client import ActivityWatchClient
from aw_core.models import Event

port, phase, base = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
t0 = datetime.fromtimestamp(base, tz=timezone.utc)
STEP, PULSE = 5, 6

window = ActivityWatchClient("aw-watcher-window", host="127.0.0.1", port=port)
afk = ActivityWatchClient("aw-watcher-afk", host="127.0.0.1", port=port)
info = window.get_info()
host = info["hostname"]
wb, ab = f"aw-watcher-window_{host}", f"aw-watcher-afk_{host}"


def at(s):
    return t0 + timedelta(seconds=s)


def window_span(start, end, app, title):
    for s in range(start, end + 1, STEP):
        window.heartbeat(wb, Event(timestamp=at(s), duration=0, data={"app": app, "title": title}), pulsetime=PULSE)


def present(start, end):
    for s in range(start, end + 1, STEP):
        afk.heartbeat(ab, Event(timestamp=at(s), duration=0, data={"status": "not-afk"}), pulsetime=PULSE)


def away(start, end):
    # aw-watcher-afk: the afk event starts at the last input and grows.
    for s in range(start, end + 1, STEP):
        afk.heartbeat(ab, Event(timestamp=at(start), duration=s - start, data={"status": "afk"}), pulsetime=PULSE)


if phase == "day":
    buckets = window.get_buckets()
    if wb not in buckets:
        window.create_bucket(wb, "currentwindow")
    if ab not in afk.get_buckets():
        afk.create_bucket(ab, "afkstatus")
    # A second create is answered "not modified", which aw-client accepts.
    window.create_bucket(wb, "currentwindow")
    present(0, 300)
    away(300, 480)
    present(480, 1200)
    window_span(0, 600, "code", "main.rs")
    window_span(600, 1200, "firefox", "Docs")
elif phase == "later":
    present(1200, 1800)
    window_span(1200, 1800, "terminal", "bash")
else:
    sys.exit(f"unknown phase {phase}")

out = {
    "info": info,
    "buckets": {k: {"type": v["type"], "hostname": v["hostname"]} for k, v in window.get_buckets().items()},
    "window": [
        {"start": e.timestamp.isoformat(), "duration": e.duration.total_seconds(), "app": e.data["app"]}
        for e in window.get_events(wb, limit=-1)
    ],
    "afk": [
        {"start": e.timestamp.isoformat(), "duration": e.duration.total_seconds(), "status": e.data["status"]}
        for e in afk.get_events(ab)
    ],
    "window_count": window.get_eventcount(wb),
    "latest_one": len(window.get_events(wb, limit=1)),
}
print(json.dumps(out))
