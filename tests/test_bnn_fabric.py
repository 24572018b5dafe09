"""The BNN fabric held to its claims: the XNOR-popcount-threshold kernel (Cython == NumPy == the
+-1 integer dot product), the outputs == the contract's integer arithmetic (written here again
with the workload's own float conv/dense on integer values), fast == per-cycle engine on the
shipped small designs and on random small designs, one worker == two, energy == counts x
cost, the weight bit errors at the rate asked, and the float reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from engines_agree import assert_engines_agree, run_both
from hypothesis import given, settings
from hypothesis import strategies as st

from archsim.config import load_config
from archsim.fabrics.bnn.faults import bernoulli_positions
from archsim.fabrics.bnn.network import BnnNetwork
from archsim.fabrics.bnn.sng import LaneSources, lane_phases, random_numbers
from archsim.run import RunOptions, load_images, run_config
from archsim.sc import kernels
from archsim.sc.rng import pack_bits
from archsim.workload import Conv2d, MaxPool, batchnorm
from archsim.workload import forward as F

ROOT = Path(__file__).resolve().parent.parent
BNN = ROOT / "arch_configs" / "bnn"
SMALL = ["small_sc.yaml", "small_vote.yaml", "small_fixed.yaml"]


# ------------------------------------------------------------------------------- kernel
@st.composite
def _lanes(draw):
    q = draw(st.integers(1, 4))
    r = draw(st.integers(1, 3))
    m = draw(st.integers(1, 5))
    k = draw(st.sampled_from([1, 7, 63, 64, 65, 128, 130, 200]))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, size=(q, r, k), dtype=np.uint8)
    w = rng.integers(0, 2, size=(m, k), dtype=np.uint8)
    valid = rng.random((r, k)) < draw(st.sampled_from([1.0, 0.7]))
    scale = rng.integers(-3, 9, size=q).astype(np.int64)
    thr = rng.integers(-k, k + 1, size=m).astype(np.int64)
    neg = rng.integers(0, 2, size=m).astype(np.uint8)
    return x, w, valid.astype(np.uint8), scale, thr, neg


@settings(max_examples=60, deadline=None)
@given(_lanes())
def test_kernel_cython_equals_numpy_equals_the_pm1_dot_product(case):
    x, w, valid, scale, thr, neg = case
    args = (pack_bits(x), pack_bits(w), pack_bits(valid), scale, thr, neg)
    bn, sn = kernels.numpy.bnn_xnor_popcount_threshold(*args)
    # the +-1 integer dot product over the valid inputs, accumulated with the scales
    xs = 2 * x.astype(np.int64) - 1
    ws = 2 * w.astype(np.int64) - 1
    dots = np.einsum("qrk,mk,rk->qrm", xs, ws, valid.astype(np.int64))
    want = (scale[:, None, None] * dots).sum(axis=0)
    assert np.array_equal(sn, want)
    assert np.array_equal(bn, np.where(neg.astype(bool), want <= thr, want >= thr))
    if kernels.cython is not None:
        bc, sc = kernels.cython.bnn_xnor_popcount_threshold(*args)
        assert np.array_equal(sc, sn) and np.array_equal(bc, bn)


# -------------------------------------------------------------- the contract's arithmetic
def _stage_ops(net):
    ops = {o.name: o for o in net.workload.ops}
    stages = net.workload.stages()
    return ops, stages


def _weighted(op, w, x):
    """The workload's own float conv / dense (exact on integer values)."""
    if isinstance(op, Conv2d):
        return F.conv2d(op, x.reshape(op.in_shape)[None].astype(np.float64), w, None)[0]
    return F.dense(x.reshape(1, -1).astype(np.float64), w.reshape(w.shape[0], -1), None)[0]


def _contract(net: BnnNetwork, pixels: np.ndarray, image: int) -> np.ndarray:
    """The class scores of one image as BNN_CONTRACT.md writes the arithmetic."""
    cfg = net.cfg
    inp = cfg.input
    _, stages = _stage_ops(net)
    ws = {lay.name: lay.plan.w_pm.reshape(net.weights[lay.name].w.shape).astype(np.float64)
          for lay in net.layers}
    p = pixels.reshape(-1).astype(np.int64)

    def run(first_value: np.ndarray, divisor: float) -> np.ndarray:
        x = first_value
        for j, stage in enumerate(stages):
            op = stage.layer
            a = x if j == 0 else _weighted(op, ws[op.name], x)
            bn_op = [o for o in stage.ops if o.kind == "batchnorm"][0]
            y = batchnorm(a / (divisor if j == 0 else 1.0), net.weights.batchnorm[bn_op.name])
            if j == len(stages) - 1:
                return y
            s = np.where(y >= 0, 1.0, -1.0)
            for o in stage.ops:
                if isinstance(o, MaxPool):
                    s = F.pool(o, s[None])[0]
            x = s.reshape(-1)
        raise AssertionError("unreachable")

    op0 = stages[0].layer
    if inp.encoding == "fixed":
        return run(_weighted(op0, ws[op0.name], p), 255.0)
    kind, phases, seed, n = net.sng
    bits = (random_numbers(kind, phases, seed, image, n) < p[None, :]).astype(np.int64)
    per = [_weighted(op0, ws[op0.name], b) for b in bits]
    if inp.combine == "first_layer":
        return run(np.sum(per, axis=0), float(n))
    scores = [run(a, 1.0) for a in per]
    if inp.combine == "output_add":
        return np.sum(scores, axis=0)
    votes = np.bincount([int(np.argmax(s)) for s in scores], minlength=len(scores[0]))
    return votes.astype(np.float64)


