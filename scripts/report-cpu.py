#!/usr/bin/env python3
"""Server CPU time and wall time per report request, for comparing two builds
on one data directory when the machine is shared (wall times swing with other
load; the server's own CPU time per request does much less).

Usage: report-cpu.py BINARY DATA_DIR API_KEY [--calls N] [--viewer-email E]
                     [--questions FILE] [--database-url URL]

Starts `BINARY serve` on DATA_DIR, makes an API key for the viewer (the bench's
`viewer@bench.example`) when one exists, then asks each question once to warm
up and N more times one after another, reading utime+stime of the server from
/proc/PID/stat around them. Prints one line per question: CPU ms per request,
wall p50 and p99 ms; then the server's peak RSS (VmHWM). QUESTIONS is a file
of `name<TAB>asker<TAB>path` lines
(asker: admin or viewer); without it, the benchmark's usage and viewer
questions on the first app are asked. With --database-url the server runs on
that PostgreSQL database (a held `bench --database-url … --hold` one, say) and
DATA_DIR is not used; its CPU figure is then the server's share only.
"""
import argparse, json, os, socket, subprocess, sys, time, urllib.request

TICK = os.sysconf("SC_CLK_TCK")


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / TICK


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def call(base, key, path, method="GET", body=None):
    req = urllib.request.Request(base + path, method=method,
                                 headers={"Authorization": f"Bearer {key}",
                                          "Content-Type": "application/json"},
                                 data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.read()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def default_questions(base, key):
    apps = json.loads(call(base, key, "/pull/v3/apps"))
    app = (apps.get("apps") or apps.get("data") or apps)[0]
    app_id = app.get("appId") or app.get("id")
    u = f"/pull/v1/apps/{app_id}"
    today = time.strftime("%Y-%m-%d", time.gmtime())
    month = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 30 * 86400))
    wh = f"from={month}&to={today}&pageSize=150"
    qs = [
        ("engagement by team, 7 days", "admin", f"{u}/engagement?rollingWindow=7&by=team"),
        ("inactive users, Group 0, 30 days", "admin", f"{u}/inactive-users?group=Group%200&rollingWindow=30"),
        ("users page", "admin", f"{u}/users?rollingWindow=30"),
        ("trend, 30 days", "admin", f"{u}/trend"),
        ("right-sizing, 90 days", "admin", f"{u}/rightsizing"),
        ("engagement by team, Group 0, 30 days, viewer", "viewer", f"{u}/engagement?group=Group%200&rollingWindow=30&by=team"),
        ("inactive users, Group 0, 30 days, viewer", "viewer", f"{u}/inactive-users?group=Group%200&rollingWindow=30"),
        ("users page, viewer", "viewer", f"{u}/users?rollingWindow=30"),
        ("trend, 30 days, viewer", "viewer", f"{u}/trend"),
        ("right-sizing, 90 days, viewer", "viewer", f"{u}/rightsizing"),
        ("app summaries, viewer", "viewer", "/pull/v3/apps"),
        ("working hours users, a month, viewer", "viewer", f"/reports/v2/workinghours/users?{wh}"),
        ("working hours computers, a month, viewer", "viewer", f"/reports/v2/workinghours/computers?{wh}"),
    ]
    return qs


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("data_dir")
    p.add_argument("api_key")
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--viewer-email", default="viewer@bench.example")
    p.add_argument("--questions")
    p.add_argument("--database-url")
    a = p.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    store = ["--database-url", a.database_url] if a.database_url else ["--data-dir", a.data_dir]
    server = subprocess.Popen([a.binary, "serve", "--listen", f"127.0.0.1:{port}", *store],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                call(base, a.api_key, "/admin/v1/settings")
                break
            except Exception:
                time.sleep(0.1)
        keys = {"admin": a.api_key}
        consumers = json.loads(call(base, a.api_key, "/admin/v1/consumers"))
        for c in consumers.get("consumers", consumers if isinstance(consumers, list) else []):
            if c.get("email") == a.viewer_email:
                made = json.loads(call(base, a.api_key, "/admin/v1/credentials", "POST",
                                       {"type": "apiKey", "name": "report-cpu", "consumerId": c["id"]}))
                keys["viewer"] = made["apiKey"]
        if a.questions:
            with open(a.questions) as f:
                qs = [tuple(line.rstrip("\n").split("\t")) for line in f if line.strip()]
        else:
            qs = default_questions(base, a.api_key)
        print(f"{'question':<46} {'cpu ms':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for name, asker, path in qs:
            if asker not in keys:
                continue
            key = keys[asker]
            call(base, key, path)
            walls = []
            before = cpu_ms(server.pid)
            for _ in range(a.calls):
                t = time.perf_counter()
                call(base, key, path)
                walls.append((time.perf_counter() - t) * 1000)
            spent = (cpu_ms(server.pid) - before) / a.calls
            walls.sort()
            p99 = walls[min(len(walls) - 1, int(len(walls) * 0.99))]
            print(f"{name:<46} {spent:>8.2f} {walls[len(walls) // 2]:>8.2f} {p99:>8.2f}", flush=True)
        print(f"server peak RSS {peak_rss_mb(server.pid):.0f} MB")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
