"""The memory a SC stream design needs in one simulating process, estimated at elaboration.

A design that validates must also run: a 32-bit RNG is a 16 GB table of its period, a layer of
a million neurons with 65,536-cycle streams is terabytes of per-cycle counts.  Elaboration adds
up the largest arrays the simulation of one image builds (an upper bound: the kernels hold
fewer at once: LeNet-5 with 32,768-bit streams and stochastic weights is estimated at 0.8 GiB
and measured at 0.43 GB peak RSS; with 7-bit binary weights estimated at 2.1 GiB, measured at
2.0 GB) and refuses the design with a :class:`~archsim.config.errors.ConfigError`
naming the key that dominates when the total passes the limit
(:data:`DEFAULT_LIMIT_BYTES`, or :data:`LIMIT_ENV` in GiB).

Terms, for a layer with stream length L, S = passes x L datapath steps:

* RNG tables: every source generates one period, 2^width numbers: uint32 values plus the
  uint64 index and state temporaries of the Sobol and counter generators (24 B per entry);
* input streams: ``in_count x S`` bits, packed (1/8 B each);
* weight streams: ``(weights + biases) x stored length`` bits, packed (stochastic weights are
  stored at their own length, binary weights become L-bit streams);
* neuron outputs: ``neurons x S`` bytes (a count or a bit per neuron and cycle, unpacked);
* float weights: ``(weights + biases) x 24`` bytes (the model's float64 array and two copies);
* misalignment faults (p > 0): twice the expected fault events (``tracks x S x p``, one shift
  step per access), 64 B each, the misread block temporaries (2^22 accesses x 24 B) and the
  stored streams a byte per bit;
* DWM heads: ``ports x tracks of a chain`` int64 positions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from archsim.blocks.specs import LayerSpec, NetworkSpec, RngSpec
from archsim.config.errors import ConfigError

__all__ = ["DEFAULT_LIMIT_BYTES", "LIMIT_ENV", "MemoryTerm", "check_memory", "memory_terms"]

#: Default limit of the estimate: 2 GiB per simulating process (``--jobs N`` runs N of them).
DEFAULT_LIMIT_BYTES = 2 * 1024**3
#: Environment variable that sets the limit in GiB (``ARCHSIM_MEMORY_LIMIT_GB=16``).
LIMIT_ENV = "ARCHSIM_MEMORY_LIMIT_GB"

_RNG_BYTES_PER_ENTRY = 24
#: a fault event: its row, access and direction (int64 each), their sort and the draws
_FAULT_EVENT_BYTES = 64
#: the misread temporaries of one block of tracks (2^22 accesses: offsets, bits, masks)
_FAULT_BLOCK_BYTES = (1 << 22) * 24


@dataclass(frozen=True)
class MemoryTerm:
    """One array of the estimate: its size, what it is, and the key that sets it."""

    bytes: int
    what: str
    key_path: str
    value: object


def limit_bytes() -> int:
    """The limit in bytes (:data:`LIMIT_ENV` if set to a positive number of GiB)."""
    text = os.environ.get(LIMIT_ENV, "").strip()
    if text:
        try:
            gib = float(text)
        except ValueError:
            gib = 0.0
        if 0 < gib < 1e6:
            return int(gib * 1024**3)
    return DEFAULT_LIMIT_BYTES


def _rng_term(r: RngSpec, key_path: str) -> MemoryTerm:
    return MemoryTerm((1 << r.width) * _RNG_BYTES_PER_ENTRY,
                      f"the {r.kind} RNG's period table (2^{r.width} entries)", key_path, r.width)


def _layer_terms(lay: LayerSpec, i: int, L: int) -> list[MemoryTerm]:
    here = f"layers[{i}]"
    S = lay.steps(L)
    size_key = f"{here}.filters" if lay.kind == "conv" else f"{here}.outputs"
    size_value = lay.filters if lay.kind == "conv" else lay.outputs
    weights = lay.neurons if lay.kind == "fc" else lay.filters
    weight_count = weights * lay.fan_in
    # stochastic weights are stored (and re-read) at their own length; binary weights become
    # L-bit streams through their SNGs
    stored = lay.weight_length if lay.weight_format == "stochastic" else L
    terms = [
        MemoryTerm(lay.in_count * S // 8, "input streams",
                   f"{here}.inputs" if lay.kind == "fc" else f"{here}.in_size",
                   lay.inputs if lay.kind == "fc" else lay.in_size),
        MemoryTerm(weight_count * stored // 8, "weight streams",
                   f"{here}.weights.length" if lay.weight_format == "stochastic"
                   else "stream.length",
                   lay.weight_length if lay.weight_format == "stochastic" else L),
        MemoryTerm(lay.neurons * S, "per-cycle neuron outputs", size_key, size_value),
        MemoryTerm(weight_count * 8 * 3, "float weights (model, clipped and quantized copies)",
                   size_key, size_value),
    ]
    mem = lay.memory
    if mem.is_dwm:
        chain = -(-max(1, stored) // max(1, mem.domains))
        terms.append(MemoryTerm(mem.ports * chain * 8, "DWM port positions",
                                f"{here}.weights.memory", lay.memory.name))
        if mem.misalignment > 0:
            tracks = weight_count * chain
            events = int(tracks * S * min(1.0, mem.misalignment) * 2) + tracks
            terms.append(MemoryTerm(events * _FAULT_EVENT_BYTES + _FAULT_BLOCK_BYTES
                                    + weight_count * stored,
                                    "misalignment fault events and misread blocks",
                                    f"memories.{mem.name}.misalignment.probability",
                                    mem.misalignment))
    if lay.weight_format == "binary":
        terms.append(_rng_term(lay.weight_rng, f"{here}.weights.rng.width"))
    return terms


def memory_terms(spec: NetworkSpec) -> list[MemoryTerm]:
    """Every array of the estimate (module docstring), largest first."""
    terms = [_rng_term(spec.input_rng, "stream.rng.width")]
    for i, lay in enumerate(spec.layers):
        terms += _layer_terms(lay, i, spec.stream_length)
    return sorted(terms, key=lambda t: -t.bytes)


def check_memory(spec: NetworkSpec, file: object) -> int:
    """The estimate in bytes; a :class:`ConfigError` naming the largest term's key when it
    passes the limit."""
    terms = memory_terms(spec)
    total = sum(t.bytes for t in terms)
    limit = limit_bytes()
    if total > limit:
        top = terms[0]
        raise ConfigError(
            str(file) if file is not None else None, top.key_path, top.value,
            f"a design whose simulation fits in {limit / 1024**3:.3g} GiB (it needs about "
            f"{total / 1024**3:.3g} GiB, {top.bytes / 1024**3:.3g} GiB of them for "
            f"{top.what}); set {LIMIT_ENV} to allow more (docs/config.md, Limits)")
    return total
