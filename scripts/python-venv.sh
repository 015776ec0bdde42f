#!/usr/bin/env bash
# Creates (once per checkout) the Python virtual environment holding the real
# third-party clients the tests drive Rollcall with, and prints its python.
# Safe to run from many test processes at once: they wait on one lock, and the
# venv is rebuilt only when scripts/python-requirements.txt changes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/python-venv"
requirements="$root/scripts/python-requirements.txt"
mkdir -p "$root/target"
exec 9>"$root/target/python-venv.lock"
flock 9
stamp="$venv/.requirements"
if ! cmp -s "$requirements" "$stamp" 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
    cp "$requirements" "$stamp"
fi
echo "$venv/bin/python"
