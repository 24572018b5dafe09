"""Random-number sources of the stochastic number generators, and bit-packing helpers.

An SNG compares a w-bit value with one number per cycle from a random source (see
docs/dwcnn-model.md, "Streams and coding"). This module defines the sources archsim models, as plain
NumPy/Python reference code:

- a Fibonacci LFSR with a fixed maximal-length feedback polynomial per width (3..32), an
  explicit non-zero seed, and optional user taps. Its states never include 0, so over one
  period of ``2**w - 1`` cycles the rule ``v > R`` gives ``(v - 1) / (2**w - 1)``;
- a Sobol sequence (Gray-code order, Joe & Kuo direction numbers, 40 dimensions), scaled to
  ``width`` bits; its first point is 0, and its first ``2**w`` points are a permutation of
  ``0 .. 2**w - 1``, so ``v > R`` gives exactly ``v / 2**w``;
- an ascending counter ``t mod 2**w`` (exact, and handy in tests).

It also holds Kim's Btanh state count ``kim_r`` and the packing of bit streams into ``uint64``
words (LSB first, tail bits zero) described in ``docs/design.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "LFSR_TAPS",
    "SOBOL_DIRECTIONS",
    "SOBOL_MAX_DIM",
    "counter_sequence",
    "kim_r",
    "lfsr_sequence",
    "lfsr_tap_mask",
    "n_words",
    "pack_bits",
    "sobol_direction_vectors",
    "sobol_sequence",
    "tail_mask",
    "unpack_bits",
]

# Feedback taps (1-indexed register positions, the width first) of one maximal-length
# polynomial per width. The register is shifted left and the XOR of the tapped bits enters
# bit 0, so position ``t`` is bit ``t - 1`` of the state word. A test checks that every
# polynomial is primitive, i.e. that the state period is 2**w - 1.
LFSR_TAPS: dict[int, tuple[int, ...]] = {
    3: (3, 2),
    4: (4, 3),
    5: (5, 3),
    6: (6, 5),
    7: (7, 6),
    8: (8, 6, 5, 4),
    9: (9, 5),
    10: (10, 7),
    11: (11, 9),
    12: (12, 6, 4, 1),
    13: (13, 4, 3, 1),
    14: (14, 5, 3, 1),
    15: (15, 14),
    16: (16, 15, 13, 4),
    17: (17, 14),
    18: (18, 11),
    19: (19, 6, 2, 1),
    20: (20, 17),
    21: (21, 19),
    22: (22, 21),
    23: (23, 18),
    24: (24, 23, 22, 17),
    25: (25, 22),
    26: (26, 6, 2, 1),
    27: (27, 5, 2, 1),
    28: (28, 25),
    29: (29, 27),
    30: (30, 6, 4, 1),
    31: (31, 28),
    32: (32, 22, 2, 1),
}

# Sobol direction numbers for dimensions 1.. (dimension 0 is the van der Corput sequence, all
# m_i = 1), in Joe & Kuo's form: (degree s of the primitive polynomial, its middle
# coefficients a, initial odd numbers m_1..m_s with m_i < 2**i).
SOBOL_DIRECTIONS: tuple[tuple[int, int, tuple[int, ...]], ...] = (
    (1, 0, (1,)),
    (2, 1, (1, 3)),
    (3, 1, (1, 3, 1)),
    (3, 2, (1, 1, 1)),
    (4, 1, (1, 1, 3, 3)),
    (4, 4, (1, 3, 5, 13)),
    (5, 2, (1, 1, 5, 5, 17)),
    (5, 4, (1, 1, 5, 5, 5)),
    (5, 7, (1, 1, 7, 11, 19)),
    (5, 11, (1, 1, 5, 1, 1)),
    (5, 13, (1, 1, 1, 3, 11)),
    (5, 14, (1, 3, 5, 5, 31)),
    (6, 1, (1, 3, 3, 9, 7, 49)),
    (6, 13, (1, 1, 1, 15, 21, 21)),
    (6, 16, (1, 3, 1, 13, 27, 49)),
    (6, 19, (1, 1, 1, 15, 7, 5)),
    (6, 22, (1, 3, 1, 15, 13, 25)),
    (6, 25, (1, 1, 5, 5, 19, 61)),
    (7, 1, (1, 3, 7, 11, 23, 15, 103)),
    (7, 4, (1, 3, 7, 13, 13, 15, 69)),
    (7, 7, (1, 1, 3, 13, 7, 35, 63)),
    (7, 8, (1, 3, 5, 9, 1, 25, 53)),
    (7, 14, (1, 3, 1, 13, 9, 35, 107)),
    (7, 19, (1, 3, 1, 5, 27, 61, 31)),
    (7, 21, (1, 1, 5, 11, 19, 41, 61)),
    (7, 28, (1, 3, 5, 3, 3, 13, 69)),
    (7, 31, (1, 1, 7, 13, 1, 19, 1)),
    (7, 32, (1, 3, 7, 5, 13, 19, 59)),
    (7, 37, (1, 1, 3, 9, 25, 29, 41)),
    (7, 41, (1, 3, 5, 13, 23, 1, 55)),
    (7, 42, (1, 3, 7, 3, 13, 59, 17)),
    (7, 50, (1, 3, 1, 3, 5, 53, 69)),
    (7, 55, (1, 1, 5, 5, 23, 33, 13)),
    (7, 56, (1, 1, 7, 7, 1, 61, 123)),
    (7, 59, (1, 1, 7, 9, 13, 61, 49)),
    (7, 62, (1, 3, 3, 5, 3, 55, 33)),
    (8, 14, (1, 3, 1, 15, 31, 13, 49, 245)),
    (8, 21, (1, 3, 5, 15, 31, 59, 63, 97)),
    (8, 22, (1, 3, 1, 11, 11, 11, 77, 249)),
)

SOBOL_MAX_DIM = len(SOBOL_DIRECTIONS) + 1
"""Number of Sobol dimensions available (``dim`` ranges over ``0 .. SOBOL_MAX_DIM - 1``)."""

_SOBOL_BITS = 32


# ----------------------------------------------------------------------------- packing


def n_words(length: int) -> int:
    """Number of ``uint64`` words holding a stream of ``length`` bits."""
    return (int(length) + 63) // 64


def tail_mask(length: int) -> int:
    """Mask of the valid bits of the last word of a ``length``-bit stream (all ones if full)."""
    r = int(length) % 64
    return (1 << 64) - 1 if r == 0 else (1 << r) - 1


def pack_bits(bits) -> np.ndarray:
    """Pack ``bits[..., L]`` (0/1, any integer or bool dtype) into ``uint64[..., ceil(L/64)]``.

    Bit t of the stream becomes bit ``t % 64`` of word ``t // 64``; bits past L are 0.
    """
    b = np.asarray(bits)
    length = b.shape[-1]
    nw = n_words(length)
    pad = nw * 64 - length
    b = (b != 0).astype(np.uint8)
    if pad:
        b = np.concatenate([b, np.zeros(b.shape[:-1] + (pad,), np.uint8)], axis=-1)
    packed = np.packbits(b, axis=-1, bitorder="little")  # uint8[..., nw * 8]
    words = np.ascontiguousarray(packed).view("<u8")
    return words.astype(np.uint64)


def unpack_bits(x, length: int) -> np.ndarray:
    """Unpack ``uint64[..., W]`` words into ``uint8[..., length]`` bits (LSB first)."""
    w = np.ascontiguousarray(np.asarray(x, dtype=np.uint64).astype("<u8", copy=False))
    length = int(length)
    if w.shape[-1] != n_words(length):
        raise ValueError(
            f"stream of length {length} needs {n_words(length)} words, got {w.shape[-1]}"
        )
    as_bytes = w.view(np.uint8)
    return np.unpackbits(as_bytes, axis=-1, count=length, bitorder="little")


# ----------------------------------------------------------------------------- LFSR


def lfsr_tap_mask(width: int, taps: Sequence[int] | None = None) -> int:
    """State-bit mask of the feedback taps (default: the ``LFSR_TAPS`` entry of ``width``)."""
    width = int(width)
    if taps is None:
        if width not in LFSR_TAPS:
            raise ValueError(f"no built-in LFSR polynomial for width={width} (3..32)")
        taps = LFSR_TAPS[width]
    if not 1 <= width <= 32:
        raise ValueError(f"LFSR width={width} must be in 1..32")
    taps = tuple(int(t) for t in taps)
    if width not in taps or any(not 1 <= t <= width for t in taps):
        raise ValueError(f"LFSR taps={taps} must include width={width} and lie in 1..{width}")
    mask = 0
    for t in taps:
        mask |= 1 << (t - 1)
    return mask


def _check_lfsr_seed(width: int, seed: int) -> int:
    seed = int(seed)
    if not 0 < seed < (1 << width):
        raise ValueError(f"LFSR seed={seed} must be non-zero and below 2**{width}")
    return seed


def lfsr_sequence(width: int, length: int, seed: int = 1, taps=None) -> np.ndarray:
    """States of a Fibonacci LFSR: ``uint32[length]``, the first being ``seed``.

    Each step shifts the register left by one and feeds the parity of the tapped bits into
    bit 0. With a maximal-length polynomial the period is ``2**width - 1`` and 0 never occurs.
    """
    width = int(width)
    length = int(length)
    if length < 0:
        raise ValueError(f"length={length} must be >= 0")
    tap_mask = lfsr_tap_mask(width, taps)
    state = _check_lfsr_seed(width, seed)
    full = (1 << width) - 1
    out = np.empty(length, dtype=np.uint32)
    for t in range(length):  # a sequential recurrence: the reference steps it plainly
        out[t] = state
        feedback = (state & tap_mask).bit_count() & 1
        state = ((state << 1) | feedback) & full
    return out


# ----------------------------------------------------------------------------- Sobol


def sobol_direction_vectors(dim: int) -> np.ndarray:
    """The 32 direction numbers ``v_1..v_32`` of Sobol dimension ``dim`` as ``uint32[32]``."""
    dim = int(dim)
    if not 0 <= dim < SOBOL_MAX_DIM:
        raise ValueError(f"Sobol dim={dim} must be in 0..{SOBOL_MAX_DIM - 1}")
    bits = _SOBOL_BITS
    if dim == 0:
        m = [1] * bits
    else:
        s, a, m0 = SOBOL_DIRECTIONS[dim - 1]
        m = list(m0)
        for i in range(s, bits):  # m[i] is m_{i+1}
            new = m[i - s] ^ (m[i - s] << s)
            for k in range(1, s):
                if (a >> (s - 1 - k)) & 1:
                    new ^= m[i - k] << k
            m.append(new)
    return np.array([m[i] << (bits - 1 - i) for i in range(bits)], dtype=np.uint32)


def sobol_sequence(width: int, length: int, dim: int = 0) -> np.ndarray:
    """First ``length`` points of Sobol dimension ``dim`` (Gray-code order) on ``width`` bits.

    Point k is the XOR of the direction numbers selected by the bits of ``k ^ (k >> 1)``,
    keeping its top ``width`` bits; point 0 is 0.
    """
    width = int(width)
    length = int(length)
    if not 1 <= width <= 32:
        raise ValueError(f"Sobol width={width} must be in 1..32")
    if not 0 <= length <= 1 << 32:
        raise ValueError(f"Sobol length={length} must be in 0..2**32")
    v = sobol_direction_vectors(dim)
    k = np.arange(length, dtype=np.uint64)
    gray = k ^ (k >> np.uint64(1))
    x = np.zeros(length, dtype=np.uint32)
    for j in range(_SOBOL_BITS):
        x ^= np.where(((gray >> np.uint64(j)) & np.uint64(1)) == 1, v[j], np.uint32(0))
    return (x >> np.uint32(_SOBOL_BITS - width)).astype(np.uint32)


# ----------------------------------------------------------------------------- counter


def counter_sequence(width: int, length: int) -> np.ndarray:
    """Ascending counter ``t mod 2**width`` as ``uint32[length]``."""
    width = int(width)
    if not 1 <= width <= 32:
        raise ValueError(f"counter width={width} must be in 1..32")
    t = np.arange(int(length), dtype=np.uint64)
    return (t % np.uint64(1 << width)).astype(np.uint32)


# ----------------------------------------------------------------------------- Btanh


def _round_half_away(x: float) -> int:
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def kim_r(n: int, s: float = 1.0) -> int:
    """Kim et al.'s Btanh state count ``r(n, s)``, so that Btanh(n, r, t) ~ tanh(t / s).

    ``q = 1.835 * (2n)**-0.5552`` and ``r = 2 * round(n + (1/s - 1) * (n - 1) / (1 - q))``,
    halves rounded away from zero. ``kim_r(n, 1) == 2 * n``.
    """
    n = int(n)
    s = float(s)
    if n < 1:
        raise ValueError(f"Btanh input count n={n} must be >= 1")
    if not s > 0:
        raise ValueError(f"Btanh scale s={s} must be > 0")
    q = 1.835 * (2.0 * n) ** -0.5552
    r = 2 * _round_half_away(n + (1.0 / s - 1.0) * (n - 1) / (1.0 - q))
    if r < 2:
        raise ValueError(f"kim_r(n={n}, s={s}) gives r={r} < 2")
    return r
