#!/usr/bin/env python3
"""The Python reply trimmers (talon, email_reply_parser, mail-parser-reply) on the shared reply
corpus: exact-match accuracy per source (the corpus comparison rule) and throughput (messages/s,
median over timed passes), printed as Markdown tables beside donebot's own figures.

    trim_peers.py CORPUS_DIR [--ours OURS_TSV] [--passes N] [--max-seconds S]

OURS_TSV is what `cargo run --release -p bots --example trim_corpus -- --tsv` printed in the same
run (scripts/bench-trim-peers.sh does both). For `eml` cases each peer gets the decoded text/plain
part (Python's email package); decoding happens once, before timing, so a peer's rate covers
trimming only, while donebot's covers MIME parsing of those cases too. A peer that is not
installed is reported as missing, not fatal.
"""

import argparse
import email
import email.policy
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path


def canonical(text):
    """The corpus rule: CRLF to LF, trailing white space per line and outer blank lines stripped."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def plain_part(raw):
    """The decoded text/plain body of a whole message ('' when it has none)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    part = msg.get_body(preferencelist=("plain",))
    if part is None:
        return ""
    try:
        return part.get_content()
    except (LookupError, UnicodeError):
        return part.get_payload(decode=True).decode("utf-8", "replace")


def load(corpus):
    cases = []
    rows = (corpus / "cases.tsv").read_text(encoding="utf-8").splitlines()[1:]
    for row in rows:
        if not row.strip():
            continue
        cols = row.split("\t")
        raw = (corpus / cols[0]).read_bytes()
        text = plain_part(raw) if cols[4] == "eml" else raw.decode("utf-8", "replace")
        expected = canonical((corpus / cols[1]).read_bytes().decode("utf-8", "replace"))
        cases.append((cols[0].split("/")[0], text, expected))
    return cases


def peers():
    """(name, version, trim function) for every peer that imports."""
    found = []
    try:
        from talon import quotations

        found.append(("talon", metadata.version("talon"), quotations.extract_from_plain))
    except Exception as e:  # noqa: BLE001 - report any import failure and go on
        print(f"talon: not available ({e})", file=sys.stderr)
    try:
        from email_reply_parser import EmailReplyParser as Erp

        found.append(("email_reply_parser", metadata.version("email_reply_parser"), Erp.parse_reply))
    except Exception as e:  # noqa: BLE001
        print(f"email_reply_parser: not available ({e})", file=sys.stderr)
    try:
        from mailparser_reply import EmailReplyParser as Mpr
        from mailparser_reply.constants import MAIL_LANGUAGES

        parser = Mpr(languages=list(MAIL_LANGUAGES))
        found.append(
            ("mail-parser-reply", metadata.version("mail-parser-reply"),
             lambda text: parser.parse_reply(text) or "")
        )
    except Exception as e:  # noqa: BLE001
        print(f"mail-parser-reply: not available ({e})", file=sys.stderr)
    return found


def accuracy(trim, cases):
    per_source = {}
    for source, text, expected in cases:
        try:
            got = canonical(trim(text) or "")
        except Exception:  # noqa: BLE001 - a peer that raises on a case fails that case
            got = None
        ok, total = per_source.get(source, (0, 0))
        per_source[source] = (ok + (got == expected), total + 1)
    return per_source


def rate(trim, cases, passes, max_seconds):
    """Median messages/s over up to `passes` timed passes (at least 3, else stop at max_seconds)."""
    texts = [text for _, text, _ in cases]

    def one_pass():
        for text in texts:
            try:
                trim(text)
            except Exception:  # noqa: BLE001
                pass

    one_pass()  # warm-up: regex compilation, lazy imports
    rates, spent = [], 0.0
    while len(rates) < passes and (len(rates) < 3 or spent < max_seconds):
        start = time.perf_counter()
        one_pass()
        elapsed = time.perf_counter() - start
        spent += elapsed
        rates.append(len(texts) / elapsed)
    return statistics.median(rates), len(rates)


def read_ours(path):
    per_source, rate_ = {}, None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        cols = line.split("\t")
        if cols[0] == "source" and len(cols) == 4:
            per_source[cols[1]] = (int(cols[2]), int(cols[3]))
        elif cols[0] == "rate" and len(cols) == 3:
            rate_ = (float(cols[1]), int(cols[2]))
    return per_source, rate_


def pct(ok, total):
    return f"{ok}/{total} ({100.0 * ok / total:.1f}%)" if total else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--ours", help="trim_corpus --tsv output of the same run")
    ap.add_argument("--passes", type=int, default=30)
    ap.add_argument("--max-seconds", type=float, default=30.0)
    args = ap.parse_args()

    cases = load(args.corpus)
    results = []  # (name, version, per_source, (rate, passes))
    if args.ours:
        ours_acc, ours_rate = read_ours(args.ours)
        results.append(("donebot (trim_input)", "this commit", ours_acc, ours_rate))
    for name, version, trim in peers():
        print(f"measuring {name} {version} ...", file=sys.stderr)
        acc = accuracy(trim, cases)
        results.append((name, version, acc, rate(trim, cases, args.passes, args.max_seconds)))

    sources = sorted({s for s, _, _ in cases})
    print(f"Accuracy: exact match, corpus rule, {len(cases)} cases\n")
    print("| source | " + " | ".join(f"{n} {v}" for n, v, _, _ in results) + " |")
    print("|---|" + "---|" * len(results))
    for source in sources:
        cells = [pct(*acc.get(source, (0, 0))) for _, _, acc, _ in results]
        print(f"| {source} | " + " | ".join(cells) + " |")
    totals = [tuple(map(sum, zip(*acc.values()))) if acc else (0, 0) for _, _, acc, _ in results]
    print("| **overall** | " + " | ".join(f"**{pct(*t)}**" for t in totals) + " |")

    print("\nThroughput: messages/s, median of timed passes over the whole corpus\n")
    ours = results[0][3][0] if args.ours and results[0][3] else None
    print("| trimmer | messages/s | passes | donebot / this |")
    print("|---|---|---|---|")
    for name, version, _, r in results:
        if r is None:
            print(f"| {name} {version} | - | - | - |")
            continue
        ratio = f"{ours / r[0]:.1f}×" if ours else "-"
        print(f"| {name} {version} | {r[0]:,.0f} | {r[1]} | {ratio} |")


if __name__ == "__main__":
    main()
