#!/usr/bin/env bash
# Activity ingest the way issue 18 #6 measures it: one connection, batches of
# 1,000 foreground-window intervals, 1M of them (N=...), into a fresh Rollcall
# (embedded store) and, when AW_SERVER names an aw-server-rust binary built
# outside this repository, into a fresh aw-server too. Prints records/s, the
# server's CPU seconds (utime+stime from /proc) and bytes on disk per record.
#
#   scripts/aw-compare.sh [ROLLCALL_BIN]      (default target/release/rollcall)
#   N=200000 AW_SERVER=/work/aw/target/release/aw-server scripts/aw-compare.sh
set -euo pipefail
ROLLCALL=${1:-target/release/rollcall}
export N=${N:-1000000} ROLLCALL AW_SERVER=${AW_SERVER:-}
exec python3 - <<'EOF'
import http.client, json, os, random, subprocess, sys, tempfile, time, datetime

N = int(os.environ["N"]); BATCH = 1000
TICK = os.sysconf("SC_CLK_TCK")

def cpu_s(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK

def dir_bytes(d):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)

def intervals():
    """N time-ordered foreground windows: (start ms, seconds, exe, title, url)."""
    rng = random.Random(7)
    apps = [f"app{i}.exe" for i in range(20)] + ["chrome.exe"] * 5
    titles = [f"Document {i} - Editor" for i in range(1000)]
    sites = [f"https://site{i}.example/page/{j}" for i in range(50) for j in range(10)]
    t = int(time.time() * 1000) - 200 * 86400 * 1000  # 1M intervals of ~17 s end about now
    for _ in range(N):
        d = rng.randrange(5, 30)
        exe = rng.choice(apps)
        url = rng.choice(sites) if exe == "chrome.exe" else None
        yield t, d, exe, rng.choice(titles), url
        t += d * 1000

def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

def push(conn, method, path, bodies, headers):
    started = time.time()
    for body in bodies:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse(); data = r.read()
        if r.status >= 300:
            sys.exit(f"{path}: {r.status} {data[:300]!r}")
    return time.time() - started

def batches(make):
    out, chunk = [], []
    for rec in intervals():
        chunk.append(rec)
        if len(chunk) == BATCH:
            out.append(make(chunk)); chunk = []
    if chunk: out.append(make(chunk))
    return out

def rollcall():
    d = tempfile.mkdtemp(prefix="aw-compare-rollcall-")
    creds = json.loads(subprocess.check_output([os.environ["ROLLCALL"], "admin", "init", "--json", "--data-dir", d]))
    key = creds["apiKey"]
    p = subprocess.Popen([os.environ["ROLLCALL"], "serve", "--listen", "127.0.0.1:0", "--data-dir", d],
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"}, text=True)
    for line in p.stderr:
        if line.startswith("rollcall listening on "):
            host, port = line.split()[-1].replace("http://", "").rsplit(":", 1); break
    conn = http.client.HTTPConnection(host, int(port))
    h = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    push(conn, "PATCH", "/admin/v1/settings", [json.dumps({"rateLimit": {"perSecond": 1000000, "burst": 1000000}})], h)
    push(conn, "PUT", "/admin/v1/privacy", [json.dumps({"capture": "full"})], h)
    def make(chunk):
        return json.dumps({"sentAt": iso(time.time() * 1000),
            "computer": {"name": "PC-1", "primaryDomain": "corp", "os": "Windows 11", "timeZone": "UTC"},
            "client": {"loginDomain": "CORP", "name": "user"}, "session": 1,
            "records": [{"start": iso(s), "duration": dur, "executable": exe, "description": title,
                         "url": url, "idle": False} for s, dur, exe, title, url in chunk]})
    bodies = batches(make)
    conn = http.client.HTTPConnection(host, int(port))  # the first one idled while bodies were made
    empty = dir_bytes(d); cpu0 = cpu_s(p.pid)
    took = push(conn, "POST", "/agent/v1/activity", bodies, h)
    cpu = cpu_s(p.pid) - cpu0; disk = dir_bytes(d) - empty
    p.terminate(); p.wait()
    return took, cpu, disk

def aw():
    d = tempfile.mkdtemp(prefix="aw-compare-aw-")
    port = 5699
    p = subprocess.Popen([os.environ["AW_SERVER"], "--port", str(port), "--dbpath", os.path.join(d, "aw.db"), "--no-legacy-import"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    h = {"Content-Type": "application/json"}
    push(conn, "POST", "/api/0/buckets/bench-window", [json.dumps({"client": "bench", "type": "currentwindow", "hostname": "PC-1"})], h)
    def make(chunk):
        return json.dumps([{"timestamp": iso(s), "duration": float(dur),
            "data": {"app": exe, "title": title, **({"url": url} if url else {})}} for s, dur, exe, title, url in chunk])
    bodies = batches(make)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    empty = dir_bytes(d); cpu0 = cpu_s(p.pid)
    took = push(conn, "POST", "/api/0/buckets/bench-window/events", bodies, h)
    time.sleep(1)  # aw-server commits after it answers
    cpu = cpu_s(p.pid) - cpu0; disk = dir_bytes(d) - empty
    p.terminate(); p.wait()
    return took, cpu, disk

print(f"{'server':<12} {'records':>9} {'seconds':>8} {'records/s':>10} {'cpu s':>7} {'µs cpu/rec':>10} {'B/record':>9}")
for name, run in [("rollcall", rollcall)] + ([("aw-server", aw)] if os.environ["AW_SERVER"] else []):
    took, cpu, disk = run()
    print(f"{name:<12} {N:>9} {took:>8.2f} {N / took:>10.0f} {cpu:>7.2f} {cpu / N * 1e6:>10.2f} {disk / N:>9.1f}")
EOF
