#!/usr/bin/env bash
# Dashboard figures (issue 13): serves the demo company (`rollcall serve --demo`)
# on a fresh embedded database, logs in through the form, then requests every
# page N times and prints each page's time (p50/p99, as curl sees it on
# loopback: server time plus a few tens of microseconds) and its bytes with the
# assets it loads. Usage: scripts/ui-figures.sh [path/to/rollcall] [N]
# With ROLLCALL_UI_BASE, ROLLCALL_UI_EMAIL and ROLLCALL_UI_PASSWORD it measures a
# server that is already running instead.
set -euo pipefail
bin=${1:-target/release/rollcall}
n=${2:-200}
dir=$(mktemp -d)
if [ -n "${ROLLCALL_UI_BASE:-}" ]; then
    # A server that is already running (e.g. `rollcall bench --hold` at full scale),
    # with a web user's email and password.
    base=$ROLLCALL_UI_BASE
    email=$ROLLCALL_UI_EMAIL
    password=$ROLLCALL_UI_PASSWORD
    trap 'rm -rf "$dir"' EXIT
else
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    base="http://127.0.0.1:$port"
    "$bin" serve --demo --data-dir "$dir" --listen "127.0.0.1:$port" >"$dir/out.log" 2>&1 &
    pid=$!
    trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
    for _ in $(seq 1 600); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
    email=$(grep -oE '[^ ]+@[^ ]+\.local' "$dir/out.log" | head -1)
    password=$(grep -iE 'password' "$dir/out.log" | head -1 | awk '{print $NF}')
fi
jar="$dir/cookies"
code=$(curl -s -o /dev/null -w '%{http_code}' -c "$jar" -H 'sec-fetch-site: same-origin' \
    --data-urlencode "email=$email" --data-urlencode "password=$password" "$base/ui/login")
[ "$code" = 303 ] || { echo "login failed ($code)"; cat "$dir/out.log" 2>/dev/null; exit 1; }
app=$(curl -s -b "$jar" "$base/ui" | grep -oE 'href="/ui/apps/[^"]+"' | head -1 | sed 's/.*apps\///; s/"//')
assets=$(( $(curl -s "$base/ui/assets/rollcall.css" | wc -c) + $(curl -s "$base/ui/assets/htmx.min.js" | wc -c) ))
yesterday=$(date -u -d yesterday +%F)
week=$(date -u -d '7 days ago' +%F)
printf '%-40s %8s %8s %10s\n' page p50_ms p99_ms bytes+assets
for page in "/ui" "/ui/apps/$app" "/ui/apps/$app?window=90" "/ui/workinghours?from=$week&to=$yesterday" \
    "/ui/workinghours?from=$week&to=$yesterday&view=computers" "/ui/activity?date=$yesterday" "/ui/audit" "/ui/admin"; do
    bytes=$(curl -s -b "$jar" "$base$page" | wc -c)
    times=$(for _ in $(seq 1 "$n"); do curl -s -o /dev/null -b "$jar" -w '%{time_total}\n' "$base$page"; done | sort -n)
    p50=$(echo "$times" | awk -v n="$n" 'NR==int(n*0.5+0.5){printf "%.1f", $1*1000}')
    p99=$(echo "$times" | awk -v n="$n" 'NR==int(n*0.99+0.5){printf "%.1f", $1*1000}')
    printf '%-40s %8s %8s %10s\n' "${page:0:40}" "$p50" "$p99" "$((bytes + assets))"
done
