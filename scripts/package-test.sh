#!/usr/bin/env bash
# Builds the Debian package with cargo-deb, installs it with `dpkg -i`, checks
# what the install made (the `rollcall` system user, the data and config
# directories, the conffile), smoke-tests the INSTALLED binary as that user,
# checks the systemd unit with `systemd-analyze verify` (and prints its offline
# security exposure), then purges the package again. Run by scripts/test.sh
# after the test suite; needs root (dpkg).
#
#   scripts/package-test.sh
#
# The package is built from an existing binary (`cargo deb --no-build`): the
# release binary when it is newer than every source file, else the debug binary
# (built here when missing; after the test suite it is already there), so CI
# pays for no extra compilation; --fast compression keeps the step short (the
# package is thrown away). A release package for users: `cargo deb -p rollcall`.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
say() { echo "== package: $*"; }
fail() {
    echo "package test FAILED: $*" >&2
    exit 1
}

if [ "$(id -u)" != 0 ]; then
    fail "needs root (dpkg -i, a system user)"
fi
if dpkg-query -W -f='${Status}' rollcall 2>/dev/null | grep -q 'install ok installed' &&
    [ "${ROLLCALL_PACKAGE_TEST_FORCE:-0}" != 1 ]; then
    fail "a rollcall package is already installed on this machine; not touching it (ROLLCALL_PACKAGE_TEST_FORCE=1 to replace and purge it)"
fi

# Tools: cargo-deb (compiled from crates.io once), systemd-analyze.
if ! cargo deb --version >/dev/null 2>&1; then
    say "installing cargo-deb"
    t=$(date +%s)
    cargo install --locked cargo-deb
    say "cargo install cargo-deb took $(($(date +%s) - t)) s"
fi
if ! command -v systemd-analyze >/dev/null; then
    say "installing systemd (for systemd-analyze)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi

# The binary to package.
release=target/release/rollcall
if [ -x "$release" ] && [ -z "$(find crates Cargo.toml Cargo.lock -newer "$release" \
    \( -name '*.rs' -o -name '*.toml' -o -name '*.sql' -o -name '*.lock' -o -name '*.css' -o -name '*.js' \) \
    -not -path '*/tests/*' -print -quit)" ]; then
    profile=()
    say "packaging the release binary (newer than every source)"
else
    cargo build -q -p rollcall --bin rollcall
    profile=(--profile dev)
    say "packaging the debug binary"
fi
deb=$(cargo deb -p rollcall --no-build --fast "${profile[@]}" 2>/tmp/rollcall-cargo-deb.log | tail -n 1) ||
    { cat /tmp/rollcall-cargo-deb.log; fail "cargo deb"; }
[ -f "$deb" ] || { cat /tmp/rollcall-cargo-deb.log; fail "cargo deb made no package ($deb)"; }
say "built $deb ($(du -h "$deb" | cut -f1))"

had_data_dir=0
[ -e /var/lib/rollcall ] && had_data_dir=1
smoke=$(mktemp -d /tmp/rollcall-package.XXXXXX)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    rm -rf "$smoke"
    if dpkg-query -W rollcall >/dev/null 2>&1; then
        dpkg --purge rollcall >/dev/null 2>&1 || true
    fi
    [ "$had_data_dir" = 0 ] && rm -rf /var/lib/rollcall
    return 0
}
trap cleanup EXIT

say "dpkg -i"
dpkg -i "$deb" >/tmp/rollcall-dpkg.log 2>&1 || { cat /tmp/rollcall-dpkg.log; fail "dpkg -i"; }

# What the install made.
files=$(dpkg -L rollcall)
unit=$(echo "$files" | grep -E '/systemd/system/rollcall\.service$') || fail "no unit in the package: $files"
for f in /usr/bin/rollcall /etc/rollcall/rollcall.toml; do
    echo "$files" | grep -qx "$f" || fail "$f is not in the package"
done
dpkg-query -W -f='${Conffiles}\n' rollcall | grep -q '/etc/rollcall/rollcall.toml' ||
    fail "/etc/rollcall/rollcall.toml is not a conffile"
user=$(getent passwd rollcall) || fail "no rollcall user"
uid=$(echo "$user" | cut -d: -f3)
shell=$(echo "$user" | cut -d: -f7)
[ "$uid" -lt 1000 ] || fail "rollcall is not a system user (uid $uid)"
case "$shell" in */nologin | */false) ;; *) fail "the rollcall user has a login shell ($shell)" ;; esac
[ "$(stat -c '%U:%G %a' /var/lib/rollcall)" = "rollcall:rollcall 700" ] ||
    fail "/var/lib/rollcall is $(stat -c '%U:%G %a' /var/lib/rollcall)"
[ "$(stat -c '%U:%G %a' /etc/rollcall/rollcall.toml)" = "root:rollcall 640" ] ||
    fail "/etc/rollcall/rollcall.toml is $(stat -c '%U:%G %a' /etc/rollcall/rollcall.toml)"
