"""The figures of every chaos run in this session (printed at its end by conftest.py), and the
number of cycles asked for."""

from __future__ import annotations

import os

FIGURES: list[dict] = []


def chaos_cycles() -> int:
    """CHAOS_CYCLES, 20 by default."""
    return int(os.environ.get("CHAOS_CYCLES", "20"))
