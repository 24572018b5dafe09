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
from dataclasses import dataclass, field

import numpy as np

from archsim.seeds import derive_seed


@dataclass
class FaultTable:
    """Faults of one image of one layer: which tracks failed, and each fault event (its
    track's row, the access during which it struck, its direction +-1), sorted by row.

    The offset of a track at an access is the sum of its events up to that access;
    :meth:`offset_rows` builds it for a block of rows, :attr:`offsets` for all (a dense
    ``(len(tracks), S)`` array: build it only for small tables).
    """

    tracks: np.ndarray  # faulted track indices
    per_step: np.ndarray  # (S,) fault events per access (all tracks)
    event_row: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    event_step: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    event_dir: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def steps(self) -> int:
        return len(self.per_step)

    def offset_rows(self, r0: int, r1: int) -> np.ndarray:
        """``int64[r1 - r0, S]``: the signed offset of rows ``r0..r1`` at every access.

        Built run by run: a row's offset is constant between two of its events, so the
        array is one ``np.repeat`` of each run's value over the run's length (events are
        sorted by row, then access)."""
        S, R = self.steps, r1 - r0
        lo, hi = np.searchsorted(self.event_row, [r0, r1])
        row = self.event_row[lo:hi] - r0
        step = self.event_step[lo:hi]
        total = np.cumsum(self.event_dir[lo:hi])
        before = np.zeros(R + 1, dtype=np.int64)  # the running sum before each row's events
        np.add.at(before, row + 1, self.event_dir[lo:hi])
        before = np.cumsum(before)
        # runs: each row starts one at access 0 (offset 0), every event starts another
        starts = np.concatenate([np.arange(R, dtype=np.int64) * S, row * S + step])
        values = np.concatenate([np.zeros(R, dtype=np.int64), total - before[row]])
        order = np.argsort(starts, kind="stable")
        starts, values = starts[order], values[order]
        lengths = np.diff(np.append(starts, R * S))
        return np.repeat(values, lengths).reshape(R, S)

    @property
    def offsets(self) -> np.ndarray:
        """``int64[len(tracks), S]``: every faulted track's offset at every access."""
        return self.offset_rows(0, len(self.tracks))


