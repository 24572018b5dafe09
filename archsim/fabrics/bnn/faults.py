"""Bit errors of the weights stored in ST-MRAM: the BNN fabric's fault plug-ins.

Two fault models, one class each, in one registry (:data:`FAULTS`):

* **write errors** (``weight_faults.write_ber``): programming at power-up leaves each stored
  weight bit inverted with that probability; the error stays for the whole run (seeded by the
  run seed and the layer). Events: ``weights.write_error`` at load.
* **read errors** (``weight_faults.read_ber``): every row read senses each of its bits
  inverted with that probability, independently per read (seeded by the run seed, the layer
  and the image, so results do not depend on ``--jobs``). Events: ``weights.read_error``.

Both are supported only on ST-MRAM arrays (memory kind ``stt_mram``); elaboration raises a
ConfigError with the key path on a layer whose weights are in another memory. The flips are
drawn as a Bernoulli process over the sensed (or stored) bits in read order, by geometric
gaps (cost proportional to the number of flips). Hardware effect of a read flip: the sensed
weight bit is inverted before the XNOR (or the adder's conditional negation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.seeds import derive_seed

__all__ = ["FAULTS", "FaultModel", "ReadBer", "WriteBer", "bernoulli_positions"]


def bernoulli_positions(rng: np.random.Generator, total: int, rate: float) -> np.ndarray:
    """Sorted positions in ``0 .. total-1`` of a Bernoulli(rate) process (int64)."""
    if rate <= 0 or total <= 0:
        return np.zeros(0, dtype=np.int64)
    parts = []
    pos = -1
    chunk = int(total * rate * 1.1) + 64
    while True:
        gaps = rng.geometric(rate, size=chunk).astype(np.int64)
        p = pos + np.cumsum(gaps)
        parts.append(p[p < total])
        if p[-1] >= total:
            break
        pos = int(p[-1])
    return np.concatenate(parts)


@dataclass(frozen=True)
class FaultModel:
    """A stored-weight fault: its key, its event action, and its flips."""

    key: str  # weight_faults.<key>
    action: str  # the event action on the layer's ``weights`` block

    @property
    def key_path(self) -> str:
        return f"weight_faults.{self.key}"

    def rate(self, faults: object) -> float:
        return float(getattr(faults, self.key))

    @staticmethod
    def supported(memory_kind: str) -> bool:
        return memory_kind == "stt_mram"

    def expected(self, layer: str, memory_kind: str) -> str:
        return (f"0: layer {layer!r} keeps its weights in a {memory_kind} memory, and "
                f"{self.key} models ST-MRAM (memory kind stt_mram) only")


@dataclass(frozen=True)
class WriteBer(FaultModel):
    def flips(self, seed: int, layer: str, bits: int, rate: float) -> np.ndarray:
        """Positions of the stored bits programmed inverted (row-major weight order)."""
        rng = np.random.default_rng(derive_seed(seed, "bnn-write-error", layer))
        return bernoulli_positions(rng, bits, rate)


@dataclass(frozen=True)
class ReadBer(FaultModel):
    def flips(self, seed: int, layer: str, image: int, bits: int, rate: float) -> np.ndarray:
        """Positions, in the sensed-bit order of image ``image`` (op-major, ``columns`` bits
        per row read), of the bits sensed inverted."""
        rng = np.random.default_rng(derive_seed(seed, "bnn-read-error", layer, image))
        return bernoulli_positions(rng, bits, rate)


WRITE = WriteBer("write_ber", "write_error")
READ = ReadBer("read_ber", "read_error")
#: the fault models of the BNN fabric
FAULTS: tuple[FaultModel, ...] = (WRITE, READ)
