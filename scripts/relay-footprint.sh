#!/usr/bin/env bash
# Measures `rollcall relay`'s CPU and memory while a watcher (the real aw-client)
# sends a window and an afk heartbeat every second, uploading to a local
# `rollcall serve`. Build first: cargo build --release -p rollcall.
# usage: scripts/relay-footprint.sh [SECONDS]   (default 90)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/target/release/rollcall"
seconds="${1:-90}"
python="$("$root/scripts/python-venv.sh")"
work="$(mktemp -d)"
trap 'kill $server_pid $relay_pid 2>/dev/null || true; rm -rf "$work"' EXIT
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/config" XDG_DATA_HOME="$work/home/data" XDG_CACHE_HOME="$work/home/cache"
key="$("$bin" admin init --data-dir "$work/data" --json | "$python" -c 'import json,sys; print(json.load(sys.stdin)["apiKey"])')"
"$bin" serve --data-dir "$work/data" --listen 127.0.0.1:0 >/dev/null 2>"$work/serve.log" &
server_pid=$!
until grep -q "rollcall listening on" "$work/serve.log"; do sleep 0.1; done
server="$(sed -n 's/^rollcall listening on //p' "$work/serve.log")"
RUST_LOG=warn "$bin" relay --server "$server" --api-key "$key" --listen 127.0.0.1:0 --spool "$work/spool" 2>"$work/relay.log" &
relay_pid=$!
until grep -q "rollcall listening on" "$work/relay.log"; do sleep 0.1; done
port="$(sed -n 's/^rollcall listening on .*://p' "$work/relay.log")"
ticks() { awk '{print $14 + $15}' "/proc/$relay_pid/stat"; }
hz="$(getconf CLK_TCK)"
"$python" "$root/crates/rollcall/tests/clients/aw_heartbeat_loop.py" "$port" 5   # warm-up, buckets
t0="$(ticks)"; s0="$(date +%s.%N)"
"$python" "$root/crates/rollcall/tests/clients/aw_heartbeat_loop.py" "$port" "$seconds"
t1="$(ticks)"; s1="$(date +%s.%N)"
rss="$(awk '/VmRSS/ {print $2}' "/proc/$relay_pid/status")"
hwm="$(awk '/VmHWM/ {print $2}' "/proc/$relay_pid/status")"
awk -v t="$((t1 - t0))" -v hz="$hz" -v s0="$s0" -v s1="$s1" -v rss="$rss" -v hwm="$hwm" 'BEGIN {
  wall = s1 - s0; cpu = t / hz;
  printf "relay over %.0f s of 1 Hz heartbeats (x2 buckets): CPU %.2f s = %.3f%% of a core; RSS %.1f MB (peak %.1f MB)\n",
         wall, cpu, 100 * cpu / wall, rss / 1024, hwm / 1024 }'
echo "sealed intervals in the outbox: $(grep -c . "$work/spool/outbox-0.ndjson" 2>/dev/null || echo 0)"
