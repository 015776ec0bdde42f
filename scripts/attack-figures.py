#!/usr/bin/env python3
"""Issue 15's attack figures against a `rollcall serve` binary (release build).

Usage: scripts/attack-figures.py [path/to/rollcall]   (default target/release/rollcall)

Each attack runs against a fresh server on a fresh embedded database and prints
the server's peak RSS (VmHWM from /proc/PID/status), its RSS afterwards, and the
size of the answers. Attacks, as the issue ran them:
  1. one org-chart CSV of 14 MB: a header `email`, then 7M lines `x`;
  2. one usage-event push of {"events":[0,0,...]} with 7M items (14 MB);
  3. six 16 MiB bodies, one per list-taking endpoint, on one server;
  4. 3,000 connections that send half a request head: how many are open 40 s later.
"""
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/rollcall"
MIB = 1024 * 1024


def kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


class Server:
    def __init__(self, *extra):
        self.dir = tempfile.mkdtemp(prefix="rc-attack-")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.dir, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "RUST_LOG": "error"})
        self.key = None
        while self.key is None:
            line = self.proc.stdout.readline()
            m = re.search(r"API key\s+(\S+)", line)
            if m:
                self.key = m.group(1)
        while True:
            line = self.proc.stderr.readline()
            m = re.search(r"listening on http://(\S+)", line)
            if m:
                host, port = m.group(1).rsplit(":", 1)
                self.host, self.port = host, int(port)
                break

    def request(self, method, path, body=b"", ctype="application/json"):
        c = http.client.HTTPConnection(self.host, self.port, timeout=600)
        c.request(method, path, body=body,
                  headers={"Authorization": f"Bearer {self.key}", "Content-Type": ctype})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def hwm_mb(self):
        return kb(self.proc.pid, "VmHWM:") // 1024

    def rss_mb(self):
        return kb(self.proc.pid, "VmRSS:") // 1024

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def make_app(s):
    status, body = s.request("POST", "/services/push/v1/customer/apps", json.dumps(
        {"name": "Mail", "events": [{"eventName": "send", "eventType": "Produce"}]}).encode())
    assert status == 200, body
    return json.loads(body)["appId"]


def json_list(prefix, item, suffix, size):
    n = (size - len(prefix) - len(suffix)) // (len(item) + 1)
    body = prefix + b",".join([item] * n) + suffix
    return body + b" " * (size - len(body)) if len(body) < size else body


def report(name, s, answers, before):
    sizes = ", ".join(f"{st}: {len(b):,} B" for st, b in answers)
    print(f"{name}: peak RSS {s.hwm_mb()} MB (idle {before} MB), RSS after {s.rss_mb()} MB; answers {sizes}")


def attack_org_csv():
    s = Server()
    before = s.hwm_mb()
    body = b"email\n" + b"x\n" * 7_000_000
    answers = [s.request("POST", "/services/push/v1/customer/org-chart/csv", body, "text/csv")]
    report(f"org-chart CSV {len(body) / 1e6:.0f} MB", s, answers, before)
    s.stop()


def attack_events():
    s = Server()
    app = make_app(s)
    before = s.hwm_mb()
    body = b'{"events":[' + b",".join([b"0"] * 7_000_000) + b"]}"
    answers = [s.request("POST", f"/services/push/v1/customer/apps/{app}/events", body)]
    report(f"events body 7M items ({len(body) / 1e6:.0f} MB)", s, answers, before)
    s.stop()


def attack_six():
    s = Server()
    app = make_app(s)
    before = s.hwm_mb()
    size = 16 * MIB
    csv = b"email\n" + b"x\n" * ((size - 6) // 2)
    cases = [
        ("POST", "/services/push/v1/customer/org-chart/csv", csv[:size], "text/csv"),
        ("DELETE", f"/services/push/v1/customer/apps/{app}/users",
         json_list(b'{"emails":[', b'""', b"]}", size), "application/json"),
        ("POST", "/admin/v1/groups", json_list(b'{"name":"g","clients":[', b"1", b"]}", size),
         "application/json"),
        ("PUT", "/admin/v1/classifications",
         json_list(b'{"applications":[', b'{"executable":"a","productivity":1}', b"]}", size),
         "application/json"),
        ("POST", f"/services/push/v1/customer/apps/{app}/events",
         json_list(b'{"events":[', b"0", b"]}", size), "application/json"),
        ("POST", "/agent/v1/activity",
         json_list(b'{"computer":{"name":"c"},"client":{"name":"u"},"session":1,"records":[',
                   b"0", b"]}", size), "application/json"),
    ]
    answers = [s.request(m, p, b, t) for m, p, b, t in cases]
    report("six 16 MiB bodies", s, answers, before)
    s.stop()


def attack_half_open():
    s = Server()
    socks = []
    for _ in range(3000):
        c = socket.create_connection((s.host, s.port))
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: ")
        socks.append(c)
    time.sleep(40)
    still_open = 0
    for c in socks:
        c.setblocking(False)
        try:
            data = c.recv(1)
            if data:
                still_open += 1  # an answer without a close
        except BlockingIOError:
            still_open += 1
        except OSError:
            pass
        c.close()
    fds = len(os.listdir(f"/proc/{s.proc.pid}/fd"))
    print(f"3,000 half-open connections: {still_open} still open after 40 s; server holds {fds} descriptors")
    s.stop()


if __name__ == "__main__":
    attack_org_csv()
    attack_events()
    attack_six()
    attack_half_open()
