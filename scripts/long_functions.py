#!/usr/bin/env python3
"""Functions over 80 lines in the crates' src/ folders (CI fails on any without a reason).

A function is measured from its `fn` line to the closing brace at the same indentation (the
code is rustfmt-formatted, so that brace is the function's end). Code after a file's first
`#[cfg(test)]` line, and the tests/ and benches/ folders, are not measured. A function may be
longer when the comment block directly above it (doc comments, `//` lines and attributes)
says why in a line containing `Over 80 lines:`, e.g.

    /// Over 80 lines: one scenario of the store contract, read top to bottom.

    python3 scripts/long_functions.py            # every crate under crates/
    python3 scripts/long_functions.py --all      # also list the ones with a reason
    python3 scripts/long_functions.py --self-test
"""

from __future__ import annotations

import pathlib
import re
import sys

LIMIT = 80
REASON = "Over 80 lines:"
FN = re.compile(
    r'^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?'
    r'(?:extern\s+"C"\s+)?fn\s+(\w+)'
)


def functions(text: str):
    """(name, first line number, length, has a reason) of each function with a body."""
    lines = text.splitlines()
    end = next((i for i, l in enumerate(lines) if l.startswith("#[cfg(test)]")), len(lines))
    for i, line in enumerate(lines[:end]):
        m = FN.match(line)
        if not m:
            continue
        # a declaration (trait method without a body) ends with `;` before any `{`
        k = i
        while k < len(lines) and "{" not in lines[k] and ";" not in lines[k]:
            k += 1
        head = lines[k] if k < len(lines) else ";"
        if ";" in head and ("{" not in head or head.index(";") < head.index("{")):
            continue
        indent = m.group(1)
        j = next((j for j in range(k, len(lines)) if lines[j] == indent + "}"), k)
        if head.rstrip().endswith("}") and j == k:
            j = k  # a one-line body
        above = []
        a = i - 1
        while a >= 0 and lines[a].strip().startswith(("///", "//", "#[")):
            above.append(lines[a])
            a -= 1
        yield m.group(2), i + 1, j - i + 1, any(REASON in l for l in above)


def scan(root: pathlib.Path, show_all: bool) -> int:
    bad = 0
    for path in sorted(root.glob("crates/*/src/**/*.rs")):
        for name, at, length, reason in functions(path.read_text()):
            if length <= LIMIT:
                continue
            if not reason:
                bad += 1
                print(f"{path.relative_to(root)}:{at}: fn {name} is {length} lines "
                      f"(split it, or say why above it with `{REASON}`)")
            elif show_all:
                print(f"{path.relative_to(root)}:{at}: fn {name} is {length} lines (has a reason)")
    return bad


def self_test() -> None:
    body = "\n".join(f"    let x{n} = {n};" for n in range(LIMIT))
    long_fn = f"pub async fn long() {{\n{body}\n}}\n"
    short_fn = "fn short() {\n    1;\n}\n"
    decl = "trait T {\n    fn declared(\n        &self,\n    ) -> u8;\n}\n"
    got = list(functions(long_fn + short_fn + decl))
    assert [(n, l > LIMIT, r) for n, _, l, r in got] == [("long", True, False), ("short", False, False)], got
    reasoned = f"/// Does it.\n/// {REASON} a table.\n#[inline]\n" + long_fn
    assert [r for *_, r in functions(reasoned)] == [True]
    in_tests = "#[cfg(test)]\nmod tests {\n" + long_fn + "}\n"
    assert list(functions(in_tests)) == []
    print("self-test ok")


def main() -> int:
    if "--self-test" in sys.argv:
        self_test()
        return 0
    root = pathlib.Path(__file__).resolve().parent.parent
    bad = scan(root, "--all" in sys.argv)
    if bad:
        print(f"{bad} function(s) over {LIMIT} lines without a reason")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
