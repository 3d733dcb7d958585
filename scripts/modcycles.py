#!/usr/bin/env python3
"""Module circles in a Rust crate, file by file.

Usage:
    python3 scripts/modcycles.py crates/floodgate-core/src   # one crate
    python3 scripts/modcycles.py                           # every crates/*/src

Each source file is a node. A file has an edge to the file of every module
it names: `use crate::...`, `use super::...`, `use self::...` (brace
groups included, `use crate::{a::{b, c}, d}`), a `use child::...` of a
module it declares, and `crate::a::b`, `super::x` or `child::x` paths in code. A path
`a::b::C` names the deepest existing file among `a/b.rs`, `a/b/mod.rs`,
`a.rs`, `a/mod.rs` (the crate root, `lib.rs` or `main.rs`, last).

Not edges: a parent's `mod child;`, and a parent's `pub use` of its own
descendants (a re-export is the parent's face, not a dependency). Test
code is left out: files named `tests.rs`, files declared under
`#[cfg(test)]`, and items marked `#[cfg(test)]`.

Prints every strongly connected component of more than one file, with the
edges inside it, and exits 1 if there is any.
"""

import os
import re
import sys

# Comments, strings and char literals, removed before anything is read.
LEXEME = re.compile(
    r"""//[^\n]*                      # line comment (doc comments too)
      | /\*(?:.|\n)*?\*/               # block comment (nesting is rare)
      | b?r(\#*)"(?:.|\n)*?"\1         # raw string
      | b?"(?:\\.|[^"\\])*"            # string
      | b?'(?:[^'\\\n]|\\[^\n]{1,10}?)' # char literal (not a lifetime)
    """,
    re.VERBOSE,
)

USE = re.compile(r"(?<![\w$])(pub(?:\s*\([^)]*\))?\s+)?use\s+([^;]+);")
CODE_PATH = re.compile(r"(?<![\w$:])((?:crate|super)(?:\s*::\s*\w+)+)")
MOD_DECL = re.compile(r"(?<![\w$])(?:pub(?:\s*\([^)]*\))?\s+)?mod\s+(\w+)\s*;")
CFG_TEST = re.compile(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]")


def strip_lexemes(text):
    def keep_lines(m):
        return "\n" * m.group(0).count("\n") if m.group(0).startswith("/") else '""'

    return LEXEME.sub(keep_lines, text)


