"""Bit errors: MRAM read errors on weight bits, transient flips on inter-layer streams.

**MRAM read errors.** An STT-MRAM read senses the cell's resistance against a reference;
thermal noise and the narrow TMR window make the sense amplifier return the wrong value with a
small per-bit probability (a read decision failure; the cell keeps its state). archsim models
it per read: every read of a stored weight bit is inverted with probability ``p``,
independently of every other read, so a stream bit re-read in a later cycle or image can be
right again.

* Stochastic weights are read every cycle by the XNOR array: the weight streams one image
  sees are the stored streams XOR a Bernoulli(p) mask drawn from the run seed, the layer and
  the image (images stay independent of each other and of how they are split over worker
  processes). A filter-shared conv layer reads each weight once per cycle and broadcasts it
  to every position, so all positions see the same wrong bit.
* Binary weights are read once, when the SNG registers are loaded at power-up: each bit of the
  ``bits``-bit weight words is inverted with probability ``p`` at that load.

**Stream flips.** A layer's ``output_flip`` inverts each bit of its output streams on the way
to the next layer with that probability (transient faults on the wires), again a Bernoulli
mask per image.
"""

from __future__ import annotations

import numpy as np

from archsim.sc import kernels as K
from archsim.seeds import derive_seed

_CHUNK_BITS = 1 << 22  # uniform draws per chunk (bounded temporary memory)
_SPARSE_P = 0.1  # up to this probability the errors are drawn as gaps between them


def read_error_mask(rows: int, length: int, p: float, seed: int, layer: str,
                    image: int) -> np.ndarray:
    """Packed ``uint64[rows, W]`` mask of the inverted reads of ``rows`` weight streams of
    ``length`` bits over one image (bit t set: the read of cycle t is wrong)."""
    return bernoulli_mask(rows, length, p, seed, "read-error", layer, image)


def bernoulli_mask(rows: int, length: int, p: float, seed: int, *names: object) -> np.ndarray:
    """Packed ``uint64[rows, W]``: every one of the ``rows * length`` bits set independently
    with probability ``p``, drawn from ``derive_seed(seed, *names)``.

    For p up to ``_SPARSE_P`` the mask is drawn as that Bernoulli process's gaps (geometric),
    so the cost follows the number of set bits, not of all bits; above it, as one uniform draw
    per bit."""
    W = (length + 63) // 64
    out = np.zeros((rows, W), dtype=np.uint64)
    if p <= 0 or rows == 0 or length == 0:
        return out
    rng = np.random.default_rng(derive_seed(seed, *names))
    if p > _SPARSE_P:
        step = max(1, _CHUNK_BITS // length)
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            bits = rng.random((r1 - r0, length), dtype=np.float32) < np.float32(p)
            out[r0:r1] = K.pack_bits(bits.astype(np.uint8))
        return out
    total = rows * length
    expected = total * p
    chunk = int(expected + 8 * np.sqrt(expected) + 64)
    last = -1
    while last < total:  # the set bits' indices: the running sum of geometric gaps
        # A gap past the end ends the mask whatever its size; capping it at total + 1 keeps
        # the running sum inside int64 (for p ~ 1e-19 and below numpy's geometric draws
        # saturate at 2**63 - 1, whose sum wrapped negative and never reached the end).
        gaps = np.minimum(rng.geometric(p, size=chunk), total + 1)
        last = K.mark_gaps(out, length, gaps, last)
    return out


def flip_binary_words(v: np.ndarray, bits: int, p: float, seed: int, layer: str) -> np.ndarray:
    """Unsigned ``bits``-bit weight words as loaded at power-up: each bit inverted with
    probability ``p``."""
    if p <= 0:
        return v
    rng = np.random.default_rng(derive_seed(seed, "read-error", layer, "load"))
    flips = rng.random((*v.shape, bits)) < p
    mask = (flips * (1 << np.arange(bits, dtype=np.int64))).sum(axis=-1)
    return v ^ mask.astype(v.dtype)
