#!/usr/bin/env python3
"""Writes the raw zip seeds of the zip_guard target (corpus/zip_guard/*.zip), the archives of
the unit tests in crates/scf-core/src/zip_guard.rs. Python's zipfile rather than the zip crate:
the target already zips its text seeds with the crate, so these add other writers' headers."""
import io
import os
import stat
import zipfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "zip_guard")


def make(entries, compress=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as z:
        for name, content in entries:
            info = zipfile.ZipInfo(name.rstrip("@"))
            info.compress_type = compress
            if name.endswith("@"):
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            elif name.endswith("/"):
                info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10
            else:
                mode = 0o755 if name.endswith("bootstrap") else 0o644
                info.external_attr = (stat.S_IFREG | mode) << 16
            z.writestr(info, content)
    return buf.getvalue()


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


write("normal.zip", make([
    ("index.py", b"def main_handler(e, c):\n    return 1\n"),
    ("lib/util.py", b"X = 1\n"),
    ("bootstrap", b"#!/bin/sh\n"),
    ("lib/link@", b"util.py"),
]))
write("stored.zip", make([("d/", b""), ("d/a.txt", b"hello"), ("here@", b".")], zipfile.ZIP_STORED))
chain = [("u0@", b".")] + [(f"u{i}@", f"u{i-1}/..".encode()) for i in range(1, 7)]
write("link-chain.zip", make(chain + [("u6/marker", b"pwned")]))
write("escapes.zip", make([("../evil.py", b"x"), ("l@", b"/"), ("l/tmp/marker", b"x")]))
# The same name twice, in the central directory and the local headers both.
dup = make([("dup-name-1@", b"."), ("dup-name-2", b"x")]).replace(b"dup-name-2", b"dup-name-1")
write("duplicate-name.zip", dup)
# 5 MiB of zeros in two entries: a few KiB zipped, over the target's 4 MiB unpacked cap.
write("bomb.zip", make([("zeros.bin", bytes(2 << 20)), ("more.bin", bytes(3 << 20))]))