def item_end(text, i):
    """The end of the item starting at `i`: its `;` or its closing brace."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        elif c == ";" and depth == 0:
            return i + 1
        i += 1
    return len(text)


def strip_cfg_test(text):
    """Removes `#[cfg(test)]` items; returns the text and the names of
    modules declared under it (`#[cfg(test)] mod tests;`)."""
    test_mods = []
    out = []
    pos = 0
    for m in CFG_TEST.finditer(text):
        if m.start() < pos:
            continue
        end = item_end(text, m.end())
        decl = MOD_DECL.match(text[m.end() :].lstrip())
        if decl and text[m.end() : end].rstrip().endswith(";"):
            test_mods.append(decl.group(1))
        out.append(text[pos : m.start()])
        pos = end
    out.append(text[pos:])
    return "".join(out), test_mods


def tokens(tree):
    return re.findall(r"::|[{},*]|\w+", tree)


def expand(tree):
    """The paths of a use tree, each a list of segments (`*` kept)."""
    toks = tokens(tree)
    pos = 0

    def parse(prefix):
        nonlocal pos
        path = list(prefix)
        out = []
        while pos < len(toks):
            t = toks[pos]
            if t == "{":
                pos += 1
                while pos < len(toks) and toks[pos] != "}":
                    if toks[pos] == ",":
                        pos += 1
                        continue
                    out.extend(parse(path))
                pos += 1
                return out
            if t in (",", "}"):
                break
            if t == "as":
                pos += 2
                continue
            if t != "::":
                # `a::{self, b}`: `self` is `a` itself.
                if not (t == "self" and pos > 0 and toks[pos - 1] in ("{", ",")):
                    path.append(t)
            pos += 1
        out.append(path)
        return out

    return parse([])


class Crate:
    def __init__(self, src):
        self.src = os.path.normpath(src)
        self.files = {}  # relative file -> module path (tuple)
        self.by_module = {}  # module path -> relative file
        for root, _, names in os.walk(self.src):
            for n in sorted(names):
                if not n.endswith(".rs"):
                    continue
                rel = os.path.relpath(os.path.join(root, n), self.src)
                parts = rel[:-3].split(os.sep)
                if parts == ["lib"] or parts == ["main"]:
                    module = ()
                elif parts[-1] == "mod":
                    module = tuple(parts[:-1])
                else:
                    module = tuple(parts)
                if parts[0] == "bin":
                    continue  # other crate roots
                self.files[rel] = module
                if module not in self.by_module or parts == ["lib"]:
                    self.by_module[module] = rel

    def file_of(self, segments):
        """The deepest existing file of a module path and item path."""
        for k in range(len(segments), -1, -1):
            f = self.by_module.get(tuple(segments[:k]))
            if f is not None:
                return f
        return None

    def graph(self):
        texts = {}
        excluded = set()
        for rel in self.files:
            with open(os.path.join(self.src, rel), encoding="utf-8") as f:
                text, test_mods = strip_cfg_test(strip_lexemes(f.read()))
            texts[rel] = text
            module = self.files[rel]
            for name in test_mods:
                excluded.add(self.by_module.get(module + (name,)))
        edges = {}
        for rel, text in texts.items():
            if rel in excluded or os.path.basename(rel) == "tests.rs":
                continue
            module = self.files[rel]
            children = set(MOD_DECL.findall(text))
            refs = []
            for m in USE.finditer(text):
                public = m.group(1) is not None
                for path in expand(m.group(2)):
                    target = self.resolve(module, path, children)
                    if target is None:
                        continue
                    if public and target[: len(module)] == module and len(target) > len(module):
                        continue  # a parent re-exporting its own descendants
                    refs.append((target, "use " + "::".join(path)))
            code = USE.sub(" ", text)
            found = list(CODE_PATH.finditer(code))
            if children:
                child = re.compile(
                    r"(?<![\w$:.])((?:%s)(?:\s*::\s*\w+)+)" % "|".join(sorted(children))
                )
                found += list(child.finditer(code))
            for m in found:
                path = [s.strip() for s in m.group(1).split("::")]
                target = self.resolve(module, path, children)
                if target is not None:
                    refs.append((target, "::".join(path)))
            for target, how in refs:
                f = self.file_of(list(target))
                if f is None or f == rel or f in excluded or os.path.basename(f) == "tests.rs":
                    continue
                edges.setdefault(rel, {}).setdefault(f, how)
        return edges

    def resolve(self, module, path, children):
        """The absolute segments a path names, or None if outside the crate."""
        if not path:
            return None
        head = path[0]
        if head == "crate":
            base, rest = [], path[1:]
        elif head == "self":
            base, rest = list(module), path[1:]
        elif head == "super":
            base, rest = list(module), path
            while rest and rest[0] == "super":
                base = base[:-1]
                rest = rest[1:]
        elif head in children:
            base, rest = list(module), path
        else:
            return None
        return tuple(base + [s for s in rest if s != "*"])


def components(edges):
    """Tarjan's strongly connected components."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    nodes = set(edges) | {w for ws in edges.values() for w in ws}
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]


def check(src):
    crate = Crate(src)
    edges = crate.graph()
    found = components(edges)
    for comp in found:
        print(f"{src}: circle of {len(comp)} files: {', '.join(comp)}")
        members = set(comp)
        for a in comp:
            for b, how in sorted(edges.get(a, {}).items()):
                if b in members:
                    print(f"    {a} -> {b}  ({how})")
    return len(found)


def main(args):
    if args:
        srcs = args
    else:
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        crates = os.path.join(here, "crates")
        srcs = [
            os.path.join(crates, c, "src")
            for c in sorted(os.listdir(crates))
            if os.path.isdir(os.path.join(crates, c, "src"))
        ]
    total = sum(check(s) for s in srcs)
    if total == 0:
        print(f"no module circles in {len(srcs)} crate(s)")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
