#!/usr/bin/env python3
"""Functions longer than a limit (80 lines by default), and files longer
than 400 lines, in Rust sources.

Usage:
    python3 scripts/fnlen.py [--max N] [--file-max N] [PATH ...]

PATHs are files or directories (default: crates/). A function's length
runs from its `fn` line to its closing brace. Exits 1 if anything is over.
"""

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from modcycles import strip_lexemes  # noqa: E402

FN = re.compile(r"(?<![\w$])fn\s+(\w+)")


def functions(text):
    """(name, first line, last line) of every function with a body."""
    out = []
    for m in FN.finditer(text):
        i = m.end()
        depth = 0
        # The body opens at the first `{` outside the signature's parens,
        # unless a `;` ends a declaration first.
        while i < len(text):
            c = text[i]
            if c in "([<":
                depth += 1
            elif c in ")]>" and depth > 0:
                depth -= 1
            elif c == ";" and depth == 0:
                i = -1
                break
            elif c == "{" and depth == 0:
                break
            i += 1
        if i < 0 or i >= len(text):
            continue
        depth = 0
        j = i
        while j < len(text):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        first = text.count("\n", 0, m.start()) + 1
        last = text.count("\n", 0, j) + 1
        out.append((m.group(1), first, last))
    return out


def rust_files(paths):
    for p in paths:
        if os.path.isfile(p):
            yield p
            continue
        for root, dirs, names in os.walk(p):
            dirs[:] = [d for d in dirs if d not in ("target", ".git")]
            for n in sorted(names):
                if n.endswith(".rs"):
                    yield os.path.join(root, n)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max", type=int, default=80)
    ap.add_argument("--file-max", type=int, default=400)
    ap.add_argument("paths", nargs="*")
    args = ap.parse_args(argv)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = args.paths or [os.path.join(here, "crates")]
    over = 0
    for f in rust_files(paths):
        with open(f, encoding="utf-8") as fh:
            raw = fh.read()
        lines = raw.count("\n")
        if lines > args.file_max:
            print(f"{f}: {lines} lines (file)")
            over += 1
        for name, first, last in functions(strip_lexemes(raw)):
            n = last - first + 1
            if n > args.max:
                print(f"{f}:{first}: fn {name}: {n} lines")
                over += 1
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
