#!/usr/bin/env python3
"""Import circles between the modules of each crate (CI fails on any).

A module is a file under a crate's src/ (`actions/get_function.rs` is `actions::get_function`;
`mod.rs` and `lib.rs` name their folder's module). Module A depends on B when A's file names a
path `crate::B...` or `super::...` that resolves to B (the longest known module prefix), in a
`use` or in code. A module's dependency on its own submodules or its parent is not a circle
(a parent declares its children; `super::` helpers of a folder's own mod.rs count). Prints
each strongly connected component of more than one module, and exits 1 if there is one.

    python3 scripts/module_cycles.py            # every crate under crates/
    python3 scripts/module_cycles.py crates/scf-core
"""

from __future__ import annotations

import pathlib
import re
import sys

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
GROUP = re.compile(r"\b(crate|super)::\{([^}]*)\}")


def module_of(src: pathlib.Path, file: pathlib.Path) -> tuple[str, ...]:
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts.pop()
    return tuple(parts)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def test_free(text: str) -> str:
    """Drops `#[cfg(test)] mod tests { ... }` (tests may use anything)."""
    m = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
    return text[: m.start()] if m else text


def resolve(mods: set[tuple[str, ...]], here: tuple[str, ...],
            root: str, rest: list[str]) -> tuple[str, ...] | None:
    if root == "crate":
        base: tuple[str, ...] = ()
    elif root == "self":
        base = here
    else:  # super
        base = here[:-1]
    path = base + tuple(rest)
    # the longest prefix that is a module
    for n in range(len(path), -1, -1):
        if path[:n] in mods:
            return path[:n]
    return None


def crate_cycles(crate: pathlib.Path) -> list[list[str]]:
    src = crate / "src"
    files = [f for f in src.rglob("*.rs") if "bin" not in f.relative_to(src).parts]
    mods = {module_of(src, f): f for f in files}
    known = set(mods)
    graph: dict[tuple[str, ...], set[tuple[str, ...]]] = {m: set() for m in mods}
    for m, f in mods.items():
        text = test_free(strip_comments(f.read_text()))
        refs: list[tuple[str, list[str]]] = []
        for g in GROUP.finditer(text):
            for item in g.group(2).split(","):
                item = item.strip().split(" as ")[0].strip()
                if item and item != "self":
                    refs.append((g.group(1), [p for p in item.split("::") if p]))
        for p in PATH.finditer(text):
            refs.append((p.group(1), [x for x in p.group(2).split("::") if x]))
        for root, rest in refs:
            target = resolve(known, m, root, rest)
            if target is None or target == m:
                continue
            # parent -> child (declaring it) and child -> ancestor (its folder) are not edges
            if target[: len(m)] == m or m[: len(target)] == target:
                continue
            graph[m].add(target)
    # Tarjan's strongly connected components
    index: dict = {}
    low: dict = {}
    stack: list = []
    on: set = set()
    out: list[list[str]] = []
    counter = [0]

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
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted("::".join(c) or "crate" for c in comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def self_test() -> None:
    """The check finds a circle it must find and none where there is none."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        src = pathlib.Path(d) / "c" / "src"
        (src / "f").mkdir(parents=True)
        (src / "lib.rs").write_text("mod a; mod b; mod f;\n")
        (src / "a.rs").write_text("use crate::b::x;\n")
        (src / "b.rs").write_text("// use crate::a;\npub fn x() {}\n")
        (src / "f" / "mod.rs").write_text("mod g;\npub fn h() {}\n")
        (src / "f" / "g.rs").write_text("use super::h;\n")
        assert crate_cycles(src.parent) == [], "a comment, or a child using its parent, is no circle"
        (src / "b.rs").write_text("pub fn x() { crate::a::y() }\n")
        assert crate_cycles(src.parent) == [["a", "b"]], crate_cycles(src.parent)


def main() -> int:
    self_test()
    root = pathlib.Path(__file__).resolve().parent.parent
    crates = [pathlib.Path(a) for a in sys.argv[1:]] or sorted((root / "crates").iterdir())
    bad = False
    for crate in crates:
        if not (crate / "src").is_dir():
            continue
        for comp in crate_cycles(crate):
            bad = True
            print(f"{crate.name}: import circle: {' <-> '.join(comp)}")
    if not bad:
        print("no import circles between modules")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
