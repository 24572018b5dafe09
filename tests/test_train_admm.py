"""The ADMM compression script's pieces (training/train_admm.py): the constraint-set
projection, the structured masks, the workload file it writes, and that its export is what the
workload loader and the fixed-point reference forward read. Torch-dependent tests skip when
torch (the optional ``[train]`` extra) is absent."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from archsim.workload import BUILTIN_MODELS, load_weights, load_workload, reference_forward
from archsim.workload.quantize import quantize_weights
from archsim.workload.weights import save_weights

REPO = Path(__file__).resolve().parents[1]


def _load_script():
    spec = importlib.util.spec_from_file_location("train_admm",
                                                  REPO / "training" / "train_admm.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["train_admm"] = mod
    spec.loader.exec_module(mod)
    return mod


ta = _load_script()
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="torch (the [train] extra) not installed")
ADMM_MODELS = sorted(n for n in BUILTIN_MODELS if n.startswith("pimc_"))


@pytest.mark.parametrize("gran, axis", [("filters", 0), ("rows", 0), ("channels", 1),
                                        ("columns", 1)])
def test_structured_mask_keeps_the_largest_groups(gran: str, axis: int) -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 8, 3, 3)) if gran in ("filters", "channels") else rng.normal(
        size=(6, 8))
    m = ta.structured_mask(w, gran, 0.5)
    other = tuple(a for a in range(w.ndim) if a != axis)
    kept = m.all(axis=other)
    assert np.array_equal(m.any(axis=other), kept)  # whole groups only
    assert kept.sum() == round(0.5 * w.shape[axis])
    norms = np.sqrt((w * w).sum(axis=other))
    assert norms[kept].min() >= norms[~kept].max()
    assert ta.structured_mask(w, gran, 0.0).all(axis=other).sum() == 1  # never empty


def test_projection_is_the_nearest_point_of_the_set() -> None:
    """Pruning: the kept groups are those of largest norm, so no other choice of the same
    number of groups is closer; quantization: every kept weight is on the loader's grid and
    is the nearest grid point for that step."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(5, 7))
    z, m = ta.project(w, "rows", 0.6, 4)
    codes, step = quantize_weights(np.where(m, w, 0.0), 4, m)
    assert np.array_equal(z, codes * step)
    assert np.all(np.abs(np.where(m, w, 0) - z) <= step / 2 + 1e-12)
    dist = np.linalg.norm(w - np.where(m, w, 0.0))
    from itertools import combinations

    for rows in combinations(range(5), 3):
        alt = np.zeros_like(w)
        alt[list(rows)] = w[list(rows)]
        assert dist <= np.linalg.norm(w - alt) + 1e-12
    zf, mf = ta.project(w, "rows", 1.0, None)
    assert mf.all() and np.array_equal(zf, w)


def test_compression_counts() -> None:
    net = ta.NETS["lenet5"]
    shapes = net.weight_shapes()
    assert shapes == {"conv1": (6, 1, 5, 5), "conv2": (16, 6, 5, 5), "fc1": (120, 400),
                      "fc2": (84, 120), "fc3": (10, 84)}
    masks = {n: None for n in shapes}
    masks["fc1"] = np.zeros(shapes["fc1"], bool)
    masks["fc1"][:, :100] = True
    c = ta.compression(net, masks, {n: 4 for n in shapes})
    total = sum(int(np.prod(s)) for s in shapes.values())
    assert c["weights"] == total and c["kept"] == total - 120 * 300
    assert c["rate_bits"] == pytest.approx(32 * total / (4 * c["kept"]))


@pytest.mark.parametrize("net", sorted(ta.NETS))
def test_workload_file_loads_with_masks_and_bits(tmp_path: Path, net: str) -> None:
    """The written workload file, a random model exported with masks: the loader applies the
    bits and masks, and the fixed-point forward runs."""
    spec = ta.NETS[net]
    shapes = spec.weight_shapes()
    rng = np.random.default_rng(2)
    bits = {lay.name: b for lay, b in zip(spec.layers, (4, 3, 2, 8, 5), strict=False)}
    arrays = {}
    for lay in spec.layers:
        w = rng.normal(0, 0.2, shapes[lay.name])
        z, m = ta.project(w, spec.granularity[lay.name], 0.5, bits[lay.name])
        arrays[f"{lay.name}_w"] = z
        arrays[f"{lay.name}_mask"] = m
        if lay.bn:
            for k, v in (("gamma", 1.0), ("beta", 0.3), ("mean", 0.0), ("var", 1.0)):
                arrays[f"{lay.bn}_{k}"] = np.full(lay.out, v)
    arrays[f"{spec.layers[-1].name}_b"] = rng.normal(size=10)
    model = save_weights(tmp_path / "m.npz", arrays)
    (tmp_path / "w.yaml").write_text(ta.workload_yaml(spec, 4, "m.npz", bits, "test"))
    wl = load_workload(tmp_path / "w.yaml")
    w = load_weights(wl)
    for lay in spec.layers:
        p = w[lay.name]
        assert p.bits == bits[lay.name]
        assert np.array_equal(p.mask, arrays[f"{lay.name}_mask"])
        assert np.array_equal(p.w, arrays[f"{lay.name}_w"])  # the export is a fixed point
    images = rng.integers(0, 256, (3, 1, 28, 28), dtype=np.uint8)
    out = reference_forward(wl, w, images, fixed_point=True)[-1]
    assert out.shape == (3, 10)
    assert ta.evaluate_workload(tmp_path / "w.yaml", model, images[:, 0],
                                np.argmax(out, 1)) == 1.0


