"""The SOT-MRAM bit-plane fabric (``pim_bitplane``) holds to its claims.

* bit exactness: bit-plane AND + bit-count + shift-add (NumPy, compiled, plain Python integers)
  == the GEMM of the codes == plain integer convolution, for weight/activation widths 1..8,
  both quantizers, masks, shapes, strides, padding and groups (hypothesis);
* the fast engine == the per-cycle engine (every sub-array step a SimPy process) on the shipped
  small designs and on 24 random small ones: cycles, per-layer timing, action counts, output
  bits, produce cycles, predictions, with and without sensing errors;
* outputs == the workload's fixed-point reference (per-layer error 0); energy == counts x cost;
  one worker == two; the sensing-error rate is what was asked; pruned filters and columns are
  not mapped; every broken design in tests/broken_pim is rejected by ``archsim validate`` with
  its key path.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest
import yaml
from engines_agree import assert_engines_agree, run_both
from hypothesis import given, settings
from hypothesis import strategies as st

from archsim.config import load_config
from archsim.config.errors import ConfigError
from archsim.config.validate_cli import validate_main
from archsim.fabrics.pim_bitplane import bitplane as bp
from archsim.fabrics.pim_bitplane.mapping import map_layer
from archsim.run import RunOptions, run_config

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "arch_configs" / "pim" / "small_sot.yaml"
BROKEN = ROOT / "tests" / "broken_pim"


# ------------------------------------------------------------------ bit exactness
def _loop_conv(x, c, kernel, stride, padding, groups):
    """Plain Python integer cross-correlation (the definition in docs/workloads.md)."""
    cin, h, w = x.shape
    f = c.shape[0]
    kh, kw = kernel
    ho = (h + 2 * padding[0] - kh) // stride[0] + 1
    wo = (w + 2 * padding[1] - kw) // stride[1] + 1
    cg, fg = cin // groups, f // groups
    out = [[0] * (ho * wo) for _ in range(f)]
    for o in range(f):
        g = o // fg
        for i, j in itertools.product(range(ho), range(wo)):
            s = 0
            for ci, ky, kx in itertools.product(range(cg), range(kh), range(kw)):
                yy, xx = i * stride[0] + ky - padding[0], j * stride[1] + kx - padding[1]
                if 0 <= yy < h and 0 <= xx < w:
                    s += int(c[o, ci, ky, kx]) * int(x[g * cg + ci, yy, xx])
            out[o][i * wo + j] = s
    return np.array(out, dtype=np.int64)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_bitplane_identity_equals_integer_convolution(data):
    m = data.draw(st.integers(1, 8), label="weight bits")
    k = data.draw(st.integers(1, 8), label="activation bits")
    quantizer = data.draw(st.sampled_from(["dorefa", "symmetric"]))
    groups = data.draw(st.sampled_from([1, 2]))
    cin = groups * data.draw(st.integers(1, 3))
    f = groups * data.draw(st.integers(1, 3))
    kh, kw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    sh, sw = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    ph, pw = data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))
    h = data.draw(st.integers(max(1, kh - 2 * ph), 7))
    w = data.draw(st.integers(max(1, kw - 2 * pw), 7))
    seed = data.draw(st.integers(0, 2**31))
    prune = data.draw(st.floats(0.0, 0.6))
    rng = np.random.default_rng(seed)
    u = rng.integers(0, 1 << m, size=(f, cin // groups, kh, kw))
    keep = rng.random(u.shape) >= prune
    alpha, beta = bp.affine(quantizer, m)
    if quantizer == "symmetric" and m >= 2:  # symmetric codes never use the top u
        u = np.minimum(u, 2 * beta)
    codes = np.where(keep, alpha * u - beta, 0)
    assert np.array_equal(bp.unsigned_codes(codes, keep, quantizer, m), np.where(keep, u, 0))
    x = rng.integers(0, 1 << k, size=(cin, h, w))
    ref = _loop_conv(x, codes, (kh, kw), (sh, sw), (ph, pw), groups)
    cols = bp.im2col(x, (kh, kw), (sh, sw), (ph, pw), groups)
    fg = f // groups
    for g in range(groups):
        cg = codes[g * fg:(g + 1) * fg].reshape(fg, -1)
        ug = np.where(keep, u, 0)[g * fg:(g + 1) * fg].reshape(fg, -1)
        kg = keep[g * fg:(g + 1) * fg].reshape(fg, -1)
        want = ref[g * fg:(g + 1) * fg]
        assert np.array_equal(bp.accumulate_gemm(cg, cols[g], (1 << m), (1 << k) - 1), want)
        wp = bp.pack_planes(ug, m)
        qp = None if kg.all() else bp.pack_planes(kg.astype(np.int64), 1)[0]
        ap = bp.pack_planes(np.ascontiguousarray(cols[g].T), k)
        assert np.array_equal(bp.accumulate_bitplanes(wp, qp, ap, alpha, beta, "numpy"), want)
        if bp.BACKEND == "cython":
            assert np.array_equal(bp.accumulate_bitplanes(wp, qp, ap, alpha, beta, "cython"),
                                  want)
        rows = [[int(v) for v in r] for r in ug]
        krows = None if kg.all() else [[bool(v) for v in r] for r in kg]
        for p in range(cols.shape[2]):
            got = bp.accumulate_python(rows, krows, [int(v) for v in cols[g][:, p]], m, k,
                                       alpha, beta)
            assert got == want[:, p].tolist()


def test_the_compiled_kernel_is_built():
    assert bp.BACKEND == "cython"


def test_dorefa_export_keeps_its_codes():
    from archsim.workload.quantize import quantize_weights

    for m in range(1, 9):
        lv = (1 << m) - 1
        u = np.arange(lv + 1)
        w = ((2 * u - lv) / lv).astype(np.float32)  # the training script's export
        codes, step = quantize_weights(w, m, None, "dorefa")
        assert np.array_equal(codes, 2 * u - lv) and step == 1.0 / lv


# ------------------------------------------------------------------ engines
@pytest.mark.parametrize("overrides", [(), ("faults.and_error=0.02",),
                                       ("double_buffer=true", "subarray.rows=64"),
                                       ("clock=3 GHz", "dataset.images=4")], ids=str)
def test_fast_equals_per_cycle_on_the_small_design(overrides):
    cfg = load_config(SMALL, list(overrides))
    fast, tf, slow, ts = run_both(cfg)
    assert_engines_agree(fast, tf, slow, ts)
    if not any("and_error" in o for o in overrides):
        for r in fast.accuracy:  # the datapath is the workload's fixed-point reference
            assert all(e == 0.0 for e in r.layer_error.values())
    else:
        assert fast.ledger.action_counts()["conv1.compute"]["sense_error"] > 0


def test_fast_equals_per_cycle_on_a_shipped_dorefa_model():
    cfg = load_config(ROOT / "arch_configs" / "pim" / "dorefa_mnist_sot.yaml",
                      ["dataset.images=2"])
    fast, tf, slow, ts = run_both(cfg)
    assert_engines_agree(fast, tf, slow, ts)
    for r in fast.accuracy:
        assert all(e == 0.0 for e in r.layer_error.values())


def random_design(seed: int, tmp: Path) -> Path:
    """A random small chain CNN and a random bit-plane design for it, as files."""
    r = random.Random(seed)
    c, h, w = r.randint(1, 3), r.randint(5, 9), r.randint(5, 9)
    ops: list[dict] = []
    layers: dict[str, dict] = {}
    mapping: list[dict] = []
    shape = (c, h, w)
    for i in range(r.randint(1, 2)):
        groups = r.choice([1, 1, 2]) if shape[0] % 2 == 0 else 1
        k = r.randint(1, 3)
        pad = r.randint(0, 1)
        stride = r.randint(1, 2)
        f = groups * r.randint(1, 3)
        if shape[1] + 2 * pad < k or shape[2] + 2 * pad < k:
            k = 1
        ops.append({"name": f"conv{i}", "op": "conv2d", "out_channels": f, "kernel": k,
                    "stride": stride, "padding": pad, "groups": groups,
                    "bias": r.random() < 0.5})
        ho = (shape[1] + 2 * pad - k) // stride + 1
        wo = (shape[2] + 2 * pad - k) // stride + 1
        shape = (f, ho, wo)
        if r.random() < 0.5:
            ops.append({"name": f"bn{i}", "op": "batchnorm"})
        if r.random() < 0.5:
            ops.append({"name": f"relu{i}", "op": "relu"})
        ops.append({"name": f"q{i}", "op": "quantize", "bits": r.randint(1, 8)})
        if r.random() < 0.25:  # a re-quantization of batch-normalised codes, a no-op
            ops += [{"name": f"bnq{i}", "op": "batchnorm"},
                    {"name": f"qq{i}", "op": "quantize", "bits": r.randint(1, 8)},
                    {"name": f"none{i}", "op": "none"}]
        if r.random() < 0.4 and ho >= 2 and wo >= 2:
            ops.append({"name": f"pool{i}", "op": "maxpool", "kernel": 2})
            shape = (f, ho // 2, wo // 2)
        layers[f"conv{i}"] = {"bits": r.randint(1, 8),
                              "quantizer": r.choice(["dorefa", "symmetric"])}
    ops.append({"name": "flatten", "op": "flatten"})
    ops.append({"name": "fc1", "op": "dense", "outputs": r.randint(3, 8)})
    ops.append({"name": "qf", "op": "quantize", "bits": r.randint(1, 8)})
    ops.append({"name": "fc2", "op": "dense", "outputs": r.randint(2, 5)})
    for name in ("fc1", "fc2"):
        layers[name] = {"bits": r.randint(1, 8), "quantizer": r.choice(["dorefa", "symmetric"])}
        if r.random() < 0.4:
            layers[name]["sparsity"] = round(r.uniform(0.1, 0.8), 2)
    wl = {"name": f"random{seed}", "input": {"shape": [c, h, w], "mapping": r.choice(
        ["unipolar", "raw"])}, "dataset": {"name": "random", "seed": seed, "images": 2},
          "model": {"weights": "random", "seed": seed, "layers": layers}, "ops": ops}
    rows = r.choice([24, 40, 64])
    for op in ops:
        if op["op"] in ("conv2d", "dense") and r.random() < 0.7:
            entry: dict = {"name": op["name"], "windows": r.randint(1, 2),
                           "replicas": r.randint(1, 3)}
            if r.random() < 0.5:
                entry["filters_per_subarray"] = r.randint(1, 2)
            mapping.append(entry)
    design = {"include": [str(ROOT / "arch_configs/tech/generic45.yaml"),
                          str(ROOT / "arch_configs/tech/imce_sot45.yaml")],
              "name": f"random{seed}", "fabric": "pim_bitplane", "workload": "wl.yaml",
              "clock": r.choice(["500 MHz", "1000 MHz", "2500 MHz"]), "seed": seed,
              "memories": {"compute": {"kind": "sot_mram"}, "buffer": {"kind": "sot_mram"}},
              "subarray": {"rows": rows, "columns": r.choice([4, 8, 16, 64])},
              "organisation": {"banks": 4, "mats_per_bank": 8, "subarrays_per_mat": 16},
              "digital_lanes": r.randint(1, 8), "double_buffer": r.random() < 0.3,
              "layers": mapping,
              "faults": {"and_error": r.choice([0.0, 0.0, 0.03])}}
    (tmp / "wl.yaml").write_text(yaml.safe_dump(wl, sort_keys=False))
    path = tmp / "design.yaml"
    path.write_text(yaml.safe_dump(design, sort_keys=False))
    return path


@pytest.mark.parametrize("seed", range(24))
def test_fast_equals_per_cycle_on_random_small_designs(seed, tmp_path):
    path = random_design(seed, tmp_path)
    try:
        cfg = load_config(path)
        fast, tf, slow, ts = run_both(cfg)
    except ConfigError as exc:  # a random mapping that does not fit: says why, by key
        assert "fits" in exc.expected or "rows" in exc.expected
        pytest.skip(f"random design {seed} does not fit: {exc}")
    assert_engines_agree(fast, tf, slow, ts)
    if cfg.faults.and_error == 0:
        for r in fast.accuracy:
            assert all(e == 0.0 for e in r.layer_error.values())


def test_enough_random_designs_fit():
    """At least 20 of the 24 random designs run (the others are skipped above)."""
    import tempfile

    ok = 0
    for seed in range(24):
        with tempfile.TemporaryDirectory() as d:
            try:
                from archsim.fabrics import get_fabric

                get_fabric("pim_bitplane")().elaborate(load_config(random_design(seed,
                                                                                 Path(d))))
                ok += 1
            except ConfigError:
                pass
    assert ok >= 20


def test_energy_is_counts_times_cost_and_sot_cells_do_not_leak():
    cfg = load_config(SMALL)
    fast, _ = run_config(cfg)
    dyn = 0.0
    for qname, counts in fast.ledger.action_counts().items():
        blk = fast.ledger.blocks[qname]
        dyn += sum(n * blk.actions[a].energy_pj for a, n in counts.items())
    leak = sum(b.total_leakage_mw for b in fast.ledger.blocks.values()) * fast.latency_ns
    assert fast.energy_pj() == pytest.approx(dyn + leak, rel=1e-12)
    for name, blk in fast.ledger.blocks.items():
        if blk.kind == "pim_subarray" or name.endswith(".buffer"):
            assert blk.leakage_mw == 0.0


def test_workers_give_the_same_run():
    cfg = load_config(SMALL, ["dataset.images=6", "faults.and_error=0.01"])
    one, _ = run_config(cfg, RunOptions(jobs=1))
    two, _ = run_config(cfg, RunOptions(jobs=2))
    assert one.cycles == two.cycles
    assert one.ledger.action_counts() == two.ledger.action_counts()
    assert [r.prediction for r in one.accuracy] == [r.prediction for r in two.accuracy]
    assert one.energy_pj() == two.energy_pj()


def test_sensing_error_rate_is_what_was_asked():
    from archsim.fabrics import get_fabric
    from archsim.fabrics.pim_bitplane.faults import draw_flips

    cfg = load_config(SMALL, ["faults.and_error=0.05"])
    net, _ = get_fabric("pim_bitplane")().elaborate(cfg)
    for lay in net.layers:
        n = lay.mp.positions * lay.mp.window_counts()["compute"]["and"]
        flips = [len(draw_flips(lay.mp, 0.05, cfg.seed, i)) for i in range(20)]
        mean = np.mean(flips) / n
        assert abs(mean - 0.05) < 5 * np.sqrt(0.05 * 0.95 / (20 * n))
        assert flips[0] == len(draw_flips(lay.mp, 0.05, cfg.seed, 0))  # deterministic


def test_pruned_filters_and_columns_are_not_mapped():
    keep = np.ones((6, 4), dtype=bool)
    keep[1] = False  # filter 1 pruned entirely
    keep[:, 2] = False  # column 2 pruned in every filter
    keep[4, 0] = False  # one weight pruned: the mask plane is needed
    mp = map_layer("fc", 1, (6, 4), keep, 1, 2, 3, rows=32, columns=2,
                   filters_per_subarray=2, windows=1, replicas=1, double_buffer=False,
                   write_cycles=2, and_cycles=1, read_cycles=1, lanes=4)
    assert mp.f_g == [5] and mp.n_g == [3] and mp.masked
    assert mp.chunks == [2] and mp.fsets == [3] and mp.subarrays == 6
    c = mp.window_counts()
    assert c["compute"]["and"] == 3 * (2 + 1) * 5 * 3  # K (M + mask) F N
    assert c["compute"]["write"] == 3 * 3 * 3  # K N filter-sets
    assert c["compute"]["read"] == 0
    assert mp.weight_bits == 3 * 5 * 3  # (M + mask) F N
    # interval: K row writes + F_busy (M + 1) K sensings
    assert mp.interval(np.array([1]), 6, True).tolist() == [3 * 2 + 2 * 3 * 3]
    dense = map_layer("fc", 1, (6, 4), None, 1, 2, 3, 32, 2, 2, 1, 1, False, 2, 1, 1, 4)
    assert dense.f_g == [6] and dense.n_g == [4] and not dense.masked
    assert dense.window_counts()["compute"]["read"] == 3 * 4 * 3  # K N filter-sets


# ------------------------------------------------------------------ broken designs
BROKEN_TABLE = {
    "activation_bits_out_of_range.yaml": "ops[2].bits",
    "and_error_too_high.yaml": "faults.and_error",
    "bipolar_input.yaml": "input.mapping",
    "chip_too_small.yaml": "organisation",
    "compute_not_sot.yaml": "memories.compute.kind",
    "filters_per_subarray_too_many.yaml": "layers[1].filters_per_subarray",
    "input_not_codes.yaml": "ops[3].op",
    "layer_reads_add.yaml": "ops[4].op",
    "rows_too_small.yaml": "subarray.rows",
    "sot_leakage_nonzero.yaml": "technology.sot_mram.leakage_per_bit.value",
    "unknown_layer.yaml": "layers[0].name",
    "weight_bits_missing.yaml": "model.layers.conv2.bits",
    "weight_bits_out_of_range.yaml": "model.layers.conv2.bits",
    "zero_windows.yaml": "layers[0].windows",
}


def test_every_broken_pim_design_is_in_the_table():
    assert sorted(p.name for p in BROKEN.glob("*.yaml")) == sorted(BROKEN_TABLE)
    assert len(BROKEN_TABLE) >= 8


@pytest.mark.parametrize(("name", "key"), sorted(BROKEN_TABLE.items()))
def test_validate_rejects_broken_pim_designs(name, key, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert validate_main(str(BROKEN / name)) == 2
    err = capsys.readouterr().err
    assert f": {key}: got " in err and "; expected " in err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_the_shipped_designs_validate(capsys):
    for path in sorted((ROOT / "arch_configs" / "pim").glob("*.yaml")):
        assert validate_main(str(path)) == 0, path


def test_run_folder_plots_and_resolved_config(tmp_path):
    from archsim.outputs.run_folder import write_run_folder
    from archsim.plots import load_run, plot_run

    cfg = load_config(SMALL)
    res, _ = run_config(cfg)
    out = tmp_path / "run"
    names = {p.name for p in write_run_folder(res, out, config_name=cfg.name)}
    assert {"summary.json", "blocks.csv", "action_counts.yaml", "config.resolved.yaml"} <= names
    assert plot_run(load_run(out), out / "plots")
    again = load_config(out / "config.resolved.yaml")
    assert again.fabric == "pim_bitplane" and again.workload == cfg.workload
    res2, _ = run_config(again)
    assert res2.cycles == res.cycles and res2.energy_pj() == res.energy_pj()
    assert res.metadata["rram_reference"]["energy_pj"] > 0


def test_sot_mram_is_a_memory_kind_for_any_fabric(tmp_path):
    """The SC fabric's weight store takes a sot_mram memory (a random-access array)."""
    design = tmp_path / "sc_sot.yaml"
    design.write_text(yaml.safe_dump({"include": [
        str(ROOT / "arch_configs/dwcnn/lenet5_sttmram_sn128_fc-unshared.yaml"),
        str(ROOT / "arch_configs/tech/sot_mram45.yaml")],
        "memories": {"weights": {"kind": "sot_mram"}}, "dataset": {"images": 1}}))
    cfg = load_config(design)
    res, _ = run_config(cfg)
    blocks = [b for b in res.ledger.blocks.values() if b.kind == "memory"]
    tech = cfg.memory_tech("weights")
    assert tech.write_latency.value > tech.read_latency.value  # SOT writes are slower
    assert blocks and all(b.leakage_mw == 0.0 for b in blocks)


