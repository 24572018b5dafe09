"""Binary weights (DW-CNN eq. 1) and their SNGs: rounding and the source's range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from archsim.blocks.streams import quantize_binary
from archsim.config import load_config
from archsim.fabrics.sc_stream.elaborate import model_weights, network_spec
from archsim.fabrics.sc_stream.network import Network
from archsim.sc import kernels as K

ROOT = Path(__file__).resolve().parents[1]
BIN7 = ROOT / "arch_configs" / "dwcnn" / "lenet5_dwm_bin7_fc-unshared.yaml"


def test_quantize_nearest_and_floor():
    x = np.array([-1.0, -0.5, 0.0, 0.004, 0.5, 1.0])
    # (x+1)/2*128 = 0, 32, 64, 64.256, 96, 128 (clamped to 127)
    np.testing.assert_array_equal(quantize_binary(x, 7), [0, 32, 64, 64, 96, 127])
    np.testing.assert_array_equal(quantize_binary(x - 0.01, 7, "nearest"),
                                  [0, 31, 63, 64, 95, 127])
    np.testing.assert_array_equal(quantize_binary(x - 0.01, 7, "floor"), [0, 31, 63, 63, 95, 127])


def test_binary_weight_source_defaults_to_the_input_width():
    cfg = load_config(BIN7)
    assert cfg.stream.length == 1024
    for layer in cfg.layers:
        assert layer.weights.rounding == "nearest"
        assert layer.weights.rng.width == 10  # ceil(log2 1024) > 7 bits
    cfg = load_config(BIN7, overrides=["layers.fc2.weights.rng={kind: lfsr, width: 7}"])
    assert cfg.layers[3].weights.rng.width == 7


def _stream_bias(overrides):
    cfg = load_config(BIN7, overrides=["stream.length=2046", *overrides])
    spec = network_spec(cfg)
    weights, _ = model_weights(cfg, spec)
    el = Network(spec, weights).layers[3]  # fc2: 10 x 501 binary weights
    decoded = K.decode_bipolar(el.weights.packed, 2046)
    return float(np.mean(decoded - el.weights.effective))


@pytest.mark.parametrize("width,limit", [(None, 0.003), (7, None)])
def test_sng_of_a_binary_weight_is_unbiased_in_a_wide_source(width, limit):
    """An LFSR never outputs 0: compared in a 7-bit range a weight v reads (v-1)/127 instead of
    v/128, about 2^-7 low in bipolar terms near 0; in the 11-bit range of a 2046-bit stream
    the bias is about 2^-10."""
    over = [] if width is None else [f"layers.fc2.weights.rng={{kind: lfsr, width: {width}}}"]
    bias = _stream_bias(over)
    if limit is not None:
        assert abs(bias) < limit
    else:
        assert bias < -0.006  # the narrow source's systematic offset, made visible
