"""Racetrack misalignment faults: over- and under-shifts that leave a track misaligned.

NetDrift's model (code: LeonardDavid/NetDrift, its racetrack-misalignment fault kernel):
every one-domain shift step of a track fails with probability p, moving the track one domain
too far or one too few (equally likely).  The error persists as a signed offset, so the port
then reads ``stored[a - offset]`` instead of ``stored[a]``: a shifted copy of the stream, not
independent bit flips.  Edges:
``saturate`` reads the nearest real cell, ``random`` reads a random bit past the end.

archsim draws the faults of an image from the run seed, the layer and the image index, over
the image's nominal access sequence (starting with the stream's first bit under the port),
and re-aligns the tracks at the start of every image (a position check per inference), so
images stay independent of each other and of how they are split over worker processes.
Every nanowire of a track shares its faults (all zones of a track shift together).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from archsim.seeds import derive_seed


@dataclass
class FaultTable:
    """Faults of one image of one layer: per faulted track, the offset at every access."""

    tracks: np.ndarray  # faulted track indices
    offsets: np.ndarray  # (len(tracks), S) signed offset in effect at each access
    per_step: np.ndarray  # (S,) fault events per access (all tracks)


#: A layer's fault model: image -> (its fault table, track -> the weight streams it holds).
FaultDraw = Callable[[int], tuple[FaultTable, Callable[[int], np.ndarray]]]


def draw_faults(steps: np.ndarray, tracks: int, p: float, seed: int, layer: str,
                image: int) -> FaultTable:
    """Faults of ``tracks`` tracks that each take the shift ``steps`` of one image."""
    S = len(steps)
    total = int(steps.sum())
    empty = FaultTable(np.zeros(0, np.int64), np.zeros((0, S), np.int64), np.zeros(S, np.int64))
    if p <= 0 or total == 0 or tracks == 0:
        return empty
    rng = np.random.default_rng(derive_seed(seed, "misalign", layer, image))
    n = rng.binomial(total, p, size=tracks)
    hit = np.flatnonzero(n)
    if len(hit) == 0:
        return empty
    cum = np.cumsum(steps)
    offsets = np.zeros((len(hit), S), dtype=np.int64)
    per_step = np.zeros(S, dtype=np.int64)
    for row, tr in enumerate(hit.tolist()):
        k = rng.integers(0, total, size=n[tr])  # which shift step failed
        s = np.searchsorted(cum, k, side="right")  # ... during which access
        direction = rng.choice(np.array([-1, 1]), size=n[tr])
        np.add.at(offsets[row], s, direction)
        np.add.at(per_step, s, 1)
    return FaultTable(hit.astype(np.int64), np.cumsum(offsets, axis=1), per_step)


def misread_addresses(address: np.ndarray, offsets: np.ndarray, period: int, edge: str,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Addresses actually read (clamped) and a mask of reads past the track's end."""
    a = address[None, :] - offsets
    outside = (a < 0) | (a >= period)
    if edge == "random":
        return np.clip(a, 0, period - 1), outside
    return np.clip(a, 0, period - 1), np.zeros_like(outside)