# ------------------------------------------------------------------ residual networks (DAGs)
RESIDUAL = ROOT / "tests" / "pim_residual" / "residual_sot.yaml"


def _plain_residual_forward(wl, w, pixels):
    """The residual workload op by op with plain Python integer accumulations
    (:func:`_loop_conv`, dense as a Python sum) and elementwise float64 digital ops written
    out here: per op ``(array, divisor)``, the divisor of integer codes or None for values."""
    from archsim.workload import ops as O

    t = {"input": (np.asarray(pixels).astype(np.int64), 255.0)}

    def val(x):
        return x[0] if x[1] is None else x[0] / x[1]

    for op in wl.ops:
        a, div = t[op.input]
        if isinstance(op, O.WeightedOp):
            p = w.layers[op.name]
            step_x = 1.0 / div  # 1/255 for the pixels, 1/(2^K - 1) for a quantize's codes
            if isinstance(op, O.Conv2d):
                acc = _loop_conv(a, p.codes, op.kernel, op.stride, op.padding, op.groups)
            else:
                acc = np.array([[sum(int(c) * int(x) for c, x in zip(row, a, strict=True))]
                                for row in p.codes], dtype=np.int64)
            z = acc.astype(np.float64) * (step_x * p.step)
            if p.b is not None:
                z = z + p.b[:, None]
            t[op.name] = (z.reshape(op.out_shape), None)
        elif isinstance(op, O.BatchNorm):
            bn = w.batchnorm[op.name]
            shape = (-1,) + (1,) * (len(op.in_shape) - 1)
            y = ((val((a, div)) - bn.mean.reshape(shape)) / np.sqrt(bn.var + bn.eps).reshape(
                shape) * bn.gamma.reshape(shape) + bn.beta.reshape(shape))
            t[op.name] = (y, None)
        elif isinstance(op, O.Relu):
            t[op.name] = (np.maximum(a, 0), div)
        elif isinstance(op, O.Quantize):
            t[op.name] = (np.round(np.clip(val((a, div)), 0.0, 1.0) * op.levels).astype(
                np.int64), float(op.levels))
        elif isinstance(op, O.Add):
            t[op.name] = (val((a, div)) + val(t[op.other]), None)
        elif isinstance(op, O.AvgPool):
            (kh, kw), x = op.kernel, val((a, div))
            s = sum(x[:, ky::op.stride[0], kx::op.stride[1]][:, :op.out_shape[1],
                                                               :op.out_shape[2]]
                    for ky in range(kh) for kx in range(kw))
            t[op.name] = (s / (kh * kw), None)
        elif isinstance(op, O.Flatten):
            t[op.name] = (a.reshape(-1), div)
        else:
            raise AssertionError(f"no plain model of {op.kind}")
    return t


