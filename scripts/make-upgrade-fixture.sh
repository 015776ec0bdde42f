#!/usr/bin/env bash
# Makes the upgrade test's fixture (crates/rollcall/tests/fixtures/upgrade/)
# from the `rollcall` binary of an earlier commit, as text a reviewer can read:
#
#   scripts/make-upgrade-fixture.sh [COMMIT]     (default: the fixture's commit)
#
# 1. Builds `rollcall` at COMMIT: in this checkout when HEAD is COMMIT and the
#    sources are unchanged, else in a git worktree under target/upgrade-fixture/
#    with its own target directory (seeded from this one's compiled
#    dependencies by hard links, so only the workspace crates compile).
# 2. Embedded store: `admin init`, `serve`, fills the data set through the API
#    (scripts/upgrade-fixture-data.py fill), records every report's answer
#    (… record), stops the server, and dumps the encrypted database as SQL
#    (the test suite's `upgrade::write_embedded_dump`, since the sqlite3 shell
#    cannot read SQLCipher files).
# 3. PostgreSQL (a throwaway cluster from scripts/with-postgres.sh): the same,
#    then `pg_dump` as plain SQL.
#
# Outputs, per backend B in {embedded, postgres}: B.sql, B-credentials.json
# (what `admin init --json` printed: test-only secrets), B-reports.json.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# ROLLCALL_UPGRADE_FIXTURE_OUT: write elsewhere (to compare with the fixture).
out=${ROLLCALL_UPGRADE_FIXTURE_OUT:-$root/crates/rollcall/tests/fixtures/upgrade}
work=$root/target/upgrade-fixture

# The PostgreSQL half runs inside scripts/with-postgres.sh (re-entering here).
if [ "${1:-}" = "__postgres" ]; then
    bin=$2
    db=rc_upgrade_fixture
    psql_bin="$PG_BIN/psql"
    "$psql_bin" -q -X -d "$ROLLCALL_TEST_DATABASE_URL" -c "CREATE DATABASE $db"
    url=$(echo "$ROLLCALL_TEST_DATABASE_URL" | sed "s|/postgres?|/$db?|")
    source "$root/scripts/upgrade-fixture-lib.sh"
    make_data_set postgres --database-url "$url"
    "$PG_BIN/pg_dump" --no-owner --no-privileges --no-comments -d "$url" >"$out/postgres.sql"
    exit 0
fi

commit=$(git rev-parse "${1:-79bf0ac}^{commit}")
[ "${ROLLCALL_UPGRADE_FIXTURE_REBUILD:-0}" = 1 ] && rm -f "$work/rollcall-${commit:0:7}"
short=${commit:0:7}
mkdir -p "$work" "$out"

# 1. The old binary.
bin=$work/rollcall-$short
if [ ! -x "$bin" ]; then
    if [ "$(git rev-parse HEAD)" = "$commit" ] &&
        git diff --quiet HEAD -- Cargo.toml Cargo.lock 'crates/*/Cargo.toml' 'crates/*/src'; then
        echo "building rollcall $short in this checkout"
        cargo build -p rollcall --bin rollcall
        cp target/debug/rollcall "$bin"
    else
        echo "building rollcall $short in $work/src"
        git worktree remove --force "$work/src" 2>/dev/null || rm -rf "$work/src"
        git worktree add --detach --force "$work/src" "$commit" >/dev/null
        if [ ! -d "$work/target/debug/deps" ] && [ -d target/debug/deps ]; then
            mkdir -p "$work/target/debug"
            for d in deps build .fingerprint; do
                cp -al "target/debug/$d" "$work/target/debug/$d"
            done
        fi
        (cd "$work/src" && CARGO_TARGET_DIR="$work/target" cargo build -p rollcall --bin rollcall)
        cp "$work/target/debug/rollcall" "$bin"
        git worktree remove --force "$work/src"
    fi
fi
echo "old binary: $bin ($("$bin" --version))"

# 2. The embedded store.
source scripts/upgrade-fixture-lib.sh
data=$(mktemp -d /tmp/rollcall-upgrade.XXXXXX)
trap 'rm -rf "$data"' EXIT
make_data_set embedded --data-dir "$data"
echo "dumping the embedded database"
ROLLCALL_UPGRADE_DUMP_FROM=$data ROLLCALL_UPGRADE_DUMP_TO=$out/embedded.sql \
    cargo test -q -p rollcall --test api -- --ignored --exact upgrade::write_embedded_dump >/dev/null

# 3. PostgreSQL.
scripts/with-postgres.sh "$0" __postgres "$bin"

cat >"$out/made-by.txt" <<EOF
Made by scripts/make-upgrade-fixture.sh from rollcall $commit
($(git log -1 --format='%cd, %s' --date=iso-strict "$commit" | cut -c1-120)…)
on $(date -u +%Y-%m-%dT%H:%MZ).
EOF
ls -l "$out"