class TrackStreams:
    """The weight streams a track holds: ``per_track`` consecutive streams per track (the
    ports' zones of a track), ``count`` streams in all.  Called with one track it gives that
    track's streams; :meth:`many` gives every (row, stream) pair of an array of tracks."""

    def __init__(self, per_track: int, count: int) -> None:
        self.per_track = per_track
        self.count = count

    def __call__(self, track: int) -> np.ndarray:
        return np.arange(track * self.per_track, min((track + 1) * self.per_track, self.count))

    def many(self, tracks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, streams)``: for each track ``tracks[row]``, in order, its streams."""
        first = tracks.astype(np.int64) * self.per_track
        rows = np.repeat(np.arange(len(tracks), dtype=np.int64), self.per_track)
        streams = (first[:, None] + np.arange(self.per_track, dtype=np.int64)).ravel()
        keep = streams < self.count
        return rows[keep], streams[keep]


#: A layer's fault model: image -> (its fault table, track -> the weight streams it holds).
FaultDraw = Callable[[int], tuple[FaultTable, "TrackStreams"]]

_U32 = np.uint64(0xFFFFFFFF)
#: Above this many expected Lemire rejections the draws are replayed one call at a time.
_MAX_REJECTIONS = 64


class Uint32Stream:
    """The 32-bit draws a numpy ``Generator`` hands to ``integers`` with a range below
    2^32, taken in bulk from its bit generator: each 64-bit output gives its low half, then
    its high half (PCG64's ``next_uint32`` buffer), so ``next(n)`` returns exactly the words n
    single draws would use.  Only valid while nothing else draws from the generator and when
    its 32-bit buffer is empty at the start (a fresh generator, or only 64-bit draws so far:
    ``binomial``, ``random``, ``geometric``)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._bits = rng.bit_generator
        self._spare: np.ndarray = np.zeros(0, np.uint64)

    def next(self, n: int) -> np.ndarray:
        have = self._spare
        need = n - len(have)
        if need <= 0:
            self._spare = have[n:]
            return have[:n]
        raw = np.asarray(self._bits.random_raw((need + 1) // 2), dtype=np.uint64)
        words = np.empty(2 * len(raw), dtype=np.uint64)
        words[0::2] = raw & _U32
        words[1::2] = raw >> np.uint64(32)
        out = np.concatenate([have, words[:need]])
        self._spare = words[need:]
        return out


def _draws_by_loop(rng: np.random.Generator, counts: np.ndarray,
                   total: int) -> tuple[np.ndarray, np.ndarray]:
    """Per faulted track, in order: which of its ``total`` shift steps failed
    (``integers(0, total, count)``) and in which direction (``choice([-1, 1], count)``)."""
    k, d = [], []
    for c in counts.tolist():
        k.append(rng.integers(0, total, size=c))
        d.append(rng.choice(np.array([-1, 1]), size=c))
    return np.concatenate(k), np.concatenate(d)


def _draws_in_bulk(rng: np.random.Generator, counts: np.ndarray,
                   total: int) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`_draws_by_loop`'s numbers, bit for bit, from one bulk draw: numpy's bounded
    integers below 2^32 are Lemire's method on one 32-bit word each (a word is rejected and
    redrawn when the low half of ``word * total`` is below ``(2^32 - total) % total``),
    ``choice`` of two is the top bit of a word.  None when the replay does not apply (a range
    of 2^32 or more, one step, or many rejections expected)."""
    if total < 2 or total - 1 >= 0xFFFFFFFF:
        return None
    threshold = (2**32 - total) % total
    C = int(counts.sum())
    E = 2 * C  # events: per track, its `count` step draws, then its `count` directions
    if E * threshold / 2**32 > _MAX_REJECTIONS:
        return None
    block = np.repeat(np.arange(len(counts)), 2 * counts)
    first = np.cumsum(2 * counts) - 2 * counts
    local = np.arange(E, dtype=np.int64) - first[block]
    is_step = local < counts[block]
    step_events = np.flatnonzero(is_step)
    stream = Uint32Stream(rng)
    words = stream.next(E)
    extra = np.zeros(E, dtype=np.int64)  # rejected words before event e's accepted one
    settled = 0  # events before this index have their final word
    while True:
        pos = np.arange(E, dtype=np.int64) + np.cumsum(extra)
        if int(pos[-1]) >= len(words):
            words = np.concatenate([words, stream.next(int(pos[-1]) + 1 - len(words))])
        if threshold == 0:
            break
        cand = step_events[step_events >= settled]
        low = (words[pos[cand]] * np.uint64(total)) & _U32
        rejected = np.flatnonzero(low < np.uint64(threshold))
        if len(rejected) == 0:
            break
        e = int(cand[rejected[0]])
        extra[e] += 1
        settled = e
    used = words[pos]
    k = ((used[is_step] * np.uint64(total)) >> np.uint64(32)).astype(np.int64)
    d = np.where((used[~is_step] >> np.uint64(31)) != 0, 1, -1).astype(np.int64)
    return k, d


def draw_faults(steps: np.ndarray, tracks: int, p: float, seed: int, layer: str,
                image: int) -> FaultTable:
    """Faults of ``tracks`` tracks that each take the shift ``steps`` of one image.

    Each track fails Binomial(total steps, p) times; each failure strikes a uniformly drawn
    shift step and moves the track one domain forward or back.  The numbers are those of one
    ``integers`` and one ``choice`` call per faulted track, drawn in bulk
    (:func:`_draws_in_bulk`), so the table is the same as drawing them one track at a time."""
    S = len(steps)
    total = int(steps.sum())
    empty = FaultTable(np.zeros(0, np.int64), np.zeros(S, np.int64))
    if p <= 0 or total == 0 or tracks == 0:
        return empty
    rng = np.random.default_rng(derive_seed(seed, "misalign", layer, image))
    n = rng.binomial(total, p, size=tracks)
    hit = np.flatnonzero(n)
    if len(hit) == 0:
        return empty
    counts = n[hit].astype(np.int64)
    drawn = _draws_in_bulk(rng, counts, total)
    k, direction = drawn if drawn is not None else _draws_by_loop(rng, counts, total)
    cum = np.cumsum(steps)
    s = np.searchsorted(cum, k, side="right").astype(np.int64)  # the access of each failure
    per_step = np.bincount(s, minlength=S).astype(np.int64)
    row = np.repeat(np.arange(len(hit), dtype=np.int64), counts)
    order = np.lexsort((s, row))  # by row, then access
    return FaultTable(hit.astype(np.int64), per_step, row[order], s[order],
                      direction.astype(np.int64)[order])