def test_residual_network_fast_equals_per_cycle_and_plain_integers():
    """Identity and projection shortcuts, an average pool: the fast engine equals the
    per-cycle one (every sub-array step in plain Python integers), and every layer's output
    (codes, or values where a stage ends in a batch norm) equals the network computed here
    with plain integer convolutions."""
    from archsim.fabrics import get_fabric
    from archsim.run import load_images

    cfg = load_config(RESIDUAL)
    fast, tf, slow, ts = run_both(cfg)
    assert_engines_agree(fast, tf, slow, ts)
    for r in fast.accuracy:  # and the workload's fixed-point reference
        assert all(e == 0.0 for e in r.layer_error.values())
    net, _ = get_fabric("pim_bitplane")().elaborate(cfg)
    wl, w = net.workload, net.weights
    imgs, _ = load_images(cfg, wl.input.shape, 0, cfg.dataset.images, None)
    stages = wl.stages()
    assert [s.layer.name for s in stages] == [lay.name for lay in net.layers]
    assert any(len(s.ops) > 1 and any(o.kind == "add" for o in s.ops) for s in stages)
    for k, img in enumerate(imgs):
        plain = _plain_residual_forward(wl, w, img.pixels)
        for stage in stages:
            want, div = plain[stage.output]
            got = tf.layer_bits[stage.layer.name][k]
            if stage is stages[-1]:
                want = want if div is None else want / div
            assert got.shape == want.shape and np.array_equal(got, want), stage.output
    # the sensing errors flip the same bits in both engines through the residual adds
    fast, tf, slow, ts = run_both(load_config(RESIDUAL, ["faults.and_error=0.02"]))
    assert_engines_agree(fast, tf, slow, ts)
    # worker processes pass the same tensors between the layers
    one, _ = run_config(cfg, RunOptions(jobs=1))
    two, _ = run_config(cfg, RunOptions(jobs=2))
    assert one.ledger.action_counts() == two.ledger.action_counts()
    assert [r.prediction for r in one.accuracy] == [r.prediction for r in two.accuracy]


