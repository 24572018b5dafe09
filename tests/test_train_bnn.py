"""The BNN training script's pieces (training/train_bnn.py) and the shipped BNN models.

Torch-dependent tests (straight-through estimators, stochastic binarization, export) skip when
torch (the optional ``[train]`` extra) is absent; the NumPy evaluation and the shipped models
are checked without it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from archsim.config.errors import ConfigError
from archsim.workload import (
    BUILTIN_MODELS,
    builtin_model_path,
    load_weights,
    reference_forward,
    workload_from_dict,
)
from archsim.workload.weights import pack_sign_bits, save_weights, unpack_sign_bits

REPO = Path(__file__).resolve().parents[1]


def _load_script():
    spec = importlib.util.spec_from_file_location("train_bnn", REPO / "training" / "train_bnn.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["train_bnn"] = mod
    spec.loader.exec_module(mod)
    return mod


tb = _load_script()
has_torch = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not has_torch, reason="torch (the [train] extra) not installed")

BNN_MODELS = sorted(n for n, m in BUILTIN_MODELS.items() if n.startswith("bnn_"))


# --------------------------------------------------------------------------------------------
# bit-packed sign weights
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 5), (8, 8), (2, 3, 3, 3), (1, 1)])
def test_sign_bits_round_trip(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    w = rng.uniform(-1, 1, size=shape)
    w.flat[0] = 0.0  # sign(0) = +1
    bits = pack_sign_bits(w)
    assert bits.dtype == np.uint8 and bits.shape == ((w.size + 7) // 8,)
    back = unpack_sign_bits(bits, shape)
    assert np.array_equal(back, np.where(w >= 0, 1.0, -1.0))
    assert back.flat[0] == 1.0


def _tiny(tmp_path: Path, arrays: dict[str, np.ndarray]) -> tuple:
    path = save_weights(tmp_path / "m.npz", arrays)
    wl = workload_from_dict({
        "input": {"shape": [1, 3, 3], "mapping": "unipolar"},
        "model": {"weights": str(path)},
        "ops": [{"name": "flatten", "op": "flatten"},
                {"name": "fc1", "op": "dense", "outputs": 3, "bias": False},
                {"name": "bn1", "op": "batchnorm"}]})
    return wl, path


def _bn(c: int) -> dict[str, np.ndarray]:
    return {"bn1_gamma": np.ones(c), "bn1_beta": np.zeros(c), "bn1_mean": np.zeros(c),
            "bn1_var": np.ones(c)}


def test_loader_reads_packed_sign_weights(tmp_path: Path) -> None:
    w = np.random.default_rng(1).choice([-1.0, 1.0], size=(3, 9))
    wl, _ = _tiny(tmp_path, {"fc1_wbits": pack_sign_bits(w), **_bn(3)})
    assert np.array_equal(load_weights(wl)["fc1"].w, w)


@pytest.mark.parametrize("arrays, key, needle", [
    ({"fc1_wbits": np.zeros(3, np.uint8)}, "fc1_wbits", "shape (4,)"),
    ({"fc1_wbits": np.zeros(4, np.int16)}, "fc1_wbits", "uint8"),
    ({"fc1_wbits": np.array([0, 0, 0, 1], np.uint8)}, "fc1_wbits", "zero padding"),
    ({"fc1_wbits": np.zeros(4, np.uint8), "fc1_w": np.ones((3, 9))}, "fc1_wbits", "not both"),
])
def test_loader_rejects_bad_packed_weights(tmp_path: Path, arrays: dict, key: str,
                                           needle: str) -> None:
    wl, path = _tiny(tmp_path, {**arrays, **_bn(3)})
    with pytest.raises(ConfigError) as exc:
        load_weights(wl)
    msg = str(exc.value)
    assert f"{key}:" in msg and needle in msg and "m.npz" in msg


# --------------------------------------------------------------------------------------------
# the NumPy evaluation (the fabric's integer arithmetic)
# --------------------------------------------------------------------------------------------


def _random_model(arch, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for layer in arch.layers:
        shape = tb.weight_shape(arch, layer)
        out[f"{layer.name}_wbits"] = pack_sign_bits(rng.uniform(-1, 1, size=shape))
        fan = int(np.prod(shape[1:]))
        out[f"{layer.bn}_gamma"] = rng.normal(1, 0.5, layer.out)
        out[f"{layer.bn}_beta"] = rng.normal(0, 0.5, layer.out)
        out[f"{layer.bn}_mean"] = rng.normal(0, np.sqrt(fan) / 4, layer.out)
        out[f"{layer.bn}_var"] = rng.uniform(0.5, 2, layer.out) * fan
    return out


def test_sng_counts_are_binomial_p_over_255() -> None:
    rng = np.random.default_rng(3)
    pixels = np.array([0, 64, 128, 255] * 5000, dtype=np.uint8)
    c = tb.sng_counts(pixels, 8, rng).reshape(-1, 4)
    assert c[:, 0].max() == 0 and c.max() <= 8 and c[:, 3].min() == 8  # p = 255: always 1
    assert np.allclose(c.mean(axis=0) / 8, [0, 64 / 255, 128 / 255, 1], atol=0.01)
    c = tb.sng_counts(pixels, 8, rng, levels=256).reshape(-1, 4)
    assert np.allclose(c.mean(axis=0) / 8, [0, 0.25, 0.5, 255 / 256], atol=0.01)


def test_scores_equal_plain_integer_arithmetic() -> None:
    """scores() against a loop of Python integer sums, sign at 0 -> +1, on a small MLP."""
    arch = tb._mlp("t", (7, 5), "")
    arch = tb.Arch("t", (1, 3, 4), arch.layers, "")
    arrays = _random_model(arch)
    ws = tb.weight_arrays(arrays, arch)
    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 256, size=(6, 1, 3, 4))
    got = tb.scores(arrays, arch, pixels, 255.0)
    for i in range(6):
        x = [int(v) for v in pixels[i].ravel()]
        for k, layer in enumerate(arch.layers):
            w = ws[layer.name].astype(int)
            a = [sum(int(w[j, q]) * x[q] for q in range(len(x))) for j in range(w.shape[0])]
            pre = np.array(a, dtype=np.float64) / (255.0 if k == 0 else 1.0)
            g, b = arrays[f"{layer.bn}_gamma"], arrays[f"{layer.bn}_beta"]
            m, v = arrays[f"{layer.bn}_mean"], arrays[f"{layer.bn}_var"]
            y = (pre - m) / np.sqrt(v + 1e-5) * g + b
            x = [1 if t >= 0 else -1 for t in y]
        assert np.array_equal(got[i], y)


def test_scores_agree_with_the_workload_reference_forward() -> None:
    """On the contract's MLP workload, the reference forward (float input p / 255.0, float
    sums) gives the same predictions as the integer evaluation on random models."""
    arch = tb._mlp("t", (32, 16), "")
    wl = workload_from_dict({**tb.workload_dict("fashion-mnist", (32, 16)),
                             "model": {"weights": "random"}})
    arrays = _random_model(arch, 5)
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = save_weights(Path(d) / "m.npz", arrays)
        wl = workload_from_dict({**tb.workload_dict("fashion-mnist", (32, 16)),
                                 "model": {"weights": str(path)}})
        weights = load_weights(wl)
    pixels = np.random.default_rng(6).integers(0, 256, size=(50, 1, 28, 28), dtype=np.uint8)
    ref = reference_forward(wl, weights, pixels)[-1]
    ours = tb.scores(arrays, arch, pixels, 255.0)
    assert np.allclose(ref, ours, atol=1e-9) or (
        np.mean(ref.argmax(1) == ours.argmax(1)) >= 0.96)
    assert np.mean(ref.argmax(1) == ours.argmax(1)) >= 0.96


def test_conv_evaluation_equals_direct_sums() -> None:
    """The VGG path's padded 3x3 convolution and OR pooling, on a tiny conv net."""
    arch = tb.Arch("t", (2, 4, 4), (tb.Layer("conv", "conv1", "bn1", 3, True),
                                    tb.Layer("dense", "fc1", "bn2", 4)), "")
    arrays = _random_model(arch, 7)
    ws = tb.weight_arrays(arrays, arch)
    x = np.random.default_rng(8).integers(0, 256, size=(2, 2, 4, 4)).astype(np.float64)
    z = tb._conv3x3(x, ws["conv1"])
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for n in range(2):
        for f in range(3):
            for i in range(4):
                for j in range(4):
                    want = float(np.sum(xp[n, :, i:i + 3, j:j + 3] * ws["conv1"][f]))
                    assert z[n, f, i, j] == want
    s = tb.scores(arrays, arch, x, 255.0)
    assert s.shape == (2, 4)
    d = workload_from_dict({**tb.workload_dict("cifar10"), "model": {"weights": "random"}})
    assert [op.kind for op in d.ops][:4] == ["conv2d", "batchnorm", "sign", "conv2d"]
    assert d.output_shape == (10,)


