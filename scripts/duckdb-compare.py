#!/usr/bin/env python3
"""Issue 18 #1's DuckDB comparison: the benchmark's usage questions asked of DuckDB
on the raw events the harness pushed.

Usage:
    rollcall bench --export-events /tmp/events.csv ...     # writes events.csv,
                                                           # events.csv.org.csv,
                                                           # events.csv.groups.csv
    python3 -m venv /tmp/duckdb-venv && /tmp/duckdb-venv/bin/pip install duckdb
    /tmp/duckdb-venv/bin/python scripts/duckdb-compare.py /tmp/events.csv [--repeat 20]

DuckDB is not a dependency of Rollcall, its tests or CI: install it in its own
virtual environment as above.

The events are loaded into an in-memory DuckDB table once (timed apart), then each
question runs `--repeat` times and its p50 (and first call) is printed in ms:
  - engagement by team, feature group "Group 0", the last 7 days (the harness's
    "engagement by team, 7 days"): per team, the employees, those with an event of
    the group in the window, and the percentage;
  - inactive users of "Group 0", 30 days (the harness's "inactive users, Group 0,
    30 days", over the org chart's employees): who has no event of the group in
    the window, with their last event of the group.
The app is the one with the most events (the harness's first app, which its
reports ask about). Days are UTC days ending today, as the harness's account
(time zone UTC) counts them.
"""
import argparse
import datetime as dt
import statistics
import time

import duckdb

ENGAGEMENT = """
WITH active AS (
    SELECT DISTINCT e.email
    FROM events e JOIN groups g ON g.app = e.app AND g.event = e.event
    WHERE e.app = $app AND g.feature_group = $group
      AND e.timestamp_ms >= $since AND e.timestamp_ms < $until
)
SELECT o.team, count(*) AS population, count(a.email) AS active,
       round(100.0 * count(a.email) / count(*), 1) AS percent
FROM org o LEFT JOIN active a ON a.email = o.email
GROUP BY o.team ORDER BY o.team
"""

INACTIVE = """
WITH last AS (
    SELECT e.email, max(e.timestamp_ms) AS last_ms
    FROM events e JOIN groups g ON g.app = e.app AND g.event = e.event
    WHERE e.app = $app AND g.feature_group = $group AND e.timestamp_ms < $until
    GROUP BY e.email
)
SELECT o.email, o.team, l.last_ms
FROM org o LEFT JOIN last l ON l.email = o.email
WHERE l.last_ms IS NULL OR l.last_ms < $since
ORDER BY o.email
"""


def day_start_ms(day):
    return int(dt.datetime.combine(day, dt.time(), dt.timezone.utc).timestamp() * 1000)


def timed(con, sql, params, repeat):
    """First call's ms, p50 ms of the calls after it, and the answer's row count."""
    took = []
    rows = 0
    for _ in range(repeat + 1):
        started = time.perf_counter()
        rows = len(con.execute(sql, params).fetchall())
        took.append((time.perf_counter() - started) * 1000)
    return took[0], statistics.median(took[1:]), rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", help="the CSV written by `rollcall bench --export-events`")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--group", default="Group 0")
    parser.add_argument("--threads", type=int, help="DuckDB's threads (default: its own)")
    args = parser.parse_args()

    con = duckdb.connect()
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    started = time.perf_counter()
    con.execute(
        "CREATE TABLE events AS SELECT * FROM read_csv($path, header = true, "
        "columns = {'app': 'VARCHAR', 'timestamp_ms': 'BIGINT', 'email': 'VARCHAR', 'event': 'VARCHAR'})",
        {"path": args.events},
    )
    con.execute("CREATE TABLE org AS SELECT * FROM read_csv($path, header = true)",
                {"path": args.events + ".org.csv"})
    con.execute("CREATE TABLE groups AS SELECT * FROM read_csv($path, header = true)",
                {"path": args.events + ".groups.csv"})
    loaded = time.perf_counter() - started
    (count,) = con.execute("SELECT count(*) FROM events").fetchone()
    (app,) = con.execute(
        "SELECT app FROM events GROUP BY app ORDER BY count(*) DESC LIMIT 1").fetchone()
    print(f"DuckDB {duckdb.__version__}: {count} events loaded in {loaded:.1f} s; app {app}")

    today = dt.datetime.now(dt.timezone.utc).date()
    until = day_start_ms(today + dt.timedelta(days=1))
    print(f"{'question':<44} {'rows':>6} {'first ms':>9} {'p50 ms':>9}")
    for name, sql, days in [
        (f"engagement by team, {args.group}, 7 days", ENGAGEMENT, 7),
        (f"inactive users, {args.group}, 30 days", INACTIVE, 30),
    ]:
        since = day_start_ms(today - dt.timedelta(days=days - 1))
        params = {"app": app, "group": args.group, "since": since, "until": until}
        first, p50, rows = timed(con, sql, params, args.repeat)
        print(f"{name:<44} {rows:>6} {first:>9.2f} {p50:>9.2f}")


if __name__ == "__main__":
    main()