@needs_torch
def test_torch_quantizer_is_the_loaders() -> None:
    import torch

    rng = np.random.default_rng(3)
    w = rng.normal(size=(8, 20))
    m = ta.structured_mask(w, "columns", 0.5)
    for bits in (1, 2, 4, 8):
        codes, step = quantize_weights(np.where(m, w, 0.0), bits, m)
        q = ta.quantize_w(torch.from_numpy(w), bits, torch.from_numpy(m).double())
        assert np.allclose(q.numpy(), codes * step, rtol=0, atol=1e-12)
    x = torch.tensor([-0.5, 0.0, 0.1, 0.5, 0.97, 2.0], requires_grad=True)
    y = ta.quantize_act(x, 2)
    assert np.allclose(y.detach().numpy(), [0, 0, 0, 2 / 3, 1, 1])
    y.sum().backward()
    assert x.grad is not None and x.grad.tolist() == [0, 1, 1, 1, 1, 0]


@needs_torch
def test_admm_run_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny ADMM run (embedded 500 MNIST test images stand in as training data): the masks
    are structured with the asked keep, the ADMM residual was recorded, and the exported
    model's simulator accuracy equals the torch model's on the same images."""
    monkeypatch.delenv("ARCHSIM_DATA", raising=False)  # for this test only
    from archsim.nn import datasets

    real = datasets.load_dataset

    def fake(name, split="test", data_dir=None, start=0, count=None):
        return real(name, "test", None, start, count)

    ta.load_dataset = fake
    try:
        rc = ta.main(["--net", "lenet5", "--method", "admm", "--keep",
                      "conv1=1,conv2=0.5,fc1=0.25,fc2=0.5,fc3=1", "--bits", "4",
                      "--pretrain-epochs", "1", "--admm-epochs", "1", "--retrain-epochs", "1",
                      "--admm-steps", "2", "--out-dir", str(tmp_path), "--workload-dir",
                      str(tmp_path), "--name", "t"])
    finally:
        ta.load_dataset = real
    assert rc == 0
    wl = load_workload(tmp_path / "t.yaml", [f"model.weights={tmp_path / 't.npz'}"])
    w = load_weights(wl)
    assert w["conv2"].mask is not None and w["conv2"].mask.all(axis=(1, 2, 3)).sum() == 8
    assert w["fc1"].mask is not None and w["fc1"].mask.all(axis=0).sum() == 100
    assert w["conv1"].mask is None and w["conv1"].bits == 4
    meta = w.metadata
    assert any("rel_primal_residual" in h for h in meta["history"])
    assert meta["test_accuracy"] == pytest.approx(meta["torch_test_accuracy"], abs=0.01)


@pytest.mark.parametrize("name", ADMM_MODELS)
def test_shipped_compressed_model(name: str) -> None:
    """Each shipped compressed model through its workload file on the embedded 500 test
    images: within sampling error of its full-test-set accuracy; masks and bits as recorded."""
    from archsim.nn.datasets import load_dataset

    entry = BUILTIN_MODELS[name]
    wl = load_workload(REPO / entry.workload)
    w = load_weights(wl)
    meta = w.metadata
    assert entry.command == meta["command"]
    for op in wl.weighted_ops:
        assert w[op.name].bits == meta["bits"][op.name]
    images, labels, _ = load_dataset(entry.dataset, data_dir="")
    out = reference_forward(wl, w, images[:, None], fixed_point=True)[-1]
    acc = float(np.mean(out.argmax(1) == labels))
    assert abs(acc - meta["test_accuracy"]) < 0.05, (acc, meta["test_accuracy"])