grep -q '^data-dir = "/var/lib/rollcall"' /etc/rollcall/rollcall.toml || fail "the default config names no data-dir"
say "installed: $(/usr/bin/rollcall --version), user rollcall (uid $uid), unit $unit"

# The smoke test: the installed binary, as the service user, on its own data
# directory and port.
chown rollcall:rollcall "$smoke"
# setpriv execs the command itself (runuser would stay in between and turn
# the server's clean SIGTERM exit into its own status).
as_rollcall() { setpriv --reuid=rollcall --regid=rollcall --init-groups -- "$@"; }
creds=$(as_rollcall /usr/bin/rollcall admin init --data-dir "$smoke/data" --json)
key=$(echo "$creds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["apiKey"])')
[ "$(stat -c '%a' "$smoke/data/rollcall.key")" = 600 ] || fail "the key file is not 0600"
# With the packaged configuration file, as the unit runs it; the flags win over
# its data directory and address.
RUST_LOG=warn setpriv --reuid=rollcall --regid=rollcall --init-groups -- /usr/bin/rollcall serve \
    --config /etc/rollcall/rollcall.toml --data-dir "$smoke/data" \
    --listen 127.0.0.1:0 >/dev/null 2>"$smoke/serve.log" &
server=$!
base=
for _ in $(seq 200); do
    base=$(sed -n 's/^rollcall listening on //p' "$smoke/serve.log")
    [ -n "$base" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$smoke/serve.log"; fail "the installed server exited"; }
    sleep 0.1
done
[ -n "$base" ] || fail "the installed server did not listen"
http() { curl -sS -o "$smoke/body" -w '%{http_code}' "$@"; }
[ "$(http "$base/healthz")" = 200 ] || fail "/healthz: $(cat "$smoke/body")"
[ "$(http "$base/readyz")" = 200 ] || fail "/readyz: $(cat "$smoke/body")"
[ "$(http "$base/admin/v1/settings")" = 401 ] || fail "no credential: $(cat "$smoke/body")"
code=$(http -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d '{"name": "Mail", "category": "Communication", "sso": false, "events": [{"eventName": "sent", "eventType": "Produce"}]}' \
    "$base/services/push/v1/customer/apps")
[ "$code" = 200 ] || fail "POST app: $code $(cat "$smoke/body")"
app=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["appId"])' "$smoke/body")
now_ms=$(($(date +%s) * 1000 - 60000))
code=$(http -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d "{\"events\": [{\"timestamp\": $now_ms, \"email\": \"ana@corp.example\", \"eventName\": \"sent\"}]}" \
    "$base/services/push/v1/customer/apps/$app/events")
[ "$code" = 200 ] || fail "POST events: $code $(cat "$smoke/body")"
[ "$(http -H "Authorization: Bearer $key" "$base/pull/v3/apps")" = 200 ] || fail "GET apps: $(cat "$smoke/body")"
python3 - "$smoke/body" "$app" <<'EOF' || fail "the app summary does not count the event: $(cat "$smoke/body")"
import json, sys
apps = json.load(open(sys.argv[1]))["apps"]
assert [a["activeUsers"] for a in apps if a["appId"] == sys.argv[2]] == [1], apps
EOF
kill -TERM "$server"
wait "$server" || fail "the installed server did not stop cleanly on SIGTERM"
server=
as_rollcall /usr/bin/rollcall audit verify --data-dir "$smoke/data" | grep -q 'audit chain intact' ||
    fail "audit verify on the smoke test's data"
say "smoke test of /usr/bin/rollcall --config /etc/rollcall/rollcall.toml passed ($base: healthz, readyz, 401 without a key, app + event + summary, SIGTERM, audit verify)"

# The unit. systemd-analyze verify loads it as systemd would (it needs no
# running systemd); --man=no: the package ships no man page.
verify=$(systemd-analyze verify --man=no "$unit" 2>&1) || { echo "$verify"; fail "systemd-analyze verify $unit"; }
[ -z "$verify" ] || { echo "$verify"; fail "systemd-analyze verify $unit warned"; }
exposure=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null | tail -n 1 || true)
say "systemd-analyze verify passed; offline security: ${exposure:-not available}"
if [ "$(cat /proc/1/comm 2>/dev/null)" != systemd ]; then
    say "the unit was verified, not started: PID 1 here is '$(cat /proc/1/comm 2>/dev/null)', not systemd"
fi

dpkg --purge rollcall >/tmp/rollcall-dpkg.log 2>&1 || { cat /tmp/rollcall-dpkg.log; fail "dpkg --purge"; }
[ ! -e /usr/bin/rollcall ] || fail "/usr/bin/rollcall is still there after purge"
[ ! -e "$unit" ] || fail "$unit is still there after purge"
! getent passwd rollcall >/dev/null || fail "the rollcall user is still there after purge"
say "purged; package test passed in $(($(date +%s) - started)) s"
