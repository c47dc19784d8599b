#!/usr/bin/env bash
# Outbox throughput against Postfix's own tools, in the same run (see docs/bench-outbox.md).
#
#   scripts/bench-outbox.sh [MESSAGES] [CONCURRENCY] [RUNS]     (defaults: 100000 16 3)
#
# Starts Postfix's smtp-sink on 127.0.0.1 (no Postfix daemon is started), times smtp-source
# against it (the raw SMTP rate, no state kept), then `donebot bench outbox` against the same sink
# with the same message count and concurrency. Each is run RUNS times; the medians are printed.
# Every process it starts is bounded: smtp-sink is killed on exit, each run has a timeout.
set -euo pipefail

N=${1:-100000}
C=${2:-16}
RUNS=${3:-3}
PORT=${PORT:-25250}
SIZE=3000
LIMIT=${LIMIT:-1800} # seconds, per run

cd "$(dirname "$0")/.."

. scripts/lib-postfix-bench.sh

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "messages $N, concurrency $C, smtp-source message size $SIZE bytes, $RUNS runs each"

: >"$WORK/src.rates"; : >"$WORK/src.mem"; : >"$WORK/db.rates"; : >"$WORK/db.mem"
for run in $(seq "$RUNS"); do
    start=$(date +%s.%N)
    timeout "$LIMIT" /usr/bin/time -f '%M' -o "$WORK/src.time" \
        smtp-source -c -l "$SIZE" -m "$N" -s "$C" "127.0.0.1:$PORT" >/dev/null
    end=$(date +%s.%N)
    rate=$(echo "$N / ($end - $start)" | bc -l)
    printf '%.0f\n' "$rate" >>"$WORK/src.rates"
    tail -1 "$WORK/src.time" >>"$WORK/src.mem"
    printf 'run %d smtp-source: %.0f messages/s, peak RSS %s KiB\n' "$run" "$rate" "$(tail -1 "$WORK/src.time")"

    RUST_LOG=warn timeout "$LIMIT" "$BIN" bench outbox --smtp "127.0.0.1:$PORT" \
        --messages "$N" --concurrency "$C" >"$WORK/db.out" 2>"$WORK/db.err" ||
        { cat "$WORK/db.err" >&2; exit 1; }
    grep -E '^(enqueue|peak RSS)' "$WORK/db.out" | sed "s/^/run $run donebot /"
    tail -1 "$WORK/db.out" | sed "s/^/run $run donebot /"
    tail -1 "$WORK/db.out" | awk '{print $(NF-1)}' >>"$WORK/db.rates"
    grep '^peak RSS' "$WORK/db.out" | awk '{print $(NF-1)}' >>"$WORK/db.mem"
done

SRC=$(median <"$WORK/src.rates")
DB=$(median <"$WORK/db.rates")
echo
echo "median smtp-source: $SRC messages/s, peak RSS $(median <"$WORK/src.mem") KiB"
echo "median donebot:     $DB messages/s, peak RSS $(median <"$WORK/db.mem") MiB"
echo "ratio donebot / smtp-source: $(echo "$DB / $SRC" | bc -l | xargs printf '%.2f')"
