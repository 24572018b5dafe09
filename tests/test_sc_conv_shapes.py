"""The SC stream fabric runs convolutions beyond DW-CNN's LeNet-5: stride 2, zero padding,
rectangular inputs and overlapping 3x3/stride-2 segment max pooling, in both engines.

"A stride-2 convolution's output bit t of neuron (f, y, x) is the SC inner product of the
window at (2y, 2x)"; "a padded input reads the bipolar zero stream 0101..."; "a 3x3/stride-2
pooling unit forwards one of its 9 candidates per segment".  Each design below gives the same
cycles, action counts, output bits and predictions in the fast and the per-cycle engine, the
same bits with the NumPy and the Cython kernels, and follows its float reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from archsim.config import load_config
from archsim.run import RunOptions, prepare_run, run_config
from archsim.sc import kernels

ROOT = Path(__file__).resolve().parents[1]
TECH = (ROOT / "arch_configs" / "tech" / "generic45.yaml").as_posix()


def _design(tmp_path: Path, name: str, conv: dict, in_shape=(1, 9, 9), L: int = 64,
            more: list | None = None) -> Path:
    c, h, w = in_shape
    doc = {
        "name": name, "include": TECH, "clock": "200 MHz", "seed": 5,
        "dataset": {"name": "random", "images": 3}, "stream": {"length": L},
        "memories": {"dwm0": {"kind": "dwm", "domains": 64, "ports": 1},
                     "sram0": {"kind": "sram"}},
        "layers": [
            {"name": "conv1", "kind": "conv", "in_channels": c,
             "in_size": h if h == w else [h, w], "filters": 2, "kernel": 3,
             "weights": {"memory": "dwm0", "length": 16}, "sharing": "filter",
             "pool_segment": 8, **conv},
        ],
    }
    doc["layers"] += more or []
    cfg = load_config_doc(tmp_path, name, doc)
    lay = cfg.layers[0]
    doc["layers"].append({"name": "fc1", "kind": "fc", "inputs": lay.output_count
                          if not more else cfg.layers[-1].output_count,
                          "outputs": 4, "weights": {"memory": "sram0", "length": 16},
                          "activation": "none"})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def load_config_doc(tmp_path: Path, name: str, doc: dict):
    """The config of ``doc`` with a provisional last layer (to read the output counts)."""
    probe = dict(doc, layers=[*doc["layers"], {"name": "out", "kind": "fc", "inputs": 1,
                                                "outputs": 1, "activation": "none",
                                                "weights": {"memory": "sram0", "length": 16}}])
    path = tmp_path / f"{name}.probe.yaml"
    for _ in range(2):
        path.write_text(yaml.safe_dump(probe))
        try:
            return load_config(path)
        except Exception as e:  # noqa: BLE001 - fix the provisional layer's input count
            from archsim.config.errors import ConfigError

            assert isinstance(e, ConfigError), e
            n = int(str(e).split("expected ")[1].split(",")[0])
            probe["layers"][-1]["inputs"] = n
    raise AssertionError("unreachable")


CASES = {
    "stride2": ({"stride": 2}, (1, 9, 9)),
    "padding1": ({"padding": 1, "pool": 2}, (1, 8, 8)),
    "rectangular": ({"pool": 2}, (1, 6, 10)),
    "pool3_stride2": ({"pool": 3, "pool_stride": 2}, (1, 9, 9)),
    "all_together": ({"stride": 2, "padding": 1, "pool": 3, "pool_stride": 2,
                      "pool_first": "random"}, (2, 11, 13)),
}


def _same(fast, tf, slow, ts):
    assert fast.cycles == slow.cycles
    for a, b in zip(fast.layers, slow.layers, strict=True):
        assert (a.start_cycle, a.end_cycle, a.busy_cycles, a.stall_cycles) == (
            b.start_cycle, b.end_cycle, b.busy_cycles, b.stall_cycles)
    assert fast.ledger.action_counts() == slow.ledger.action_counts()
    for name in tf.layer_bits:
        for x, y in zip(tf.layer_bits[name], ts.layer_bits[name], strict=True):
            assert np.array_equal(x, y), name
        for x, y in zip(tf.produce[name], ts.produce[name], strict=True):
            assert np.array_equal(x, y), name
    for x, y in zip(tf.counts_sum, ts.counts_sum, strict=True):
        assert np.array_equal(x, y)
    assert [r.prediction for r in fast.accuracy] == [r.prediction for r in slow.accuracy]


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_equals_per_cycle(case, tmp_path):
    conv, shape = CASES[case]
    cfg = load_config(_design(tmp_path, case, conv, shape))
    fast, tf = run_config(cfg, RunOptions(mode="fast", keep_trace=True))
    slow, ts = run_config(cfg, RunOptions(mode="per-cycle", keep_trace=True))
    _same(fast, tf, slow, ts)


@pytest.mark.parametrize("case", sorted(CASES))
def test_numpy_and_cython_kernels_give_the_same_bits(case, tmp_path):
    conv, shape = CASES[case]
    cfg = load_config(_design(tmp_path, case, conv, shape))
    a, ta = run_config(cfg, RunOptions(keep_trace=True))
    previous = kernels.use_backend("numpy")
    try:
        b, tb = run_config(cfg, RunOptions(keep_trace=True))
    finally:
        kernels.use_backend(previous)
    for name in ta.layer_bits:
        for x, y in zip(ta.layer_bits[name], tb.layer_bits[name], strict=True):
            assert np.array_equal(x, y)
    assert a.ledger.action_counts() == b.ledger.action_counts()


def test_output_shapes_follow_the_convolution_arithmetic(tmp_path):
    cfg = load_config(_design(tmp_path, "all", *CASES["all_together"]))
    lay = prepare_run(cfg).net.layers[0].spec
    # (11 + 2 - 3) // 2 + 1 = 6, (13 + 2 - 3) // 2 + 1 = 7; pool 3 stride 2: 2 x 3
    assert (lay.conv_h, lay.conv_w, lay.out_h, lay.out_w) == (6, 7, 2, 3)
    assert lay.out_count == 2 * 2 * 3
    hw = prepare_run(cfg).net.layers[0].hw
    assert hw.blocks["pool"].instances == 12 and hw.xnors == 2 * 6 * 7 * (2 * 9)


def test_a_padded_strided_window_is_counted_as_plain_integer_arithmetic(tmp_path):
    """Counts of a corner and an inner neuron of a stride-2, padding-1 convolution, by hand:
    the exact count at bit t is the bias bit plus, over (c, ky, kx), XNOR of the weight bit
    with the input bit at (2y + ky - 1, 2x + kx - 1), or with t & 1 where that is padding."""
    from archsim.fabrics.sc_stream.datapath import compute_layer

    cfg = load_config(_design(tmp_path, "pad", {"stride": 2, "padding": 1, "counter": "pc"},
                              (2, 7, 8)))
    p = prepare_run(cfg)
    el, net = p.net.layers[0], p.net
    img = next(p.images)
    x = net.encode(img.pixels)  # (C, H, W, words)
    L = net.input_tokens
    out = compute_layer(el.spec, x, el.weights, L, el.pool_first, keep_counts=True)
    bits = kernels.unpack_bits(x.reshape(-1, x.shape[-1]), L).reshape(2, 7, 8, L)
    k = el.spec.kernel
    for f, y, xo in ((0, 0, 0), (1, 2, 1), (1, 3, 3)):
        for t in (0, 1, 17, L - 1):
            wb = el.weights.bits_at(t)[f]  # (fan_in,): (c, ky, kx) row-major, bias last
            count = int(wb[-1])
            for c in range(2):
                for ky in range(k):
                    for kx in range(k):
                        iy, ix = 2 * y + ky - 1, 2 * xo + kx - 1
                        xb = int(bits[c, iy, ix, t]) if 0 <= iy < 7 and 0 <= ix < 8 else t & 1
                        count += 1 - (xb ^ int(wb[(c * k + ky) * k + kx]))
            assert int(out.counts[f, y, xo, t]) == count, (f, y, xo, t)
