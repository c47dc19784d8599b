#!/usr/bin/env bash
# Fuzzes the inbound mail path (bots::email parse + trim) with cargo-fuzz for N seconds; the
# other targets (webhook_sendgrid, webhook_mailgun, telegram_update, raw_mime) run with
# `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET`.
#
#   scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]     (default 300 s)
#
# Installs cargo-fuzz if it is missing. cargo-fuzz needs nightly-only sanitizer flags; on the
# stable toolchain RUSTC_BOOTSTRAP=1 unlocks them. The writable corpus is a fresh temporary
# directory (removed on exit); read-only seeds are this repo's .eml fixtures and, when present,
# the shared reply corpus ($DONEBOT_CORPUS, default ../shared/corpus/email): nothing from it is
# copied into the repo. Crashes land in fuzz/artifacts/parse_trim/ (git-ignored); a crash worth
# keeping goes to fuzz/regressions/, which is replayed first on every run.
set -euo pipefail

secs=${1:-300}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/donebot-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

seeds=("$root/fuzz/regressions" "$root/bots/tests/fixtures/mail")
corpus=${DONEBOT_CORPUS:-$root/../shared/corpus/email}
if [ -d "$corpus" ]; then
    seeds+=("$corpus")
else
    echo "fuzz: no shared corpus at $corpus; seeding from the fixtures only" >&2
fi

cd "$root/fuzz"
# -timeout: a single input taking more than 10 s counts as a hang (the per-message time bound).
RUSTC_BOOTSTRAP=1 cargo fuzz run parse_trim "$work" "${seeds[@]}" -- \
    -max_total_time="$secs" -timeout=10 -print_final_stats=1 "$@"
