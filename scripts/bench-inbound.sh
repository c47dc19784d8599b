#!/usr/bin/env bash
# Inbound receipt against Postfix's own tools, in the same run (see docs/bench-inbound.md).
#
#   scripts/bench-inbound.sh [MESSAGES] [CONCURRENCY] [RUNS]     (defaults: 20000 16 3)
#
# Starts Postfix's smtp-sink on 127.0.0.1 (no Postfix daemon is started) and times smtp-source
# sending MESSAGES 3,000-byte messages to it over CONCURRENCY sessions, several messages per
# session (-d): how fast a bare SMTP sink accepts, keeping nothing. Then `donebot bench inbound`
# with the same count and concurrency: an in-process donebot whose SMTP listener makes every
# message durable before 250, then parses, trims and records it. Each is run RUNS times; medians
# and the ratio are printed. Runs start only when the machine is quiet (1-minute load below
# MAX_LOAD, waiting at most WAIT_QUIET seconds). Every process it starts is bounded: smtp-sink is
# killed on exit, each run has a timeout.
set -euo pipefail

N=${1:-20000}
C=${2:-16}
RUNS=${3:-3}
PORT=${PORT:-25260}
SIZE=3000
LIMIT=${LIMIT:-1800}       # seconds, per run
MAX_LOAD=${MAX_LOAD:-1.0}  # wait for the 1-minute load average to drop below this
WAIT_QUIET=${WAIT_QUIET:-600}

cd "$(dirname "$0")/.."

. scripts/lib-postfix-bench.sh

# Waits (bounded) until the 1-minute load average is below MAX_LOAD; reports what it saw.
wait_quiet() {
    local waited=0 load
    while :; do
        load=$(cut -d' ' -f1 /proc/loadavg)
        if awk -v l="$load" -v m="$MAX_LOAD" 'BEGIN {exit !(l < m)}'; then
            echo "load $load" >&2
            return
        fi
        if [ "$waited" -ge "$WAIT_QUIET" ]; then
            echo "load still $load after ${WAIT_QUIET} s; running anyway (figures are noisier)" >&2
            return
        fi
        # A real delay: the 1-minute load average moves over tens of seconds; look again in 20 s
        # (bounded by WAIT_QUIET).
        sleep 20
        waited=$((waited + 20))
    done
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "messages $N, concurrency $C, smtp-source message size $SIZE bytes, $RUNS runs each"

: >"$WORK/src.rates"; : >"$WORK/src.mem"; : >"$WORK/db.rates"; : >"$WORK/db.acc"; : >"$WORK/db.mem"
for run in $(seq "$RUNS"); do
    wait_quiet
    start=$(date +%s.%N)
    timeout "$LIMIT" /usr/bin/time -f '%M' -o "$WORK/src.time" \
        smtp-source -d -s "$C" -l "$SIZE" -m "$N" "127.0.0.1:$PORT" >/dev/null
    end=$(date +%s.%N)
    rate=$(echo "$N / ($end - $start)" | bc -l)
    printf '%.0f\n' "$rate" >>"$WORK/src.rates"
    tail -1 "$WORK/src.time" >>"$WORK/src.mem"
    printf 'run %d smtp-source: %.0f messages/s, peak RSS %s KiB (load %s)\n' "$run" "$rate" \
        "$(tail -1 "$WORK/src.time")" "$(cut -d' ' -f1 /proc/loadavg)"

    wait_quiet
    RUST_LOG=warn timeout "$LIMIT" "$BIN" bench inbound --messages "$N" --concurrency "$C" \
        >"$WORK/db.out" 2>"$WORK/db.err" ||
        { cat "$WORK/db.err" >&2; exit 1; }
    grep -E '^(sessions|accepted|recorded|dones|peak RSS)' "$WORK/db.out" | sed "s/^/run $run donebot /"
    tail -1 "$WORK/db.out" | sed "s/^/run $run donebot /"
    tail -1 "$WORK/db.out" | awk '{print $(NF-1)}' >>"$WORK/db.rates"
    grep '^accepted' "$WORK/db.out" | awk '{print $8}' >>"$WORK/db.acc"
    grep '^peak RSS' "$WORK/db.out" | awk '{print $(NF-1)}' >>"$WORK/db.mem"
done

SRC=$(median <"$WORK/src.rates")
DB=$(median <"$WORK/db.rates")
echo
echo "median smtp-source -> smtp-sink: $SRC messages/s, peak RSS $(median <"$WORK/src.mem") KiB"
echo "median donebot accepted:         $(median <"$WORK/db.acc") messages/s (last 250)"
echo "median donebot end to end:       $DB messages/s (dones recorded and searchable), peak RSS $(median <"$WORK/db.mem") MiB"
ACC=$(median <"$WORK/db.acc")
echo "ratio donebot receipt (durable before 250) / smtp-sink: $(echo "$ACC / $SRC" | bc -l | xargs printf '%.2f') (target >= 0.3)"
echo "ratio donebot end to end (searchable) / smtp-sink:      $(echo "$DB / $SRC" | bc -l | xargs printf '%.2f')"
