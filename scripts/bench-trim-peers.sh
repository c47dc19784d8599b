#!/usr/bin/env bash
# donebot's reply trimmer against the Python peers (talon, email_reply_parser, mail-parser-reply)
# on the shared reply corpus, accuracy and messages/s, all measured in one run.
#
#   scripts/bench-trim-peers.sh [PASSES]          (default 30)
#
# The peers go into a throwaway virtualenv under target/ (created on first use, reused after).
# talon 1.4.4 pins nothing that fails on CPython 3.11 today; if its full install ever does, only
# what talon.quotations.extract_from_plain imports is installed beside it with --no-deps.
# The corpus is $DONEBOT_CORPUS, default ../shared/corpus/email beside the repository.
set -euo pipefail

passes=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
corpus=${DONEBOT_CORPUS:-$root/../shared/corpus/email}
if [ ! -f "$corpus/cases.tsv" ]; then
    echo "bench-trim-peers: no corpus at $corpus (set DONEBOT_CORPUS)" >&2
    exit 2
fi
export DONEBOT_CORPUS=$corpus

venv=$root/target/trim-peers-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
fi
pip=("$venv/bin/pip" install --quiet --disable-pip-version-check)
"$venv/bin/python" -c 'import talon.quotations' 2>/dev/null || "${pip[@]}" talon || {
    echo "bench-trim-peers: full talon install failed; installing it with --no-deps" >&2
    "${pip[@]}" --no-deps talon
    "${pip[@]}" regex chardet lxml cssselect html5lib six
}
"$venv/bin/python" -c 'import email_reply_parser' 2>/dev/null || "${pip[@]}" email_reply_parser ||
    echo "bench-trim-peers: email_reply_parser did not install" >&2
"$venv/bin/python" -c 'import mailparser_reply' 2>/dev/null || "${pip[@]}" mail-parser-reply ||
    echo "bench-trim-peers: mail-parser-reply did not install" >&2

ours=$(mktemp "${TMPDIR:-/tmp}/trim-ours.XXXXXX")
trap 'rm -f "$ours"' EXIT
cd "$root"
cargo build --release --quiet -p bots --example trim_corpus
cargo run --release --quiet -p bots --example trim_corpus -- --passes "$passes" --tsv | tee "$ours" >&2
"$venv/bin/python" "$root/scripts/trim_peers.py" "$corpus" --ours "$ours" --passes "$passes"
