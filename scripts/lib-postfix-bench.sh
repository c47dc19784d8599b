# Shared set-up of the benchmarks against Postfix's tools (sourced, not run): installs smtp-sink
# and smtp-source if missing (without starting a Postfix daemon), builds donebot in release, starts
# smtp-sink on 127.0.0.1:$PORT (stopped on exit), and defines `median`. Sets BIN (unless given),
# WORK, SINK_PID.
# Expects PORT; runs from the repository root.

if ! command -v smtp-sink >/dev/null || ! command -v smtp-source >/dev/null; then
    echo "installing postfix (for smtp-sink and smtp-source only)" >&2
    # policy-rc.d 101 keeps the package scripts from starting the Postfix daemon.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null
    rm -f /usr/sbin/policy-rc.d
fi
[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null

# BIN=path runs an already built binary (say, an earlier commit's, to compare).
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet --bin donebot
    BIN=target/release/donebot
fi

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
# smtp-sink gives no readiness signal: try its port, every 0.1 s for at most 5 s.
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