def test_residual_network_with_pruned_filters_in_the_adding_layers(tmp_path):
    """Whole filters pruned in a layer whose digital unit adds a shortcut (its channels stay
    alive through the add, so the next layer keeps reading them) and in a block's first
    layer (whose dead channels the next layer does not map): both engines, the reference."""
    from archsim.workload import load_workload

    wl = load_workload(ROOT / "tests" / "pim_residual" / "residual.yaml")
    sets = []
    for name, filters in (("b1_conv2", (0, 2)), ("b2_proj", (1,)), ("b1_conv1", (3,))):
        keep = np.ones(wl.op(name).weight_shape, dtype=bool)
        keep[list(filters)] = False
        path = tmp_path / f"{name}.npz"
        np.savez_compressed(path, **{f"{name}_mask": keep})
        sets.append(f"model.layers.{name}.mask={path}")
    cfg = load_config(RESIDUAL, [f"workload_set={sets!r}".replace("'", '"')])
    fast, tf, slow, ts = run_both(cfg)
    assert_engines_agree(fast, tf, slow, ts)
    for r in fast.accuracy:
        assert all(e == 0.0 for e in r.layer_error.values())
    meta = fast.metadata["layers"]
    assert meta["b1_conv2"]["mapped_filters"] == 2 and meta["b2_proj"]["mapped_filters"] == 5


