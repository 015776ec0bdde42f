#!/usr/bin/env python3
"""Usage-event ingest into a fresh embedded Rollcall, and what each event costs
the server and its single writer thread (issue 18 #2, #3).

    scripts/usage-ingest.py [BIN] [EVENTS] [PEOPLE] [CLIENTS]
    (defaults: target/release/rollcall, 2,000,000, 10,000, 4)

One app of 10 events; EVENTS events over the last 90 days in time order, 1,000 a
request, each of one of PEOPLE people at random; the bodies are made before the
timing. Prints events/s, server CPU µs per event (utime + stime from /proc) and
the writer thread's ("rollcall-writer") µs per event."""
import http.client, json, os, random, subprocess, sys, tempfile, threading, time, queue

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/rollcall"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000_000
people = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
clients = int(sys.argv[4]) if len(sys.argv) > 4 else 4
TICK = os.sysconf("SC_CLK_TCK")

def cpu(stat_path):
    f = open(stat_path).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK

data = tempfile.mkdtemp(prefix="usage-ingest-")
key = json.loads(subprocess.check_output([binary, "admin", "init", "--json", "--data-dir", data]))["apiKey"]
server = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data],
                          stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                          env={**os.environ, "RUST_LOG": "warn"})
for line in server.stderr:
    if line.startswith("rollcall listening on "):
        host, port = line.split()[-1].replace("http://", "").rsplit(":", 1)
        break
headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

def call(conn, method, path, body):
    conn.request(method, path, body=json.dumps(body) if not isinstance(body, str) else body, headers=headers)
    r = conn.getresponse()
    d = r.read()
    if r.status >= 300:
        sys.exit(f"{method} {path}: {r.status} {d[:300]!r}")
    return json.loads(d) if d else None

conn = http.client.HTTPConnection(host, int(port))
call(conn, "PATCH", "/admin/v1/settings", {"rateLimit": {"perSecond": 1000000, "burst": 1000000}})
app = call(conn, "POST", "/services/push/v1/customer/apps", {"name": "Ingest", "events": [
    {"eventName": f"event-{e}", "eventType": "Produce", "groups": [f"G{e % 3}"]} for e in range(10)]})["appId"]
path = f"/services/push/v1/customer/apps/{app}/events"
now = int(time.time() * 1000)
rng = random.Random(1)
times = sorted(rng.randrange(now - 90 * 86_400_000, now - 60_000) for _ in range(n))
bodies = queue.Queue()
for first in range(0, n, 1000):
    bodies.put(json.dumps({"events": [{"email": f"employee{rng.randrange(people)}@bench.example",
                                       "eventName": f"event-{rng.randrange(10)}", "timestamp": t}
                                      for t in times[first:first + 1000]]}))
writer = next(t for t in os.listdir(f"/proc/{server.pid}/task")
              if open(f"/proc/{server.pid}/task/{t}/comm").read().startswith("rollcall-writ"))
accepted, lock = [0], threading.Lock()

def send():
    conn = http.client.HTTPConnection(host, int(port))
    while True:
        try:
            body = bodies.get_nowait()
        except queue.Empty:
            return
        got = call(conn, "POST", path, body)["accepted"]
        with lock:
            accepted[0] += got

server_cpu, writer_cpu = cpu(f"/proc/{server.pid}/stat"), cpu(f"/proc/{server.pid}/task/{writer}/stat")
started = time.time()
senders = [threading.Thread(target=send) for _ in range(clients)]
for s in senders:
    s.start()
for s in senders:
    s.join()
took = time.time() - started
server_cpu = cpu(f"/proc/{server.pid}/stat") - server_cpu
writer_cpu = cpu(f"/proc/{server.pid}/task/{writer}/stat") - writer_cpu
server.terminate()
server.wait()
subprocess.run(["rm", "-rf", data])
m = accepted[0]
print(f"{m} events of {people} people in {took:.2f} s: {m / took:,.0f} events/s; "
      f"server CPU {server_cpu / m * 1e6:.2f} µs/event, writer {writer_cpu / m * 1e6:.2f} µs/event")
