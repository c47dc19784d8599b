#!/usr/bin/env bash
# Fuzzes the JSON API with schemathesis (PyPI) against the OpenAPI document the server generates:
# every operation of /api/v1/openapi.json gets requests generated from its schema, as the admin,
# and the run fails on any 5xx answer (`--checks not_a_server_error`).
#
#   [SEED=N] scripts/fuzz-api.sh [MAX_EXAMPLES]     (default: 100 examples per operation, seed 1)
#
# Installs schemathesis into a virtualenv under target/schemathesis-venv (once). Starts
# `donebot serve` (the debug build, built if missing) on a fresh temporary data directory with
# the web on a free loopback port, SMTP off, a team and a member to aim at, and stops it on exit.
# Bounded: the server and schemathesis each run under a timeout; the data directory is removed.
set -euo pipefail

examples=${1:-100}
seed=${SEED:-1}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
venv=$target/schemathesis-venv
limit=${LIMIT:-900} # seconds for each schemathesis pass

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

# Ready when it has written its control file (address and admin token) and answers /healthz. The
# server is another process with no readiness signal but these two, so this polls them (bounded:
# 30 s), with a short real pause between looks.
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

# Something to aim at: a team with a member and a done.
post() { curl -fsS -H "$auth" -H 'Content-Type: application/json' -d "$2" "$api$1"; }
field() { python3 -c 'import json, sys; v = json.load(sys.stdin); print(eval(sys.argv[1], {"v": v}))' "$1"; }
post /teams '{"name":"Core","timezone":"UTC"}' >/dev/null
member=$(post /teams/Core/members '{"name":"Ada","email":"ada@example.org"}' | field 'v["id"]')
done_id=$(post /teams/Core/dones "{\"member_id\": $member, \"text\": \"shipped\"}" | field 'v["dones"][0]["id"]')

# Two passes: path parameters as generated (unknown teams, members, dones: the 404 paths), then
# aimed at the team, member and done above, so that bodies and queries reach the handlers.
aimed=$data/schemathesis.toml
cat >"$aimed" <<TOML
[parameters]
"path.team" = "Core"
"path.member" = $member
"path.done" = $done_id
TOML
status=0
for config in "" "$aimed"; do
    if [ -n "$config" ]; then
        echo "=== pass 2: path parameters aimed at team Core, member $member, done $done_id"
    else
        echo "=== pass 1: path parameters as generated"
    fi
    timeout "$limit" "$venv/bin/schemathesis" ${config:+--config-file "$config"} run "$api/openapi.json" \
        --checks not_a_server_error \
        --header "$auth" \
        --url "$api" \
        --max-examples "$examples" \
        --workers 2 \
        --seed "$seed" \
        --no-color || status=$?
done

if [ "$status" -ne 0 ]; then
    echo "--- server log (errors) ---"
    grep -iE 'error|panic' "$data/serve.log" | tail -50 || true
fi
exit "$status"