def test_residual_add_and_avgpool_counts_and_energy():
    """The digital unit's add: one integer add per output element on the layer's
    ``accumulate`` adders (the average pool: kh kw - 1 adds and one scale per output), the
    shortcut bank holding the operands of earlier layers at their widths (codes: K bits,
    values: digital_word_bits); energy = counts x cost for each."""
    from archsim.fabrics import get_fabric

    cfg = load_config(RESIDUAL, ["dataset.images=2"])
    res, _ = run_config(cfg)
    net, _ = get_fabric("pim_bitplane")().elaborate(cfg)
    lay = {x.name: x for x in net.layers}
    counts = res.ledger.action_counts()
    n = 2  # images
    per = cfg.periphery
    for name, adds, scales, held in (
            ("b1_conv2", 4 * 6 * 6, 0, 4 * 6 * 6 * 3),     # + q1's 3-bit codes
            # + b2_bn2's 12-bit values; the add, then the 3x3 average pool of its 6x1x1
            ("b2_proj", 6 * 3 * 3 + 6 * 8, 6, 6 * 3 * 3 * 12),
            ("b2_conv2", 0, 0, 0),
            ("b1_conv1", 0, 0, 0)):
        mp = lay[name].mp
        chunks = sum(f * ch for f, ch in zip(mp.f_g, mp.chunks, strict=True))
        assert counts[f"{name}.accumulate"]["add"] == n * (chunks * mp.positions + adds)
        assert counts[f"{name}.digital_mac"]["mac"] == n * (
            mp.out_channels * mp.positions * lay[name].digital.macs_per_output() + scales)
        if held:
            assert counts[f"{name}.shortcut"] == {"write": n * held, "read": n * held}
            assert res.ledger.blocks[f"{name}.shortcut"].instances == held
        else:
            assert f"{name}.shortcut" not in res.ledger.blocks
    # energy = the hand counts x the technology's cost per action
    e = res.block_energy_pj()
    tb = cfg.memory_tech("buffer")
    mp = lay["b1_conv2"].mp
    chunks = sum(f * ch for f, ch in zip(mp.f_g, mp.chunks, strict=True))
    assert e["b1_conv2.accumulate"]["add"] == pytest.approx(
        n * (chunks * mp.positions + 4 * 6 * 6) * per.accumulate.energy.value, rel=1e-12)
    assert e["b2_proj.shortcut"]["write"] == pytest.approx(
        n * 6 * 3 * 3 * 12 * tb.write_energy_per_bit.value, rel=1e-12)
    assert e["b1_conv2.shortcut"]["read"] == pytest.approx(
        n * 4 * 6 * 6 * 3 * tb.read_energy_per_bit.value, rel=1e-12)
    dyn = sum(c * res.ledger.blocks[q].actions[a].energy_pj
              for q, d in counts.items() for a, c in d.items())
    leak = sum(b.total_leakage_mw for b in res.ledger.blocks.values()) * res.latency_ns
    assert res.energy_pj() == pytest.approx(dyn + leak, rel=1e-12)
