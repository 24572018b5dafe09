"""Fault plug-ins of the bit-plane fabric: dual-row sensing errors.

A dual-row activation senses the AND of two cells against a shifted reference; with process
variation (MTJ resistance spread, reference offset) the sense amplifier can decide wrongly.
The model: each sensed bit of each dual-row AND (weight plane x activation plane, and mask
plane x activation plane) flips independently with probability ``p``
(``faults.and_error``); single-row reads are not affected. The bit-counter then counts the
flipped bits, so a flip changes the accumulation by ``+-alpha 2^(m+k)`` (weight plane m) or
``-+beta 2^k`` (mask plane).

Which sensed bits flip depends only on the run seed, the layer and the image (not on the data
or on ``--jobs``): the flat index space of the layer's AND bits, ordered (window, group,
filter, plane, activation bit, column), is walked with geometric gaps drawn from
``derive_seed(seed, "sense-error", layer, image)``, so a rate p costs O(p x bits), and the
fast and per-cycle engines draw the same flips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.fabrics.pim_bitplane.mapping import LayerMapping
from archsim.seeds import derive_seed

__all__ = ["FAULTS", "Flips", "SenseError", "draw_flips"]

_CHUNK = 4096


@dataclass(frozen=True)
class Flips:
    """The flipped AND bits of one image in one layer, as parallel int64 arrays."""

    position: np.ndarray
    filt: np.ndarray  # global filter index
    group: np.ndarray
    plane: np.ndarray  # 0..M-1 weight planes, M the mask plane
    kbit: np.ndarray
    col: np.ndarray  # index into the group's kept columns

    def __len__(self) -> int:
        return len(self.position)


def draw_flips(mp: LayerMapping, rate: float, seed: int, image: int) -> Flips:
    """The flips of ``image`` in the layer mapped as ``mp`` (see the module docstring)."""
    empty = np.zeros(0, dtype=np.int64)
    per_group = [f * mp.planes * mp.k_bits * n for f, n in zip(mp.f_g, mp.n_g, strict=True)]
    per_window = sum(per_group)
    total = per_window * mp.positions
    if rate <= 0.0 or total == 0:
        return Flips(empty, empty, empty, empty, empty, empty)
    rng = np.random.default_rng(derive_seed(seed, "sense-error", mp.name, image))
    found: list[np.ndarray] = []
    pos = -1
    while True:
        steps = np.cumsum(rng.geometric(rate, _CHUNK))
        idx = pos + steps
        found.append(idx[idx < total])
        if idx[-1] >= total:
            break
        pos = int(idx[-1])
    flat = np.concatenate(found).astype(np.int64)
    position, rem = np.divmod(flat, per_window)
    offsets = np.cumsum([0, *per_group])
    group = np.searchsorted(offsets, rem, side="right") - 1
    rem = rem - offsets[group]
    n_g = np.asarray(mp.n_g, dtype=np.int64)[group]
    kn = mp.k_bits * n_g
    f_local, rem = np.divmod(rem, mp.planes * kn)
    plane, rem = np.divmod(rem, kn)
    kbit, col = np.divmod(rem, n_g)
    starts = np.asarray([f[0] if len(f) else 0 for f in mp.kept_filters], dtype=np.int64)
    filt = np.empty_like(f_local)
    for g, kf in enumerate(mp.kept_filters):
        sel = group == g
        filt[sel] = kf[f_local[sel]] if len(kf) else starts[g]
    return Flips(position, filt, group, plane, kbit, col)


def flip_delta(flips: Flips, sel: np.ndarray, u: np.ndarray, keep: np.ndarray | None,
               act: list[np.ndarray], mp: LayerMapping, alpha: int,
               beta: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(filter, position, change of acc) of the flips ``sel``: u (F, N_fan) weight codes,
    ``keep`` the mask (F, N_fan) or None, ``act[g]`` the group's kept im2col columns
    (N_g, P)."""
    f, p, g = flips.filt[sel], flips.position[sel], flips.group[sel]
    j, k, c = flips.plane[sel], flips.kbit[sel], flips.col[sel]
    fan = np.empty_like(c)
    a = np.empty_like(c)
    for gi, kc in enumerate(mp.kept_cols):
        s = g == gi
        if s.any():
            fan[s] = kc[c[s]]
            a[s] = act[gi][c[s], p[s]]
    is_w = j < mp.m_bits
    w_bit = np.where(is_w, (u[f, fan] >> np.minimum(j, mp.m_bits - 1)) & 1,
                     keep[f, fan] if keep is not None else 1)
    bit = w_bit & ((a >> k) & 1)
    sign = 1 - 2 * bit  # a 0 read as 1 adds one to the count, a 1 read as 0 removes one
    weight = np.where(is_w, alpha * (np.int64(1) << (j + k)), -beta * (np.int64(1) << k))
    return f, p, sign * weight


@dataclass(frozen=True)
class SenseError:
    """The ``sense_error`` fault model (its rate and key path)."""

    name: str = "sense_error"
    key_path: str = "faults.and_error"
    event: str = "sense_error"


#: The fault models of this fabric by name.
FAULTS: dict[str, SenseError] = {"sense_error": SenseError()}