@pytest.mark.parametrize("design,overrides", [
    ("small_sc.yaml", ()),
    ("small_sc.yaml", ("input.combine=output_add", "input.rng.kind=ideal")),
    ("small_sc.yaml", ("input.combine=output_vote", "input.presentations=5")),
    ("small_fixed.yaml", ()),
    ("small_fixed.yaml", ("input.datapath=adder",)),
    ("small_sc.yaml", (f"workload={ROOT}/arch_configs/workloads/bnn_fmnist_mlp.yaml",
                       "layers=[{name: fc1, memory: weights, arrays: 8}, {name: fc2, memory: "
                       "weights, arrays: 8}, {name: fc3, memory: weights, arrays: 2}]",
                       "dataset.name=random",
                       "array.columns=64", "array.rows=1024")),
], ids=str)
def test_outputs_are_the_contract_arithmetic(design, overrides):
    cfg = load_config(BNN / design, list(overrides) + ["weight_faults.read_ber=0",
                                                        "weight_faults.write_ber=0"])
    res, tr = run_config(cfg, RunOptions(keep_trace=True))
    net = BnnNetwork(cfg)
    images, _ = load_images(cfg, net.input_shape, 0, cfg.dataset.images, None)
    for k, img in enumerate(images):
        want = _contract(net, img.pixels, img.index)
        assert tr is not None
        assert np.array_equal(tr.counts_sum[k], want), (k, tr.counts_sum[k], want)
        assert res.accuracy[k].prediction == int(np.argmax(want))
    if cfg.input.encoding == "fixed":  # the conventional network is its own float reference
        assert all(v == 0.0 for r in res.accuracy for v in r.layer_error.values())


def test_reference_is_the_workload_float_forward():
    from archsim.workload import layer_outputs, reference_forward

    cfg = load_config(BNN / "small_fixed.yaml", ["dataset.images=6"])
    net = BnnNetwork(cfg)
    images, _ = load_images(cfg, net.input_shape, 0, 6, None)
    wl = net.workload
    import dataclasses

    from archsim.workload import LayerParams, WorkloadWeights
    bin_w = WorkloadWeights(layers={n: LayerParams(n, np.where(p.w >= 0, 1.0, -1.0))
                                    for n, p in net.weights.layers.items()},
                            batchnorm=net.weights.batchnorm)
    for img in images:
        ours = net.reference_layers(img.pixels)
        theirs = layer_outputs(wl, reference_forward(wl, bin_w, img.pixels))
        for a, b in zip(ours, theirs, strict=True):
            assert np.allclose(a, np.asarray(b).reshape(-1), rtol=1e-9, atol=1e-9)
    assert dataclasses.is_dataclass(wl)


# ---------------------------------------------------------------- fast == per-cycle
def _both(path, overrides=()):
    cfg = load_config(path, list(overrides))
    fast, tf, slow, ts = run_both(cfg)
    assert_engines_agree(fast, tf, slow, ts)
    return cfg, fast, slow


@pytest.mark.parametrize("design", SMALL)
def test_fast_equals_per_cycle_on_the_shipped_small_designs(design):
    _, fast, _ = _both(BNN / design)
    assert fast.cycles > 0


def _random_design(i: int) -> list[str]:
    rng = np.random.default_rng(1000 + i)
    enc = "fixed" if i % 5 == 4 else "stochastic"
    ov = [f"seed={i + 1}", "dataset.images=2",
          f"array.rows={int(rng.choice([4, 16, 64]))}",
          f"array.columns={int(rng.choice([3, 8, 16, 64, 100]))}",
          f"clock={int(rng.choice([100, 200, 900]))} MHz"]
    for j, _name in enumerate(["conv1", "conv2", "fc1", "fc2"]):
        ov.append(f"layers[{j}].arrays={int(rng.integers(1, 6))}")
    if enc == "fixed":
        ov += ["input.encoding=fixed", "input.presentations=1",
               f"input.datapath={rng.choice(['adder', 'bit_serial'])}"]
    else:
        ov += [f"input.presentations={int(rng.integers(1, 5))}",
               f"input.combine={rng.choice(['first_layer', 'output_add', 'output_vote'])}",
               f"input.rng.kind={rng.choice(['lfsr', 'sobol', 'ideal'])}"]
    cell = rng.choice(["2t2mtj", "1t1mtj"])
    ov += [f"array.cell={cell}",
           f"array.xnor={'sense_amp' if cell == '2t2mtj' and rng.random() < 0.6 else 'logic'}"]
    if rng.random() < 0.5:
        ov += [f"weight_faults.read_ber={float(rng.choice([0.01, 0.05]))}",
               f"weight_faults.write_ber={float(rng.choice([0.0, 0.02]))}"]
    return ov


