"""Deterministic seed derivation: every RNG in a run is seeded from the run seed and a name."""

from __future__ import annotations

import hashlib


def derive_seed(seed: int, *names: object, bits: int = 63) -> int:
    """A stable integer seed for the RNG named ``names`` in a run seeded with ``seed``."""
    h = hashlib.sha256(repr((int(seed), *map(str, names))).encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << bits) - 1)
