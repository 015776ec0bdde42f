#!/usr/bin/env bash
# Times `rollcall push events` of an N-line NDJSON file (default 1,000,000)
# against a fresh release `rollcall serve` (embedded database), with the
# account's rate limit raised as `rollcall bench` does, so the figure compares
# with the benchmark's "usage events" push throughput.
# Build first: cargo build --release -p rollcall.
# usage: scripts/push-throughput.sh [LINES] [CONCURRENCY]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/target/release/rollcall"
lines="${1:-1000000}"
concurrency="${2:-4}"
python="$("$root/scripts/python-venv.sh")"
work="$(mktemp -d)"
trap 'kill $server_pid 2>/dev/null || true; rm -rf "$work"' EXIT
key="$("$bin" admin init --data-dir "$work/data" --json | "$python" -c 'import json,sys; print(json.load(sys.stdin)["apiKey"])')"
"$bin" serve --data-dir "$work/data" --listen 127.0.0.1:0 >/dev/null 2>"$work/serve.log" &
server_pid=$!
until grep -q "rollcall listening on" "$work/serve.log"; do sleep 0.1; done
server="$(sed -n 's/^rollcall listening on //p' "$work/serve.log")"
curl -sf -X PATCH -H "authorization: Bearer $key" -H 'content-type: application/json' \
  -d '{"rateLimit": {"perSecond": 100000, "burst": 100000}}' "$server/admin/v1/settings" >/dev/null
app="$(curl -sf -H "authorization: Bearer $key" -H 'content-type: application/json' \
  -d '{"name": "Mail", "events": [{"eventName": "created", "eventType": "Produce"}, {"eventName": "opened", "eventType": "Consume"}]}' \
  "$server/services/push/v1/customer/apps" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["appId"])')"
"$python" - "$work/events.ndjson" "$lines" <<'PY'
import sys, time
path, n = sys.argv[1], int(sys.argv[2])
base = int(time.time() * 1000) - 20 * 86_400_000
with open(path, "w") as f:
    for i in range(n):
        f.write('{"timestamp":%d,"email":"user%d@corp.example","eventName":"%s"}\n'
                % (base + i * 1000, i % 5000, "created" if i % 2 else "opened"))
PY
echo "file: $(du -h "$work/events.ndjson" | cut -f1), $lines lines"
"$bin" push events "$work/events.ndjson" --server "$server" --api-key "$key" --app "$app" --concurrency "$concurrency"
echo "re-run (all duplicates):"
"$bin" push events "$work/events.ndjson" --server "$server" --api-key "$key" --app "$app" --concurrency "$concurrency"
