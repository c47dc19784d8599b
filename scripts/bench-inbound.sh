#!/usr/bin/env bash
# Inbound receipt and end to end on realistic traffic against Postfix's own tools, like for like
# (docs/bench-inbound.md).
#
#   scripts/bench-inbound.sh [MESSAGES] [CONCURRENCY] [ROUNDS] [MEMBERS] [TEAMS]
#                                                      (defaults: 20000 16 3 1000 50)
#
# Each round runs `donebot bench inbound` (an in-process donebot whose SMTP listener makes every
# message durable before 250, then matches it by its reply token, trims it and records its dones
# until they are searchable; the replies come from MEMBERS members in TEAMS teams, each to the
# member's own prompt) and then `smtp-source -d -F reply` into smtp-sink (no Postfix daemon is
# started): the same count, the same concurrency, pooled sessions, and the very reply donebot's
# client sends first (written by the first donebot run with --sample), so the messages are the
# same size. The ratios are taken per round (both ran under the same load) and their median is
# reported: receipt (last 250) and end to end (searchable). Each figure has the 1-minute load
# average beside it. Bounded: smtp-sink is killed on exit, every run has a timeout.
set -euo pipefail

N=${1:-20000}
C=${2:-16}
ROUNDS=${3:-3}
MEMBERS=${4:-1000}
TEAMS=${5:-50}
PORT=${PORT:-25260}
LIMIT=${LIMIT:-1800} # seconds, per run

cd "$(dirname "$0")/.."

. scripts/lib-postfix-bench.sh

load() { cut -d' ' -f1 /proc/loadavg; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (with uncommitted changes)')"
echo "messages $N, concurrency $C, $ROUNDS alternating rounds, replies from $MEMBERS members in $TEAMS teams"

SAMPLE="$WORK/reply.txt"
: >"$WORK/src.rates"; : >"$WORK/src.mem"; : >"$WORK/db.acc"; : >"$WORK/db.e2e"; : >"$WORK/db.mem"
: >"$WORK/ratio.acc"; : >"$WORK/ratio.e2e"
for round in $(seq "$ROUNDS"); do
    l=$(load)
    RUST_LOG=warn timeout "$LIMIT" "$BIN" bench inbound --messages "$N" --concurrency "$C" \
        --members "$MEMBERS" --teams "$TEAMS" --sample "$SAMPLE" \
        >"$WORK/db.out" 2>"$WORK/db.err" ||
        { cat "$WORK/db.err" >&2; exit 1; }
    acc=$(awk '/^accepted:/ {print $8}' "$WORK/db.out")
    e2e=$(awk '/^inbound:/ {print $(NF-1)}' "$WORK/db.out")
    mem=$(awk '/^peak RSS/ {print $(NF-1)}' "$WORK/db.out")
    echo "$acc" >>"$WORK/db.acc"; echo "$e2e" >>"$WORK/db.e2e"; echo "$mem" >>"$WORK/db.mem"
    grep -E '^(sessions|accepted|recorded|dones|inbound)' "$WORK/db.out" | sed "s/^/round $round donebot: /"
    echo "round $round donebot: peak RSS $mem MiB (load $l at its start)"

    l=$(load)
    start=$(date +%s.%N)
    timeout "$LIMIT" /usr/bin/time -f '%M' -o "$WORK/src.time" \
        smtp-source -d -s "$C" -m "$N" -F "$SAMPLE" "127.0.0.1:$PORT" >/dev/null
    end=$(date +%s.%N)
    rate=$(echo "$N / ($end - $start)" | bc -l)
    echo "$rate" >>"$WORK/src.rates"
    tail -1 "$WORK/src.time" >>"$WORK/src.mem"
    printf 'round %d smtp-source -d -F (%s bytes a message, CRLF): %.0f messages/s, peak RSS %s KiB (load %s at its start)\n' \
        "$round" "$(($(wc -c <"$SAMPLE") + $(wc -l <"$SAMPLE")))" "$rate" "$(tail -1 "$WORK/src.time")" "$l"
    ra=$(echo "$acc / $rate" | bc -l); re=$(echo "$e2e / $rate" | bc -l)
    echo "$ra" >>"$WORK/ratio.acc"; echo "$re" >>"$WORK/ratio.e2e"
    printf 'round %d ratio: receipt %.2f, end to end %.2f\n' "$round" "$ra" "$re"
done

echo
printf 'median smtp-source -d -F -> smtp-sink: %.0f messages/s, peak RSS %s KiB\n' \
    "$(median <"$WORK/src.rates")" "$(median <"$WORK/src.mem")"
printf 'median donebot receipt (last 250):      %.0f messages/s\n' "$(median <"$WORK/db.acc")"
printf 'median donebot end to end (searchable): %.0f messages/s, peak RSS %s MiB\n' \
    "$(median <"$WORK/db.e2e")" "$(median <"$WORK/db.mem")"
printf 'median of the rounds ratios, donebot / smtp-source: receipt %.2f (target >= 0.3), end to end %.2f (target >= 0.3)\n' \
    "$(median <"$WORK/ratio.acc")" "$(median <"$WORK/ratio.e2e")"
