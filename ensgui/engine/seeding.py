"""Derived seeds: one spec seed fans out into independent streams per member and purpose."""

from __future__ import annotations

import numpy as np

INIT, ORDER, BOOTSTRAP, EVAL, DROPOUT = range(5)


def derive_seed(seed: int, *path: int) -> int:
    """A 63-bit seed that depends on the spec seed and the path (member, purpose, ...) only."""
    return int(np.random.SeedSequence([seed, *path]).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
