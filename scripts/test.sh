#!/usr/bin/env bash
# Runs every check and every test, as CI does: formatting, lints, and the whole
# test suite twice — on the embedded store, then on a throwaway PostgreSQL
# cluster (scripts/with-postgres.sh installs and removes it), then the Debian
# package (scripts/package-test.sh). Installs what the build needs when it is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
[ -f /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
# The dashboard's browser tests drive Debian's Chromium through chromedriver.
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install --locked cargo-nextest
fi

# The real Python clients (SDKs, aw-client, schemathesis) the suite drives.
scripts/python-venv.sh >/dev/null

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
status=0
echo "== tests on the embedded store"
cargo nextest run --workspace --no-fail-fast || status=$?
echo "== tests on PostgreSQL"
# Then the tests that need PostgreSQL itself (several processes on one
# database, a restart underneath, pg_dump, old PostgreSQL schemas, the store's
# own PostgreSQL tests): ignored on the embedded run, so it reports them skipped
# instead of passing them.
scripts/with-postgres.sh sh -c 'rc=0
    cargo nextest run --workspace --no-fail-fast || rc=$?
    cargo nextest run -p rollcall -p rollcall-store --no-fail-fast --run-ignored only \
        -E "test(/^(postgres|scaleout)::/) | test(/_on_postgres$/)" || rc=$?
    exit $rc' || status=$?
# The Debian package, from the binary the suite just built: dpkg -i, the
# installed binary's smoke test, systemd-analyze verify, purge.
echo "== Debian package"
scripts/package-test.sh || status=$?
exit $status
