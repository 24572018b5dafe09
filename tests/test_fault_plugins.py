"""Fault models are plug-ins of the SC stream fabric: one class and one registration, and both
engines simulate a new one alike (the engines name no fault).

The test registers a toy wire fault -- output stream 0 of conv1 inverted on its way to fc1 --
and checks that the fast and the per-cycle engine give the same bits, cycles and action
counts (fault events included), that the events are what the fault did, and that the three
shipped models are registered.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from archsim.config import load_config
from archsim.fabrics.sc_stream import faults
from archsim.run import RunOptions, run_config
from archsim.sc import kernels as K

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "arch_configs" / "dwcnn" / "small_conv_fc.yaml"


class InvertedWire(faults.FaultModel):
    """Output stream 0 of layer conv1 arrives inverted at the next layer (a broken wire)."""

    name, target, block, action = "inverted_wire", "wire", "btanh", "invert"

    def rate(self, lay):
        return 1.0 if lay.name == "conv1" else 0.0

    def key_path(self, index, memory):
        return f"layers[{index}]"

    def corrupt_output(self, el, out, image):
        flat = out.streams.reshape(-1, out.streams.shape[-1])
        flat[0] = K.xnor(flat[0][None], np.zeros_like(flat[0])[None], el.L)[0]  # NOT
        return el.L  # every bit of the stream

    def step_events(self, el, state, s, emitting):
        return 1 if emitting else 0

    def corrupt_token(self, state, bits, t):
        bits = bits.copy()
        bits[0] ^= 1
        return bits


def test_the_shipped_fault_models_are_registered():
    assert [f.name for f in faults.FAULTS] == ["misalignment", "read_error", "stream_flip"]
    assert {f.target for f in faults.FAULTS} == {"memory", "wire"}


def test_a_registered_fault_model_runs_alike_in_both_engines():
    cfg = load_config(SMALL)
    clean, tc = run_config(cfg, RunOptions(mode="fast", keep_trace=True))
    model = faults.register_fault(InvertedWire())
    try:
        fast, tf = run_config(cfg, RunOptions(mode="fast", keep_trace=True))
        slow, ts = run_config(cfg, RunOptions(mode="per-cycle", keep_trace=True))
    finally:
        faults.FAULTS.remove(model)
    L = cfg.stream.length
    for x, y, c in zip(tf.layer_bits["conv1"], ts.layer_bits["conv1"], tc.layer_bits["conv1"],
                       strict=True):
        assert np.array_equal(x, y)
        fx = K.unpack_bits(x.reshape(-1, x.shape[-1]), L)
        fc = K.unpack_bits(c.reshape(-1, c.shape[-1]), L)
        assert (fx[0] == 1 - fc[0]).all() and np.array_equal(fx[1:], fc[1:])
    assert fast.cycles == slow.cycles
    assert fast.ledger.action_counts() == slow.ledger.action_counts()
    assert fast.ledger.count("conv1.btanh", "invert") == L * cfg.dataset.images
    assert [r.prediction for r in fast.accuracy] == [r.prediction for r in slow.accuracy]
    again, _ = run_config(load_config(SMALL), RunOptions(mode="fast"))
    assert "invert" not in again.ledger.blocks["conv1.btanh"].actions