# --------------------------------------------------------------------------------------------
# torch pieces
# --------------------------------------------------------------------------------------------


@needs_torch
def test_sign_ste_forward_and_gradient() -> None:
    import torch

    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], requires_grad=True)
    y = tb.binarize(x)
    assert y.tolist() == [-1, -1, -1, 1, 1, 1, 1]
    y.sum().backward()
    assert x.grad is not None
    assert x.grad.tolist() == [0, 1, 1, 1, 1, 1, 0]


@needs_torch
def test_sng_mean_is_fresh_and_unbiased() -> None:
    import torch

    gen = torch.Generator().manual_seed(0)
    pixels = torch.full((20000,), 64.0)
    for n in (1, 4):
        a, b = tb.sng_mean(pixels, n, gen), tb.sng_mean(pixels, n, gen)
        assert not torch.equal(a, b)  # a fresh draw per forward pass
        assert set((a * n).round().unique().tolist()) <= set(range(n + 1))
        assert abs(float(a.mean()) - 64 / 255) < 0.01
        var = float(a.var())
        assert abs(var - (64 / 255) * (191 / 255) / n) < 0.01
    assert torch.equal(tb.first_input(pixels, "conventional", 1, gen), pixels / 255.0)


@needs_torch
def test_training_clips_latent_weights_and_exports_binary(tmp_path: Path) -> None:
    import torch

    torch.manual_seed(0)
    arch = tb.Arch("t", (1, 4, 4), (tb.Layer("dense", "fc1", "bn1", 8),
                                    tb.Layer("dense", "fc2", "bn2", 3)), "")
    model = tb.BNN(arch)
    opt = torch.optim.Adam(model.parameters(), lr=0.5)
    x = torch.rand(16, 1, 4, 4)
    y = torch.randint(0, 3, (16,))
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.clip_()
    assert all(float(p.abs().max()) <= 1.0 for p in model.weights.values())
    gen = torch.Generator().manual_seed(0)
    tb.recompute_bn(model, x * 255, "conventional", 1, gen)
    arrays = model.export()
    assert set(arrays) == {"fc1_wbits", "fc2_wbits"} | {
        f"bn{i}_{k}" for i in (1, 2) for k in ("gamma", "beta", "mean", "var")}
    w1 = tb.weight_arrays(arrays, arch)["fc1"]
    assert np.array_equal(w1, np.where(model.weights["fc1"].detach().numpy() >= 0, 1.0, -1.0))
    # the exported model's NumPy scores equal the torch eval forward on the same input
    pixels = (torch.rand(5, 1, 4, 4) * 255).round()
    with torch.no_grad():
        want = model(pixels / 255.0).double().numpy()
    got = tb.scores(arrays, arch, pixels.numpy(), 255.0)
    assert np.allclose(got, want, atol=1e-4)
    # the BN statistics are those of the binary network over the data
    with torch.no_grad():
        z1 = torch.nn.functional.linear(x.flatten(1), torch.from_numpy(w1).float())
    assert np.allclose(arrays["bn1_mean"], z1.mean(0).numpy(), atol=1e-5)


