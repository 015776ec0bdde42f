# Sourced by scripts/make-upgrade-fixture.sh (needs $bin, $out, $root).
#
#   make_data_set NAME DATABASE-FLAGS…
# `admin init` on that database (its JSON goes to $out/NAME-credentials.json),
# `serve` on a free loopback port, the data set through the API, every report
# recorded in $out/NAME-reports.json, then SIGTERM (a clean stop).
make_data_set() {
    local name=$1
    shift
    "$bin" admin init --json "$@" >"$out/$name-credentials.json"
    local key
    key=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["apiKey"])' <"$out/$name-credentials.json")
    local log
    log=$(mktemp)
    RUST_LOG=warn "$bin" serve --listen 127.0.0.1:0 "$@" >/dev/null 2>"$log" &
    local pid=$!
    local base=
    for _ in $(seq 300); do
        base=$(sed -n 's/^rollcall listening on //p' "$log")
        [ -n "$base" ] && break
        kill -0 "$pid" 2>/dev/null || { cat "$log"; return 1; }
        sleep 0.1
    done
    [ -n "$base" ] || { cat "$log"; kill "$pid"; return 1; }
    echo "$name: filling the data set on $base"
    python3 "$root/scripts/upgrade-fixture-data.py" fill "$base" "$key"
    python3 "$root/scripts/upgrade-fixture-data.py" record "$base" "$key" "$out/$name-reports.json"
    kill -TERM "$pid"
    wait "$pid"
    rm -f "$log"
}
