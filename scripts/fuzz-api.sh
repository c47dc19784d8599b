#!/usr/bin/env bash
# Fuzzes the JSON API with schemathesis (PyPI) against the OpenAPI document the server generates:
# every operation of /api/v1/openapi.json gets requests generated from its schema, as the admin,
# and the run fails on any 5xx answer (`--checks not_a_server_error`).
#
#   scripts/fuzz-api.sh [MAX_EXAMPLES]          (default 30 examples per operation)
#
# Installs schemathesis into a virtualenv under target/schemathesis-venv (once). Starts
# `donebot serve` (the debug build, built if missing) on a fresh temporary data directory with
# the web on a free loopback port, SMTP off, a team and a member to aim at, and stops it on exit.
# Bounded: the server and schemathesis each run under a timeout; the data directory is removed.
set -euo pipefail

examples=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
venv=$target/schemathesis-venv
limit=${LIMIT:-900} # seconds for the whole schemathesis run

if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet 'schemathesis>=3.39,<5'
fi
echo "schemathesis $("$venv/bin/schemathesis" --version 2>/dev/null | tail -1)"

(cd "$root" && cargo build --quiet --bin donebot)
donebot=$target/debug/donebot

data=$(mktemp -d "${TMPDIR:-/tmp}/donebot-fuzz-api.XXXXXX")
server=
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$data"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DONEBOT_DATA_DIR=$data
export DONEBOT_WEB__LISTEN=127.0.0.1:$port
export DONEBOT_WEB__BACKUP_DIR=$data/backups
export DONEBOT_INBOUND_SMTP__LISTEN=
export DONEBOT_LOG=${DONEBOT_LOG:-warn}
timeout "$((limit + 120))" "$donebot" serve >"$data/serve.log" 2>&1 &
server=$!

# Ready when it has written its control file (address and admin token) and answers /healthz.
for _ in $(seq 300); do
    if [ -s "$data/control.json" ] && curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
        break
    fi
    kill -0 "$server" 2>/dev/null || { cat "$data/serve.log"; exit 1; }
    sleep 0.1
done
token=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["token"])' "$data/control.json")
api=http://127.0.0.1:$port/api/v1
auth="Authorization: Bearer $token"

# Something to aim at: a team (id 1 is not guaranteed; its name is) with a member and a done.
curl -fsS -H "$auth" -H 'Content-Type: application/json' -d '{"name":"Core","timezone":"UTC"}' "$api/teams" >/dev/null
curl -fsS -H "$auth" -H 'Content-Type: application/json' -d '{"name":"Ada","email":"ada@example.org"}' "$api/teams/Core/members" >/dev/null

status=0
timeout "$limit" "$venv/bin/schemathesis" run "$api/openapi.json" \
    --checks not_a_server_error \
    --header "$auth" \
    --url "$api" \
    --max-examples "$examples" \
    --workers 2 \
    --seed 1 \
    --no-color || status=$?

if [ "$status" -ne 0 ]; then
    echo "--- server log (errors) ---"
    grep -iE 'error|panic' "$data/serve.log" | tail -50 || true
fi
exit "$status"