@pytest.mark.parametrize("i", range(22))
def test_fast_equals_per_cycle_on_random_small_designs(i):
    _both(BNN / "small_sc.yaml", _random_design(i))


def test_workers_give_the_same_run():
    cfg = load_config(BNN / "small_vote.yaml", ["dataset.images=9"])
    one, _ = run_config(cfg, RunOptions(jobs=1))
    two, _ = run_config(cfg, RunOptions(jobs=2))
    assert two.metadata["jobs"] == 2
    assert one.cycles == two.cycles
    assert one.ledger.action_counts() == two.ledger.action_counts()
    assert [r.prediction for r in one.accuracy] == [r.prediction for r in two.accuracy]
    assert one.energy_pj() == two.energy_pj()


def test_energy_is_counts_times_cost():
    cfg = load_config(BNN / "small_sc.yaml",
                      ['array.row_read_energy={value: 1.5 pJ, source: "test: per row read"}'])
    res, _ = run_config(cfg)
    dyn = 0.0
    for qname, counts in res.ledger.action_counts().items():
        blk = res.ledger.blocks[qname]
        dyn += sum(n * blk.actions[a].energy_pj for a, n in counts.items())
    leak = sum(b.total_leakage_mw for b in res.ledger.blocks.values()) * res.latency_ns
    assert res.energy_pj() == pytest.approx(dyn + leak, rel=1e-12)
    net = BnnNetwork(cfg)
    lay = net.layers[0].plan
    # conv1: 64 positions x 4 filters x 4 presentations x 2 segments of 8 columns
    assert lay.ops == 64 * 4 * 4 * 2
    assert res.ledger.count("conv1.sense_amp", "sense") == lay.ops * 8 * cfg.dataset.images
    assert res.ledger.count("conv1.weights", "row_read") == lay.ops * cfg.dataset.images
    assert res.ledger.blocks["conv1.weights"].actions["row_read"].energy_pj == 1.5


# ----------------------------------------------------------------------- faults, SNG
def test_bernoulli_positions_have_the_rate_asked():
    rng = np.random.default_rng(3)
    n, rate = 2_000_000, 0.01
    pos = bernoulli_positions(rng, n, rate)
    assert np.all(np.diff(pos) > 0) and pos[-1] < n
    sigma = np.sqrt(n * rate * (1 - rate))
    assert abs(len(pos) - n * rate) < 5 * sigma


def test_read_and_write_errors_are_counted_and_change_results():
    clean = load_config(BNN / "small_vote.yaml", ["weight_faults.read_ber=0",
                                                   "weight_faults.write_ber=0"])
    faulty = load_config(BNN / "small_vote.yaml", ["weight_faults.read_ber=0.2",
                                                    "weight_faults.write_ber=0.2"])
    a, ta = run_config(clean, RunOptions(keep_trace=True))
    b, tb = run_config(faulty, RunOptions(keep_trace=True))
    net = BnnNetwork(faulty)
    reads = sum(lay.plan.ops * lay.plan.columns for lay in net.layers) * faulty.dataset.images
    events = sum(b.ledger.count(f"{lay.name}.weights", "read_error") for lay in net.layers)
    assert abs(events - 0.2 * reads) < 5 * np.sqrt(reads * 0.2 * 0.8)
    stored = sum(lay.plan.w_pm.size for lay in net.layers)
    writes = sum(b.ledger.count(f"{lay.name}.weights", "write_error") for lay in net.layers)
    assert abs(writes - 0.2 * stored) < 5 * np.sqrt(stored * 0.2 * 0.8)
    assert ta is not None and tb is not None
    assert any(not np.array_equal(x, y) for x, y in zip(ta.layer_bits["conv1"],
                                                        tb.layer_bits["conv1"], strict=True))


@pytest.mark.parametrize("kind", ["lfsr", "sobol", "ideal"])
def test_sng_lanes_stepped_in_python_equal_the_vectorized_numbers(kind):
    phases = lane_phases(kind, 50, 7)
    src = LaneSources(kind, phases, 7, 3)
    for image in (0, 1, 5, 2):
        want = random_numbers(kind, phases, 7, image, 3)
        for n in range(3):
            assert src.numbers(image, n) == want[n].tolist()
    r = random_numbers(kind, lane_phases(kind, 2000, 1), 1, 0, 255 if kind != "sobol" else 256)
    assert r.min() >= 0 and r.max() <= 255
    if kind == "lfsr":  # each lane takes every value 0..254 once per period
        assert all(sorted(r[:, i].tolist()) == list(range(255)) for i in range(5))
