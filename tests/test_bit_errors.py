"""Bit errors: STT-MRAM read errors (every read of a stored weight bit inverted with probability
p) and transient flips of the streams between layers (``output_flip``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from archsim.blocks.bit_errors import flip_binary_words, read_error_mask
from archsim.config import load_config
from archsim.config.errors import ConfigError
from archsim.fabrics.sc_stream.elaborate import model_weights, network_spec
from archsim.fabrics.sc_stream.network import Network
from archsim.run import RunOptions, run_config
from archsim.sc import kernels as K

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "arch_configs" / "dwcnn" / "small_conv_fc.yaml"
LENET_MRAM = ROOT / "arch_configs" / "dwcnn" / "lenet5_sttmram_sn128_fc-unshared.yaml"
LENET = ROOT / "arch_configs" / "dwcnn" / "lenet5_dwm_sn128_fc-shared_pc_sc.yaml"
# the small design with every weight in an STT-MRAM and an unshared FC
MRAM = ["memories.mram0.kind=stt_mram", "layers.conv1.weights.memory=mram0",
        "layers.fc1.weights.memory=mram0", "layers.fc1.mux_groups=null"]


@pytest.mark.parametrize("p", [0.002, 0.03, 0.3])  # gaps (sparse) and uniform draws (dense)
@pytest.mark.parametrize("length", [100, 1024])
def test_mask_has_the_error_rate_and_is_deterministic_per_image(p, length):
    rows = 3000
    m = read_error_mask(rows, length, p, seed=5, layer="fc1", image=3)
    n = int(K.popcount(m, length).sum())
    expected = rows * length * p
    assert abs(n - expected) < 6 * np.sqrt(expected * (1 - p))
    if length % 64:  # no bit past the stream's end
        assert not (m[:, -1] & ~np.uint64(K.tail_mask(length))).any()
    assert np.array_equal(m, read_error_mask(rows, length, p, 5, "fc1", 3))
    assert not np.array_equal(m, read_error_mask(rows, length, p, 5, "fc1", 4))
    assert not np.array_equal(m, read_error_mask(rows, length, p, 6, "fc1", 3))
    # errors are spread over the streams and cycles, not clustered
    per_cycle = K.unpack_bits(m, length).sum(axis=0)
    assert per_cycle.min() > 0 if p >= 0.03 else per_cycle.max() < 20
    assert not read_error_mask(rows, length, 0.0, 5, "fc1", 3).any()


@pytest.mark.skipif(K.cython is None, reason="compiled kernels not built")
@pytest.mark.parametrize("length", [1, 63, 64, 100, 1024])
@pytest.mark.parametrize("last", [-1, 0, 57])
def test_mark_gaps_cython_equals_numpy(length, last):
    rng = np.random.default_rng(length + last)
    rows = 11
    gaps = rng.geometric(0.05, size=400)
    a = np.zeros((rows, (length + 63) // 64), np.uint64)
    b = a.copy()
    end_a = K.cython.mark_gaps(a, length, gaps, last)
    end_b = K.numpy.mark_gaps(b, length, gaps, last)
    assert end_a == end_b == last + int(gaps.sum())
    np.testing.assert_array_equal(a, b)
    pos = last + np.cumsum(gaps)
    inside = pos[(pos >= 0) & (pos < rows * length)]
    assert int(K.popcount(a, length).sum()) == len(inside)
    bits = K.unpack_bits(a, length).reshape(-1)
    assert np.array_equal(np.flatnonzero(bits), inside)


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_mark_gaps_rejects_bad_gaps(backend):
    if backend == "cython" and K.cython is None:
        pytest.skip("compiled kernels not built")
    mod = K.backend(backend)
    with pytest.raises(ValueError, match="gaps"):
        mod.mark_gaps(np.zeros((2, 1), np.uint64), 64, np.array([3, 0, 2]), -1)


def test_binary_words_flip_at_load_with_the_error_rate():
    v = np.random.default_rng(0).integers(0, 128, size=20000)
    assert flip_binary_words(v, 7, 0.0, 1, "fc1") is v
    f = flip_binary_words(v, 7, 0.05, 1, "fc1")
    flipped = np.unpackbits((f ^ v).astype(np.uint8)).sum()
    assert abs(flipped - 20000 * 7 * 0.05) < 6 * np.sqrt(20000 * 7 * 0.05)
    assert f.min() >= 0 and f.max() < 128
    assert np.array_equal(f, flip_binary_words(v, 7, 0.05, 1, "fc1"))


def test_fast_mode_equals_per_cycle_mode_with_read_errors():
    from engines_agree import assert_engines_agree as _assert_same
    from engines_agree import run_both as _both

    cfg = load_config(SMALL, [*MRAM, "memories.mram0.read_error=0.05"])
    fast, tf, slow, ts = _both(cfg)
    _assert_same(fast, tf, slow, ts)
    for layer in ("conv1", "fc1"):
        errors = fast.ledger.count(f"{layer}.weight_mem", "read_error")
        reads = fast.ledger.count(f"{layer}.weight_mem", "read")
        assert errors == slow.ledger.count(f"{layer}.weight_mem", "read_error")
        assert abs(errors - 0.05 * reads) < 6 * np.sqrt(0.05 * reads)


def test_read_errors_change_the_bits_but_not_the_timing_or_energy():
    r0, t0 = run_config(load_config(SMALL, MRAM), RunOptions(keep_trace=True))
    rz, tz = run_config(load_config(SMALL, [*MRAM, "memories.mram0.read_error=0"]),
                        RunOptions(keep_trace=True))
    assert all(np.array_equal(a, b) for a, b in zip(t0.counts_sum, tz.counts_sum, strict=True))
    rf, tf = run_config(load_config(SMALL, [*MRAM, "memories.mram0.read_error=0.1"]),
                        RunOptions(keep_trace=True))
    assert not all(np.array_equal(a, b) for a, b in zip(t0.counts_sum, tf.counts_sum, strict=True))
    assert rf.cycles == r0.cycles
    assert rf.energy_pj() == pytest.approx(r0.energy_pj())  # an inverted read costs the same
    # the weights the datapath saw: stored streams XOR that image's mask
    cfg = load_config(SMALL, [*MRAM, "memories.mram0.read_error=0.1"])
    spec = network_spec(cfg)
    net = Network(spec, model_weights(cfg, spec)[0])
    el = net.layers[1]
    seen = el.weights.image_packed(2)
    np.testing.assert_array_equal(seen ^ el.weights.packed, el.weights.read_error_mask(2))
    assert el.weights.read_errors(2) == int(K.popcount(el.weights.read_error_mask(2),
                                                       spec.stream_length).sum())


def test_one_and_two_workers_give_the_same_results_with_read_errors():
    cfg = load_config(SMALL, [*MRAM, "memories.mram0.read_error=0.05", "dataset.images=6"])
    one, _ = run_config(cfg, RunOptions(jobs=1))
    two, _ = run_config(cfg, RunOptions(jobs=2))
    assert [r.prediction for r in one.accuracy] == [r.prediction for r in two.accuracy]
    assert one.ledger.action_counts() == two.ledger.action_counts()
    assert one.cycles == two.cycles


def test_read_errors_on_a_mux_shared_fc_are_rejected_naming_the_key():
    cfg = load_config(SMALL, ["memories.mram0.kind=stt_mram", "layers.fc1.weights.memory=mram0",
                              "memories.mram0.read_error=0.01"])
    with pytest.raises(ConfigError) as e:
        run_config(cfg)
    assert "memories.mram0.read_error" in str(e.value) and "fc1" in str(e.value)


def test_binary_weights_in_mram_take_read_errors_at_load():
    base = ["memories.mram0.kind=stt_mram", "layers.conv1.weights.memory=mram0"]
    small_bin = ROOT / "arch_configs" / "dwcnn" / "small_bin_sram_slowdwm.yaml"
    r0, t0 = run_config(load_config(small_bin, base), RunOptions(keep_trace=True))
    rf, tf = run_config(load_config(small_bin, [*base, "memories.mram0.read_error=0.2"]),
                        RunOptions(keep_trace=True))
    assert not all(np.array_equal(a, b) for a, b in zip(t0.layer_bits["conv1"],
                                                        tf.layer_bits["conv1"], strict=True))
    assert rf.cycles == r0.cycles
    # the inverted bits of the load are counted: about p x the weight bits loaded (one draw per
    # weight word; an unshared conv layer's copies share it)
    cfg = load_config(small_bin, [*base, "memories.mram0.read_error=0.2"])
    spec = network_spec(cfg)
    lay = spec.layers[0]
    weight_bits = (lay.filters * (lay.in_channels * lay.kernel ** 2 + 1)) * lay.weight_bits
    n = rf.ledger.count("conv1.weight_mem", "read_error")
    assert n > 0 and abs(n - 0.2 * weight_bits) < 6 * np.sqrt(0.2 * weight_bits)
    net = Network(spec, model_weights(cfg, spec)[0])
    assert n == net.layers[0].weights.load_read_errors


def test_lenet_accuracy_falls_to_chance_when_reads_are_coin_flips():
    """On the shipped MNIST subset: error-free STT-MRAM weights classify well; with p = 0.5
    every weight read is a coin flip and the network guesses (256-bit streams for speed)."""
    over = ["stream.length=256", "dataset.images=20"]
    clean, _ = run_config(load_config(LENET_MRAM, over))
    noisy, _ = run_config(load_config(LENET_MRAM, [*over, "memories.weights.read_error=0.5"]))
    acc = [np.mean([r.correct for r in res.accuracy]) for res in (clean, noisy)]
    assert acc[0] >= 0.6 and acc[1] <= 0.3, acc


# ------------------------------------------------------------------- inter-layer stream flips


@pytest.mark.parametrize("over", [
    ["layers.conv1.output_flip=0.1"],  # into a 3-pass MUX-shared FC
    ["layers.conv1.output_flip=0.05", "layers.fc1.mux_groups=null"],
])
def test_fast_mode_equals_per_cycle_mode_with_stream_flips(over):
    from engines_agree import assert_engines_agree as _assert_same
    from engines_agree import run_both as _both

    fast, tf, slow, ts = _both(load_config(SMALL, over))
    _assert_same(fast, tf, slow, ts)
    p = float(over[0].split("=")[1])
    flips = fast.ledger.count("conv1.btanh", "flip")
    bits = fast.ledger.count("conv1.btanh", "update")  # one output bit per Btanh update
    assert flips == slow.ledger.count("conv1.btanh", "flip")
    assert abs(flips - p * bits) < 6 * np.sqrt(p * bits)


def test_stream_flips_invert_exactly_the_masked_output_bits():
    from archsim.fabrics.sc_stream.datapath import output_flip_mask

    cfg0 = load_config(SMALL)
    cfg = load_config(SMALL, ["layers.conv1.output_flip=0.1"])
    _, t0 = run_config(cfg0, RunOptions(keep_trace=True, mode="per-cycle"))
    r, t = run_config(cfg, RunOptions(keep_trace=True, mode="per-cycle"))
    spec = network_spec(cfg)
    for k, (a, b) in enumerate(zip(t0.layer_bits["conv1"], t.layer_bits["conv1"], strict=True)):
        mask = output_flip_mask(spec.layers[0], spec.stream_length, spec.seed, k)
        np.testing.assert_array_equal((a ^ b).reshape(mask.shape), mask)
    assert r.cycles == run_config(cfg0)[0].cycles


def test_one_and_two_workers_give_the_same_results_with_stream_flips():
    cfg = load_config(SMALL, ["layers.conv1.output_flip=0.1", "dataset.images=6"])
    one, _ = run_config(cfg, RunOptions(jobs=1))
    two, _ = run_config(cfg, RunOptions(jobs=2))
    assert [r.prediction for r in one.accuracy] == [r.prediction for r in two.accuracy]
    assert one.ledger.action_counts() == two.ledger.action_counts()


def test_stream_flips_on_a_layer_without_output_streams_are_rejected():
    with pytest.raises(ConfigError) as e:
        run_config(load_config(SMALL, ["layers.fc1.output_flip=0.1"]))
    assert "layers[1].output_flip" in str(e.value)


def test_lenet_tolerates_stream_flips_until_they_are_coin_flips():
    """The stochastic-computing claim, on the shipped MNIST subset: with every inter-layer
    stream bit inverted with probability 0.2 the DW-CNN LeNet-5 still classifies; at 0.5 the
    streams carry no information and it guesses."""
    def accuracy(p):
        over = ["dataset.images=20",
                *(f"layers.{n}.output_flip={p}" for n in ("conv1", "conv2", "fc1"))]
        res, _ = run_config(load_config(LENET, over))
        return np.mean([r.correct for r in res.accuracy])

    assert accuracy(0.2) >= 0.85
    assert accuracy(0.5) <= 0.3
