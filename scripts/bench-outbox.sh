#!/usr/bin/env bash
# Outbox throughput against Postfix's smtp-source at its best, like for like (docs/bench-outbox.md).
#
#   scripts/bench-outbox.sh [MESSAGES] [CONCURRENCY] [ROUNDS]     (defaults: 30000 20 5)
#
# One smtp-sink on 127.0.0.1 (no Postfix daemon is started) takes both senders' mail. Each round
# runs `donebot bench outbox` and then `smtp-source -d` (pooled: every session sends message after
# message, no reconnect), with the same message count, the same concurrency (`-s`) and messages of
# the same size on the wire: smtp-source's payload length (`-l`) is chosen so that its messages,
# headers included, are as long as donebot's average prompt (both sizes are printed). The ratio is
# taken per round (both ran under the same load) and the median of the rounds' ratios is reported,
# for donebot's send phase (claim, SMTP, durable `sent`; everything enqueued first, then sent
# from a full queue) and for its end to end (from the prompts being due to every one accepted by
# the sink, in a second run with `--overlap`: the outbox sends while the prompts are rendered and
# made durable a team at a time, as the server does at a prompt time); smtp-source has no
# enqueue phase, its one figure is both. Each figure has the 1-minute load average beside it, and
# each side's CPU time per message (user + system, /usr/bin/time), which a loaded machine moves
# far less than the wall-clock rates (donebot's threads and smtp-source's one process do not get
# the same share of a contended CPU).
# Bounded: smtp-sink is killed on exit, every run has a timeout.
set -euo pipefail

N=${1:-30000}
C=${2:-20}
ROUNDS=${3:-5}
PORT=${PORT:-25250}
LIMIT=${LIMIT:-1800} # seconds, per run
HELO=bench.localhost # smtp-source's -M: fixes the length of its own headers

cd "$(dirname "$0")/.."

. scripts/lib-postfix-bench.sh

load() { cut -d' ' -f1 /proc/loadavg; }