def _write_cifar_npz(folder: Path, n: int) -> None:
    """train.npz / test.npz as `archsim data fetch cifar10` writes them."""
    rng = np.random.default_rng(0)
    d = folder / "cifar10"
    d.mkdir(parents=True)
    for split in ("train", "test"):
        np.savez(d / f"{split}.npz", images=rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8),
                 labels=rng.integers(0, 10, n).astype(np.uint8))


def test_cifar10_split_loads(tmp_path: Path) -> None:
    _write_cifar_npz(tmp_path, 6)
    img, lab, _ = tb.load_split("cifar10", "train", tmp_path)
    assert img.shape == (6, 3, 32, 32) and lab.dtype == np.int64


@needs_torch
def test_vgg_training_code_path_runs(tmp_path: Path) -> None:
    """The CIFAR-10 VGG-like network trains and exports on a tiny CIFAR-format file (the real
    data is not on this machine)."""
    _write_cifar_npz(tmp_path, 20)
    out = tmp_path / "vgg.npz"
    rc = tb.main(["--dataset", "cifar10", "--data-dir", str(tmp_path), "--input", "stochastic",
                  "--n", "2", "--epochs", "1", "--batch-size", "10", "--eval-n", "1",
                  "--out", str(out)])
    assert rc == 0
    arrays, meta = tb.load_arrays(out)
    assert arrays["conv1_wbits"].shape == ((128 * 3 * 9 + 7) // 8,)
    assert meta["dataset"] == "cifar10" and meta["presentations"] == 2


# --------------------------------------------------------------------------------------------
# the shipped models
# --------------------------------------------------------------------------------------------


def _workload_for(name: str):
    entry = BUILTIN_MODELS[name]
    path = REPO / entry.workload
    if path.is_file():  # the workload file of the BNN fabric
        from archsim.workload import load_workload

        return load_workload(path, [f"model.weights=builtin:{name}"])
    arrays, meta = tb.load_arrays(builtin_model_path(name))
    return workload_from_dict({**tb.workload_dict(entry.dataset, meta["hidden"]),
                               "model": {"weights": f"builtin:{name}"}})


@pytest.mark.parametrize("name", BNN_MODELS)
def test_shipped_bnn_model_loads_binary(name: str) -> None:
    wl = _workload_for(name)
    w = load_weights(wl)
    for op in wl.weighted_ops:
        assert set(np.unique(w[op.name].w)) <= {-1.0, 1.0}
    meta = w.metadata
    assert meta["command"].startswith("python training/train_bnn.py")
    assert BUILTIN_MODELS[name].command == meta["command"]  # the exact command, registered
    assert BUILTIN_MODELS[name].description


@pytest.mark.parametrize("name", BNN_MODELS)
def test_shipped_bnn_model_accuracy_on_embedded_subset(name: str) -> None:
    """On the embedded 500 test images, the model's 8-bit (conventional) or N-presentation
    (adapted) accuracy is within sampling error of its full-test-set figure in the metadata,
    and the reference forward of the workload predicts as the integer evaluation does."""
    from archsim.nn.datasets import load_dataset

    entry = BUILTIN_MODELS[name]
    arrays, meta = tb.load_arrays(builtin_model_path(name))
    arch = tb.ARCHS[entry.dataset]
    arch = tb._mlp(arch.name, meta["hidden"], arch.workload)
    images, labels, _ = load_dataset(entry.dataset, data_dir="")
    images = images[:, None]
    n = meta["presentations"] or 0
    acc = tb.evaluate(arrays, arch, images, labels.astype(np.int64), n, seed=n)
    full = meta["test_accuracy"]["8-bit" if n == 0 else f"N={n}"]
    assert abs(acc - full) < 0.045, (acc, full)  # 500 images: std ~1.5 points
    if n == 0:
        wl = _workload_for(name)
        pred = reference_forward(wl, load_weights(wl), images)[-1].argmax(1)
        ours = tb.scores(arrays, arch, images, 255.0).argmax(1)
        assert np.mean(pred == ours) >= 0.99
