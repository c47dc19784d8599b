#!/usr/bin/env python3
"""Scores `donebot trim` on a directory of replies you keep outside the repository (a held-out set).

    scripts/trim_dir.py DIR [--bin target/debug/donebot] [-v]

Each `NAME.input` is run through the real CLI: with `NAME.expected` beside it, `donebot trim FILE`
must print that text (compared like the shared corpus: CRLF to LF, trailing white space per line and
outer blank lines stripped); with `NAME.dones`, `donebot trim --dones FILE` must print exactly those
lines (one done per line, in order). Prints one line per miss with -v, and the score per kind.
"""
import argparse
import pathlib
import subprocess
import sys


def canonical(text: str) -> str:
    lines = [l.rstrip() for l in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def run(binary: str, args: list, path: pathlib.Path) -> str:
    out = subprocess.run([binary, "trim", *args, str(path)], capture_output=True, check=False)
    if out.returncode != 0:
        return "<error: " + out.stderr.decode("utf-8", "replace").strip() + ">"
    return out.stdout.decode("utf-8", "replace")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=pathlib.Path)
    ap.add_argument("--bin", default="target/debug/donebot")
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()
    score = {"text": [0, 0], "dones": [0, 0]}
    for inp in sorted(a.dir.rglob("*.input")):
        for kind, ext, args in (("text", ".expected", []), ("dones", ".dones", ["--dones"])):
            want_path = inp.with_suffix(ext)
            if not want_path.exists():
                continue
            want = canonical(want_path.read_bytes().decode("utf-8", "replace"))
            got = canonical(run(a.bin, args, inp))
            score[kind][1] += 1
            if got == want:
                score[kind][0] += 1
            elif a.v:
                print(f"MISS {kind} {inp.name}\n--- want\n{want}\n--- got\n{got}\n")
    for kind, (ok, total) in score.items():
        if total:
            print(f"{kind:6} {ok:4}/{total:<4} {100.0 * ok / total:6.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
