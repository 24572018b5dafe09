"""``archsim train`` on the binarized and the bit-plane PIM fabrics.

The BNN fabric trains through :class:`archsim.train.bnn.BnnModel` (unscaled sign weights),
the PIM fabric through the generic :class:`archsim.train.model.QuantizerModel` (the workload's
weight quantizers, symmetric or DoReFa, with its masks). Checked: the torch quantizers equal
the weights loader's grid; the torch model of a design, with weights moved off the grid as
training leaves them and written as ``archsim train`` writes them, predicts what the
simulator predicts with that file; and (with ``ARCHSIM_DATA``, training images) a short
``archsim train`` run on each fabric writes a file the design runs, with its batch norms and
masks. Skips without torch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import archsim  # noqa: E402
from archsim.fabrics import get_fabric  # noqa: E402
from archsim.nn.datasets import load_dataset  # noqa: E402
from archsim.train.bnn import BnnModel  # noqa: E402
from archsim.train.model import QuantizerModel, TorchWorkload  # noqa: E402
from archsim.train.registry import hardware_model_for  # noqa: E402
from archsim.workload import map_input, save_weights, workload_from_dict  # noqa: E402
from archsim.workload.quantize import dequantize_weights, quantize_weights  # noqa: E402

DESIGNS = {
    "bnn": ("builtin:bnn/conv_bnn_fmnist.yaml", None, BnnModel),
    "pim-dorefa": ("builtin:pim/dorefa_mnist_sot.yaml", None, QuantizerModel),
    "pim-pruned": ("builtin:pim/pimc_sot.yaml",
                   "builtin:workloads/pim_admm/pimc_lenet5_admm_c2.yaml", QuantizerModel),
}


@pytest.mark.parametrize("quantizer", ["symmetric", "dorefa"])
@pytest.mark.parametrize("bits", [1, 2, 4])
@pytest.mark.parametrize("masked", [False, True])
def test_quantizer_model_is_the_loaders_grid(quantizer: str, bits: int, masked: bool) -> None:
    rng = np.random.default_rng(bits)
    w = rng.normal(0.0, 0.4, (6, 10))
    mask = rng.random(w.shape) > 0.4 if masked else None
    if mask is not None:
        w = np.where(mask, w, 0.0)  # TorchWorkload hands the quantizer masked weights
    codes, step = quantize_weights(w, bits, mask, quantizer)
    want = dequantize_weights(codes, step)
    op = workload_from_dict({"name": "q", "input": {"shape": [1, 1, 10], "mapping": "raw"},
                             "ops": [{"name": "flatten", "op": "flatten"},
                                     {"name": "fc", "op": "dense", "outputs": 6}]}).op("fc")
    hw = QuantizerModel({"fc": bits}, {"fc": quantizer}, {"fc": mask} if masked else {})
    got = hw.weight(op, torch.from_numpy(w)).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def _model(source: str, workload: str | None) -> tuple[archsim.Design, TorchWorkload, object]:
    design = archsim.load(source, workload=workload)
    cfg = design.config
    net, _ = get_fabric(cfg.fabric)().elaborate(cfg)
    hw = hardware_model_for(cfg, net)
    return design, TorchWorkload(hw.workload, hw.weights, hw), hw


@pytest.mark.parametrize("case", sorted(DESIGNS))
def test_trained_file_runs_as_the_model_predicts(case: str, tmp_path: Path) -> None:
    """Weights scaled by 0.6 plus noise of a tenth of their spread (off the grid, as
    training leaves them), written by
    ``TorchWorkload.arrays``: the simulator with that file predicts, image by image, what
    the torch model predicts (a scaled sign for the BNN or a symmetric grid for DoReFa
    layers would not)."""
    source, workload, kind = DESIGNS[case]
    design, model, hw = _model(source, workload)
    assert type(hw) is kind
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.w.values():
            p.mul_(0.6).add_(0.06 * p.std() * torch.randn(p.shape, generator=gen))
    model.clamp_()
    arrays = model.arrays()
    path = save_weights(tmp_path / "trained.npz", arrays, {"test": case})
    masks = {k for k in arrays if k.endswith("_mask")}
    assert bool(masks) == (case == "pim-pruned")  # the model file's masks are written back
    n = 40
    result = archsim.run(design.with_overrides(f"model.weights={path}"), images=n)
    sim = np.array([r.prediction for r in result.accuracy])
    cfg = design.config
    pixels, labels, _ = load_dataset(cfg.dataset.name, "test", None, start=0, count=n)
    wl = model.workload
    x = torch.from_numpy(map_input(pixels.reshape(n, *wl.input.shape), wl.input.mapping))
    with torch.no_grad():
        pred = model.double()(x.double()).argmax(1).numpy()
    assert np.array_equal(pred, sim), f"{np.mean(pred == sim):.2f} agree"
    assert np.mean(sim == labels) > 0.3  # the perturbed model still classifies


@pytest.mark.skipif(not os.environ.get("ARCHSIM_DATA"),
                    reason="trains on training images: set ARCHSIM_DATA (CI does)")
@pytest.mark.parametrize("case", ["bnn", "pim-pruned"])
def test_archsim_train_cli(case: str, tmp_path: Path) -> None:
    from archsim.cli import main

    source, workload, kind = DESIGNS[case]
    design, model, _ = _model(source, workload)
    sets = [] if workload is None else ["--set", f"workload={design.resolved()['workload']}"]
    out = tmp_path / "m.npz"
    rc = main(["train", source, *sets, "--out", str(out), "--epochs", "1", "--max-train",
               "600", "--val-count", "100", "--calibrate", "0", "--threads", "1", "--quiet"])
    assert rc == 0
    with np.load(out) as npz:
        meta = json.loads(str(npz["metadata"]))
        files = set(npz.files)
        for key, want in model.fixed.items():  # batch norms and masks as loaded
            np.testing.assert_array_equal(npz[key], want)
    assert {k for k in files if k.endswith("_var")}
    assert meta["fabric"] == design.fabric and len(meta["history"]) == 1
    assert meta["hardware_model"]["model"].startswith(
        "binarized" if kind is BnnModel else "workload quantizers")
    assert main(["run", source, *sets, "--set", f"model.weights={out}", "--images", "3",
                 "--out", str(tmp_path / "run"), "--quiet", "--jobs", "1"]) == 0
