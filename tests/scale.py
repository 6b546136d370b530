"""How big the fault, fuzz and soak tests run: a short form by default (CI), the full form on request.

`SHOULD_FINETUNE_FULL_SUITE=1` (or `make test-full`) runs every such test at the size its issue asks for, for
example 10,000 events in the retry storm; the default runs the same test at a size that keeps the suite short.
"""

from __future__ import annotations

import os

FULL = os.environ.get("SHOULD_FINETUNE_FULL_SUITE", "") == "1"


def scaled(short: int, full: int) -> int:
    """`full` when the full suite was asked for, else `short`."""
    return full if FULL else short
