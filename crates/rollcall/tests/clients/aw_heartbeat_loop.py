"""A live window and afk watcher through the real aw-client: one heartbeat a
second to each bucket for SECONDS seconds (the app changes every 30 s), as
aw-watcher-window and aw-watcher-afk do. Used by scripts/relay-footprint.sh.

usage: aw_heartbeat_loop.py PORT SECONDS
"""

import sys
import time
from datetime import datetime, timezone

from aw_client import ActivityWatchClient
from aw_core.models import Event

port, seconds = int(sys.argv[1]), int(sys.argv[2])
client = ActivityWatchClient("aw-watcher-loop", host="127.0.0.1", port=port)
host = client.get_info()["hostname"]
wb, ab = f"aw-watcher-window_{host}", f"aw-watcher-afk_{host}"
if wb not in client.get_buckets():
    client.create_bucket(wb, "currentwindow")
    client.create_bucket(ab, "afkstatus")
start = time.monotonic()
for i in range(seconds):
    now = datetime.now(timezone.utc)
    app = ["code", "firefox", "terminal"][(i // 30) % 3]
    client.heartbeat(wb, Event(timestamp=now, duration=0, data={"app": app, "title": f"{app} window"}), pulsetime=2)
    client.heartbeat(ab, Event(timestamp=now, duration=0, data={"status": "not-afk"}), pulsetime=2)
    time.sleep(max(0.0, start + i + 1 - time.monotonic()))
