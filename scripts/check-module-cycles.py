#!/usr/bin/env python3
"""Fails when the files of a crate depend on each other in a circle.

Reads every `src/**/*.rs` of each crate under crates/, maps each file to its
module path (src/a.rs and src/a/mod.rs are `a`, src/a/b.rs is `a::b`), and
draws an edge from a file to each module it names through `crate::…` or
`super::…` (in `use` lines and inline paths), resolved to the longest module
that exists. Edges between a module and its own ancestors or descendants are
left out: a child using its parent's types and a parent re-exporting its child
are how Rust modules nest, not a circle between rooms. Any remaining strongly
connected group of two or more files is a circle, printed with its edges.

    python3 scripts/check-module-cycles.py [--graph]
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+|::\{)")


def modules_of(src):
    """Module path (tuple) -> file, for every .rs file under src."""
    modules = {}
    for dirpath, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src)[: -len(".rs")].split(os.sep)
            if rel == ["lib"] or rel == ["main"]:
                key = ()
            elif rel[-1] == "mod":
                key = tuple(rel[:-1])
            else:
                key = tuple(rel)
            modules[key] = path
    return modules


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def use_groups(text):
    """Expand `use crate::a::{b, c::d};` into crate::a::b and crate::a::c::d."""
    out = []
    for m in re.finditer(r"\buse\s+((?:crate|super)(?:::[^;{]*)?)\{([^;]*)\};", text, re.S):
        base = m.group(1).rstrip(":")
        depth, item, items = 0, "", []
        for ch in m.group(2):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                items.append(item)
                item = ""
            else:
                item += ch
        items.append(item)
        for it in items:
            it = it.strip().split("{")[0].split(" as ")[0].strip().rstrip(":")
            if it:
                out.append(f"{base}::{it}")
    return out


def edges_of(key, path, modules):
    text = strip_comments(open(path, encoding="utf-8").read())
    names = [m.group(0) for m in PATH.finditer(text)] + use_groups(text)
    targets = set()
    for name in names:
        parts = [p for p in name.split("::") if p and p != "{"]
        if parts[0] == "crate":
            base, rest = (), parts[1:]
        else:
            # `super` is the parent module, whether the file is a.rs or a/mod.rs.
            base, rest = key[:-1], parts[1:]
            while rest and rest[0] == "super":
                base, rest = base[:-1], rest[1:]
        target = base
        for part in rest:
            if base + (part,) in modules:
                base = base + (part,)
                target = base
            else:
                break
        if target in modules and target != key:
            related = target[: len(key)] == key or key[: len(target)] == target
            if not related:
                targets.add(target)
    return targets


def strongly_connected(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            out.append(group)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main():
    show = "--graph" in sys.argv
    failed = False
    crates = os.path.join(ROOT, "crates")
    for crate in sorted(os.listdir(crates)):
        src = os.path.join(crates, crate, "src")
        if not os.path.isdir(src):
            continue
        modules = modules_of(src)
        graph = {k: edges_of(k, p, modules) for k, p in modules.items()}
        name = lambda k: "::".join(k) or "(root)"
        if show:
            for k in sorted(graph):
                print(f"{crate} {name(k)} -> {', '.join(name(t) for t in sorted(graph[k]))}")
        n_edges = sum(len(v) for v in graph.values())
        circles = [g for g in strongly_connected(graph) if len(g) > 1]
        for group in circles:
            failed = True
            members = set(group)
            print(f"{crate}: a circle of {len(group)} files:")
            for k in sorted(group):
                for t in sorted(graph[k] & members):
                    print(f"  {name(k)} -> {name(t)}")
        if not circles:
            print(f"{crate}: {len(modules)} files, {n_edges} edges between rooms, no circle")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