# The bytes smtp-source puts on the wire for one message with payload length $1 (headers, body,
# CRLF line ends; without the final "."): one message through a second smtp-sink that dumps it,
# minus the headers smtp-sink itself prepends (everything before smtp-source's "From:").
source_message_bytes() {
    local dir="$WORK/dump.d" port=$((PORT + 1)) pid n
    local dump="$dir/dump"
    # smtp-sink writes the dump as the user it runs as (postfix, when run as root).
    mkdir -p "$dir" && chmod 1777 "$dir" && chmod 755 "$WORK" && rm -f "$dump"
    smtp-sink "${SINK_USER[@]}" -D "$dump" "127.0.0.1:$port" 10 >/dev/null 2>&1 &
    pid=$!
    # smtp-sink gives no readiness signal: try its port, every 0.1 s for at most 5 s.
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    smtp-source -M "$HELO" -l "$1" -m 1 "127.0.0.1:$port" >/dev/null
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    [ -s "$dump" ] || { echo "smtp-sink wrote no dump; cannot size smtp-source's messages" >&2; exit 1; }
    # The dump has LF line ends; on the wire each is CRLF.
    n=$(awk '/^From: / {on = 1} on {bytes += length($0) + 2} END {print bytes}' "$dump")
    echo "$n"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (with uncommitted changes)')"
echo "messages $N, concurrency $C, $ROUNDS alternating rounds"

: >"$WORK/ratio.send"; : >"$WORK/ratio.e2e"
: >"$WORK/src.rates"; : >"$WORK/src.mem"; : >"$WORK/db.send"; : >"$WORK/db.e2e"; : >"$WORK/db.mem"
: >"$WORK/src.cpu"; : >"$WORK/db.cpu"
LENGTH=
for round in $(seq "$ROUNDS"); do
    l=$(load)
    RUST_LOG=warn timeout "$LIMIT" /usr/bin/time -f '%U %S' -o "$WORK/db.time" \
        "$BIN" bench outbox --smtp "127.0.0.1:$PORT" \
        --messages "$N" --concurrency "$C" >"$WORK/db.out" 2>"$WORK/db.err" ||
        { cat "$WORK/db.err" >&2; exit 1; }
    cpu=$(tail -1 "$WORK/db.time" | awk -v n="$N" '{printf "%.1f", ($1 + $2) * 1e6 / n}')
    echo "$cpu" >>"$WORK/db.cpu"
    send=$(awk '/^outbox:/ {print $(NF-1)}' "$WORK/db.out")
    mem=$(awk '/^peak RSS/ {print $(NF-1)}' "$WORK/db.out")
    size=$(sed -n 's/.*(avg message \([0-9]*\) bytes.*/\1/p' "$WORK/db.out")
    echo "$send" >>"$WORK/db.send"; echo "$mem" >>"$WORK/db.mem"
    grep -E '^(enqueue|states|end to end|outbox)' "$WORK/db.out" | sed "s/^/round $round donebot: /"
    echo "round $round donebot: peak RSS $mem MiB, CPU (user + system, whole process) $cpu µs a message (load $l at its start)"

    # End to end as the server runs it: the outbox sends while the prompts are being enqueued,
    # a team at a time (`--overlap`).
    l=$(load)
    RUST_LOG=warn timeout "$LIMIT" "$BIN" bench outbox --overlap --smtp "127.0.0.1:$PORT" \
        --messages "$N" --concurrency "$C" >"$WORK/db.out" 2>"$WORK/db.err" ||
        { cat "$WORK/db.err" >&2; exit 1; }
    e2e=$(awk '/^end to end:/ {print $10}' "$WORK/db.out")
    echo "$e2e" >>"$WORK/db.e2e"
    grep -E '^(enqueue|states|end to end)' "$WORK/db.out" | sed "s/^/round $round donebot --overlap: /"
    echo "round $round donebot --overlap: load $l at its start"

    if [ -z "$LENGTH" ]; then
        # smtp-source's payload length for messages as long as donebot's: one measurement, then a
        # correction for the CRLFs smtp-source adds every ~80 payload bytes.
        base=$(source_message_bytes 1000)
        LENGTH=$(((size - base) * 80 / 81 + 1000))
        SOURCE_BYTES=$(source_message_bytes "$LENGTH")
        echo "message size on the wire: donebot $size bytes (average prompt), smtp-source $SOURCE_BYTES bytes (-l $LENGTH)"
    fi

    l=$(load)
    start=$(date +%s.%N)
    timeout "$LIMIT" /usr/bin/time -f '%M %U %S' -o "$WORK/src.time" \
        smtp-source -d -M "$HELO" -s "$C" -l "$LENGTH" -m "$N" "127.0.0.1:$PORT" >/dev/null
    end=$(date +%s.%N)
    rate=$(echo "$N / ($end - $start)" | bc -l)
    echo "$rate" >>"$WORK/src.rates"
    read -r smem su ss <"$WORK/src.time"
    echo "$smem" >>"$WORK/src.mem"
    scpu=$(echo "($su + $ss) * 1000000 / $N" | bc -l | xargs printf '%.1f')
    echo "$scpu" >>"$WORK/src.cpu"
    printf 'round %d smtp-source -d: %d messages in %.2f s = %.0f messages/s, peak RSS %s KiB, CPU %s µs a message (load %s at its start)\n' \
        "$round" "$N" "$(echo "$end - $start" | bc -l)" "$rate" "$smem" "$scpu" "$l"
    rs=$(echo "$send / $rate" | bc -l); re=$(echo "$e2e / $rate" | bc -l)
    echo "$rs" >>"$WORK/ratio.send"; echo "$re" >>"$WORK/ratio.e2e"
    printf 'round %d ratio: send phase %.2f, end to end %.2f\n' "$round" "$rs" "$re"
done

echo
printf 'median smtp-source -d:      %.0f messages/s, peak RSS %s KiB (%s bytes a message)\n' \
    "$(median <"$WORK/src.rates")" "$(median <"$WORK/src.mem")" "$SOURCE_BYTES"
printf 'median donebot send phase:  %.0f messages/s\n' "$(median <"$WORK/db.send")"
printf 'median donebot end to end:  %.0f messages/s, peak RSS %s MiB (%s bytes a message)\n' \
    "$(median <"$WORK/db.e2e")" "$(median <"$WORK/db.mem")" "$size"
printf 'median CPU a message (user + system): donebot %s µs (enqueue and send, the back-to-back run), smtp-source %s µs (smtp-sink not counted on either side)\n' \
    "$(median <"$WORK/db.cpu")" "$(median <"$WORK/src.cpu")"
printf 'median of the rounds ratios, donebot / smtp-source -d: send phase %.2f (target >= 0.7), end to end %.2f (target >= 0.5)\n' \
    "$(median <"$WORK/ratio.send")" "$(median <"$WORK/ratio.e2e")"
