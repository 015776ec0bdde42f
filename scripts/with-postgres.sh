#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster: installs Debian's
# `postgresql` package when missing, creates a cluster in a temporary directory
# listening on a free loopback port, exports its URL as
# ROLLCALL_TEST_DATABASE_URL (and PG_BIN, ROLLCALL_TEST_PG_DIR for tests that
# restart it), runs the command, then stops the cluster and removes it.
#
#   scripts/with-postgres.sh cargo nextest run
#   ROLLCALL_PG_DURABLE=1 scripts/with-postgres.sh target/release/rollcall bench --database-url …
#
# By default the cluster trades durability for speed (fsync off), which is right
# for tests; ROLLCALL_PG_DURABLE=1 keeps PostgreSQL's durable defaults and gives
# it 1 GB of shared buffers, for benchmarks.
set -euo pipefail

pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

PG_BIN=$(pg_bin || true)
if [ -z "$PG_BIN" ]; then
    echo "installing postgresql"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    PG_BIN=$(pg_bin)
fi

# initdb refuses to run as root; run the cluster as the `postgres` user then.
as_owner=()
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    as_owner=(runuser -u postgres --)
fi

dir=$(mktemp -d /tmp/rollcall-pg.XXXXXX)
chmod 755 "$dir"
[ ${#as_owner[@]} -gt 0 ] && chown postgres "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cleanup() {
    "${as_owner[@]}" "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

"${as_owner[@]}" "$PG_BIN/initdb" -D "$dir/data" -U rollcall --auth=trust -E UTF8 --no-sync >/dev/null
# Enough connections for the suite's parallel tests (each test opens its own
# small pool).
settings="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=400"
if [ "${ROLLCALL_PG_DURABLE:-0}" = 1 ]; then
    settings+=" -c shared_buffers=1GB -c max_wal_size=8GB"
else
    settings+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi
"${as_owner[@]}" "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "$settings" start >/dev/null

export PG_BIN ROLLCALL_TEST_PG_DIR="$dir/data"
export ROLLCALL_TEST_DATABASE_URL="postgres://rollcall@127.0.0.1:$port/postgres?sslmode=disable"
echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($dir)"
"$@"
