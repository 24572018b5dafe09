"""The stochastic input binarization: one comparator SNG per pixel lane and its random source.

Presentation n of image k turns pixel i (0..255) into the bit ``b = [r < p]`` where ``r`` is
lane i's 8-bit random number for that presentation (so ``P(b = 1) = p / 255`` for the LFSR
and the ideal source, ``p / 256`` for Sobol):

* ``lfsr``: each lane is an 8-bit maximal-length Fibonacci LFSR (taps of
  ``archsim.sc.rng.LFSR_TAPS[8]``) started at its own random phase; the number is its state
  minus one (0..254, each once per period of 255), and the lanes keep stepping from image to
  image (presentation n of image k is step ``k N + n`` of the lane);
* ``sobol``: the 8-bit Sobol sequence of dimension 0 (the bit-reversed counter), at a random
  offset per lane, stepping in the same way (period 256);
* ``ideal``: independent uniform numbers 0..254 from a generator seeded by the run seed and
  the image (an ideal true random source).

:func:`random_numbers` is the vectorized form (fast engine); :class:`LaneSources` steps the
lanes one presentation at a time in plain Python integers (per-cycle engine).
"""

from __future__ import annotations

import functools

import numpy as np

from archsim.sc.rng import LFSR_TAPS, lfsr_sequence, sobol_sequence
from archsim.seeds import derive_seed

__all__ = ["LaneSources", "lane_phases", "random_numbers"]

_PERIOD = {"lfsr": 255, "sobol": 256}


def lane_phases(kind: str, lanes: int, seed: int) -> np.ndarray:
    """Each lane's start (phase) in its sequence: ``int64[lanes]``."""
    if kind == "ideal":
        return np.zeros(lanes, dtype=np.int64)
    rng = np.random.default_rng(derive_seed(seed, "bnn-sng-phase"))
    return rng.integers(0, _PERIOD[kind], size=lanes).astype(np.int64)


def _ideal(seed: int, image: int, presentations: int, lanes: int) -> np.ndarray:
    rng = np.random.default_rng(derive_seed(seed, "bnn-sng-ideal", image))
    return rng.integers(0, 255, size=(presentations, lanes)).astype(np.int64)


@functools.lru_cache(maxsize=4)
def _sequence(kind: str) -> np.ndarray:
    """One period of the lanes' sequence (LFSR state - 1, or Sobol dimension 0)."""
    period = _PERIOD[kind]
    seq = (lfsr_sequence(8, period, seed=1).astype(np.int64) - 1 if kind == "lfsr"
           else sobol_sequence(8, period).astype(np.int64))
    seq.setflags(write=False)
    return seq


def random_numbers(kind: str, phases: np.ndarray, seed: int, image: int,
                   presentations: int) -> np.ndarray:
    """``int64[presentations, lanes]``: every lane's number for each presentation of image
    ``image``."""
    lanes = len(phases)
    if kind == "ideal":
        return _ideal(seed, image, presentations, lanes)
    period = _PERIOD[kind]
    step = (image * presentations + np.arange(presentations, dtype=np.int64)) % period
    return _table(kind, phases)[step]


_TABLES: dict[tuple[str, bytes], np.ndarray] = {}


def _table(kind: str, phases: np.ndarray) -> np.ndarray:
    """``int64[period, lanes]``: every lane's number at each step of the period (cached)."""
    key = (kind, phases.tobytes())
    tab = _TABLES.get(key)
    if tab is None:
        period = _PERIOD[kind]
        tab = _sequence(kind)[(phases[None, :] + np.arange(period)[:, None]) % period]
        tab.setflags(write=False)
        if len(_TABLES) > 8:
            _TABLES.clear()
        _TABLES[key] = tab
    return tab


class LaneSources:
    """The lanes' random sources stepped one presentation at a time (plain Python)."""

    def __init__(self, kind: str, phases: np.ndarray, seed: int, presentations: int) -> None:
        self.kind, self.seed, self.presentations = kind, seed, presentations
        self.phases = [int(p) for p in phases]
        self.taps = 0
        for t in LFSR_TAPS[8]:
            self.taps |= 1 << (t - 1)
        self.step = -1
        self.state: list[int] = []

    def _lfsr_next(self, s: int) -> int:
        return ((s << 1) | ((s & self.taps).bit_count() & 1)) & 0xFF

    def _goto(self, step: int) -> None:
        """Advance every lane to sequence position ``phase + step``."""
        if self.kind == "lfsr":
            if self.step < 0 or step < self.step:
                self.state = []
                for p in self.phases:
                    s = 1
                    for _ in range((p + step) % 255):
                        s = self._lfsr_next(s)
                    self.state.append(s)
            else:
                for _ in range((step - self.step) % 255):
                    self.state = [self._lfsr_next(s) for s in self.state]
        self.step = step

    def numbers(self, image: int, n: int) -> list[int]:
        """Every lane's number for presentation ``n`` of image ``image``."""
        if self.kind == "ideal":
            return [int(v) for v in _ideal(self.seed, image, self.presentations,
                                           len(self.phases))[n]]
        step = image * self.presentations + n
        if self.kind == "lfsr":
            self._goto(step)
            return [s - 1 for s in self.state]
        out = []
        for p in self.phases:  # Sobol dimension 0 in Gray-code order: reverse the Gray code
            k = (p + step) % 256
            g = k ^ (k >> 1)
            out.append(int(f"{g:08b}"[::-1], 2))
        return out
