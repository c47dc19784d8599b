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

if ! command -v smtp-sink >/dev/null || ! command -v smtp-source >/dev/null; then
    echo "installing postfix (for smtp-sink and smtp-source only)" >&2
    # policy-rc.d 101 keeps the package scripts from starting the Postfix daemon.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null
    rm -f /usr/sbin/policy-rc.d
fi
[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null

cargo build --release --quiet --bin donebot
BIN=target/release/donebot

WORK=$(mktemp -d)
SINK_PID=
cleanup() {
    [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# smtp-sink refuses to run as root without -u; postfix's own user is the natural one.
SINK_USER=()
[ "$(id -u)" = 0 ] && SINK_USER=(-u postfix)
smtp-sink "${SINK_USER[@]}" -c "127.0.0.1:$PORT" 1000 >"$WORK/sink.log" 2>&1 &
SINK_PID=$!
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

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
