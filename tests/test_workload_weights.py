"""The one weights loader and the one built-in model registry: shapes, masks, quantization,
clipping, and every refusal naming the file and the array key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from archsim.config.errors import MISSING, ConfigError
from archsim.workload import (
    BUILTIN_MODELS,
    builtin_model_path,
    load_weights,
    load_workload,
    quantize_weights,
    save_weights,
)
from archsim.workload.models import models_dir

ROOT = Path(__file__).resolve().parents[1]
LENET = ROOT / "arch_configs" / "workloads" / "lenet5.yaml"

TINY_OPS = """
ops:
  - {name: conv1, op: conv2d, out_channels: 3, kernel: 3}
  - {name: bn1, op: batchnorm}
  - {name: act1, op: btanh, s: 1.0}
  - {name: flat, op: flatten}
  - {name: fc1, op: dense, outputs: 2, bias: false}
"""


def _tiny_arrays(rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    rng = rng or np.random.default_rng(0)
    return {
        "conv1_w": rng.uniform(-1, 1, (3, 1, 3, 3)), "conv1_b": rng.uniform(-1, 1, 3),
        "bn1_gamma": np.ones(3), "bn1_beta": np.zeros(3), "bn1_mean": np.zeros(3),
        "bn1_var": np.ones(3), "fc1_w": rng.uniform(-1, 1, (2, 12)),
    }


def _tiny(tmp_path: Path, arrays: dict[str, Any], model_extra: str = "",
          ops: str = TINY_OPS) -> Any:
    np.savez(tmp_path / "m.npz", **arrays)
    (tmp_path / "w.yaml").write_text(
        "input: {shape: [1, 4, 4], mapping: raw}\n"
        f"model: {{weights: m.npz{model_extra}}}\n" + ops)
    return load_workload(tmp_path / "w.yaml")


def _error(tmp_path: Path, arrays: dict[str, Any], model_extra: str = "") -> ConfigError:
    wl = _tiny(tmp_path, arrays, model_extra)
    with pytest.raises(ConfigError) as info:
        load_weights(wl)
    err = info.value
    message = str(err)
    assert "got " in message and "; expected " in message and "\n" not in message
    return err


# --------------------------------------------------------------------------------------------
# the registry
# --------------------------------------------------------------------------------------------


def test_registry_is_the_models_folder() -> None:
    files = sorted(p.name for p in models_dir().glob("*.npz"))
    assert files == sorted(m.file for m in BUILTIN_MODELS.values())
    assert all(builtin_model_path(name).is_file() for name in BUILTIN_MODELS)
    # the two registries it replaces: nn.lenet's (a subset) and elaborate's folder glob
    from archsim.nn.lenet import BUILTIN_MODELS as LENET_MODELS

    assert set(LENET_MODELS) <= set(BUILTIN_MODELS)
    with pytest.raises(KeyError, match="lenet5_mnist"):
        builtin_model_path("lenet7")


LENET_BUILTINS = sorted(n for n, m in BUILTIN_MODELS.items()
                        if m.workload == "arch_configs/workloads/lenet5.yaml")


@pytest.mark.parametrize("name", sorted(n for n in BUILTIN_MODELS if n not in LENET_BUILTINS))
def test_every_other_builtin_model_loads_for_its_workload(name: str) -> None:
    wl = load_workload(ROOT / BUILTIN_MODELS[name].workload)
    assert wl.model.weights == f"builtin:{name}"
    w = load_weights(wl)
    for op in wl.weighted_ops:
        p = w[op.name]
        assert p.w.shape == op.weight_shape and p.codes is not None and p.bits is not None


@pytest.mark.parametrize("name", LENET_BUILTINS)
def test_every_builtin_model_loads_for_lenet5(name: str) -> None:
    wl = load_workload(LENET, [f"model.weights=builtin:{name}"])
    w = load_weights(wl)
    assert w.source == f"builtin:{name}" and w.path == builtin_model_path(name)
    assert w.clipped == 0  # every shipped weight is inside [-1, 1]
    assert set(w.layers) == {"conv1", "conv2", "fc1", "fc2"}
    for op in wl.weighted_ops:
        p = w[op.name]
        assert p.w.shape == op.weight_shape and p.w.dtype == np.float64
        assert p.b is not None and p.b.shape == op.bias_shape
        assert p.mask is None and p.codes is None
        assert not p.w.flags.writeable
    assert "settings" in w.metadata and w.metadata["source"] == f"builtin:{name}"
    with np.load(builtin_model_path(name)) as npz:
        assert np.array_equal(w["fc1"].w, npz["fc1_w"].astype(np.float64))


def test_random_weights_are_seeded() -> None:
    wl = load_workload(LENET, ["model.weights=random"])
    a, b = load_weights(wl), load_weights(wl)
    assert np.array_equal(a["conv1"].w, b["conv1"].w)
    c = load_weights(load_workload(LENET, ["model.weights=random", "model.seed=2"]))
    assert not np.array_equal(a["conv1"].w, c["conv1"].w)
    assert a.source == "random (seed 1)"
    assert np.abs(a["fc1"].w).max() <= 1.0


def test_random_weights_for_batchnorm_and_no_bias(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text("input: {shape: [1, 4, 4], mapping: raw}\n" + TINY_OPS)
    w = load_weights(load_workload(tmp_path / "w.yaml"))
    assert w["fc1"].b is None and w["fc1"].w.shape == (2, 12)
    bn = w.batchnorm["bn1"]
    assert np.array_equal(bn.gamma, np.ones(3)) and np.array_equal(bn.var, np.ones(3))
    fw = w.float_weights()
    assert np.array_equal(fw["fc1"][1], np.zeros(2))


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------


def test_a_good_file_loads(tmp_path: Path) -> None:
    arrays = _tiny_arrays()
    arrays["conv1_mask"] = np.array([1, 0, 1] * 9, dtype=bool).reshape(3, 1, 3, 3)
    arrays["s_conv1"] = np.array(1.0)
    w = load_weights(_tiny(tmp_path, arrays))
    p = w["conv1"]
    assert p.mask is not None and p.sparsity == pytest.approx(1 / 3)
    assert np.array_equal(p.w, np.where(arrays["conv1_mask"], arrays["conv1_w"], 0.0))
    assert w.path == (tmp_path / "m.npz").resolve()


def test_missing_array(tmp_path: Path) -> None:
    arrays = _tiny_arrays()
    del arrays["conv1_b"]
    err = _error(tmp_path, arrays)
    assert err.key_path == "conv1_b" and err.value is MISSING
    assert err.file is not None and err.file.endswith("m.npz")
    assert "(3,)" in err.expected and "ops[0] 'conv1'" in err.expected


def test_wrong_weight_shape(tmp_path: Path) -> None:
    arrays = _tiny_arrays()
    arrays["conv1_w"] = np.zeros((3, 1, 5, 5))
    err = _error(tmp_path, arrays)
    assert err.key_path == "conv1_w" and err.value == (3, 1, 5, 5)
    assert "shape (3, 1, 3, 3)" in err.expected


def test_object_arrays_are_refused(tmp_path: Path) -> None:
    arrays: dict[str, Any] = _tiny_arrays()
    arrays["conv1_b"] = np.array([{"x": 1}, 2, 3], dtype=object)
    err = _error(tmp_path, arrays)
    assert err.key_path == "conv1_b" and "allow_pickle=False" in err.expected


def test_string_arrays_are_refused(tmp_path: Path) -> None:
    arrays: dict[str, Any] = _tiny_arrays()
    arrays["conv1_b"] = np.array(["a", "b", "c"])
    err = _error(tmp_path, arrays)
    assert err.key_path == "conv1_b" and "real numeric array" in err.expected


def test_non_finite_values_are_refused(tmp_path: Path) -> None:
    arrays = _tiny_arrays()
    arrays["fc1_w"][1, 5] = np.inf
    err = _error(tmp_path, arrays)
    assert err.key_path == "fc1_w" and "(1, 5)" in str(err.value)
    arrays = _tiny_arrays()
    arrays["bn1_mean"][0] = np.nan
    assert _error(tmp_path, arrays).key_path == "bn1_mean"


def test_unused_arrays_are_refused(tmp_path: Path) -> None:
    arrays = _tiny_arrays()
    arrays["conv2_w"] = np.zeros(3)
    err = _error(tmp_path, arrays)
    assert err.key_path == "conv2_w" and "conv1_w" in err.expected
    arrays = _tiny_arrays()
    arrays["fc1_b"] = np.zeros(2)
    err = _error(tmp_path, arrays)
    assert err.key_path == "fc1_b" and "bias: false" in err.expected


def test_batchnorm_arrays(tmp_path: Path) -> None:
    arrays = _tiny_arrays()
    del arrays["bn1_var"]
    assert _error(tmp_path, arrays).key_path == "bn1_var"
    arrays = _tiny_arrays()
    arrays["bn1_var"] = np.array([1.0, -0.5, 1.0])
    err = _error(tmp_path, arrays)
    assert err.key_path == "bn1_var" and err.value == -0.5
    arrays = _tiny_arrays()
    arrays["bn1_gamma"] = np.ones(4)
    assert _error(tmp_path, arrays).key_path == "bn1_gamma"


def test_mask_in_the_model_file_is_checked(tmp_path: Path) -> None:
    arrays = _tiny_arrays()
    arrays["conv1_mask"] = np.ones((3, 1, 5, 5), dtype=bool)
    err = _error(tmp_path, arrays)
    assert err.key_path == "conv1_mask" and err.value == (3, 1, 5, 5)
    assert "weight shape of ops[0] 'conv1'" in err.expected
    arrays["conv1_mask"] = np.full((3, 1, 3, 3), 0.5)
    err = _error(tmp_path, arrays)
    assert err.key_path == "conv1_mask" and "0/1" in err.expected


def test_mask_that_empties_a_layer_is_an_error(tmp_path: Path) -> None:
    """A pruning that leaves a layer without weights, in the model file or a mask file."""
    arrays = _tiny_arrays()
    arrays["conv1_mask"] = np.zeros((3, 1, 3, 3), dtype=bool)
    err = _error(tmp_path, arrays)
    assert err.key_path == "conv1_mask" and "at least one weight" in err.expected
    assert "pruning all 27 weights" in str(err.value)
    np.savez(tmp_path / "masks.npz", fc1_mask=np.zeros((2, 12)))
    err = _error(tmp_path, _tiny_arrays(), ", layers: {fc1: {mask: masks.npz}}")
    assert err.key_path == "fc1_mask" and err.file is not None
    assert err.file.endswith("masks.npz") and "at least one weight" in err.expected


def test_mask_file_named_by_the_workload(tmp_path: Path) -> None:
    np.savez(tmp_path / "masks.npz", fc1_mask=np.ones((2, 10), dtype=bool))
    err = _error(tmp_path, _tiny_arrays(), ", layers: {fc1: {mask: masks.npz}}")
    assert err.key_path == "fc1_mask" and err.file is not None
    assert err.file.endswith("masks.npz")
    assert "named by model.layers.fc1.mask" in err.expected
    keep = np.zeros((2, 12), dtype=bool)
    keep[:, :3] = True
    np.savez(tmp_path / "masks.npz", fc1_mask=keep)
    w = load_weights(_tiny(tmp_path, _tiny_arrays(), ", layers: {fc1: {mask: masks.npz}}"))
    assert np.count_nonzero(w["fc1"].w) == 6
    np.savez(tmp_path / "masks.npz", conv1_mask=keep)
    err = _error(tmp_path, _tiny_arrays(), ", layers: {fc1: {mask: masks.npz}}")
    assert err.key_path == "fc1_mask" and err.value is MISSING
    arrays = _tiny_arrays()
    arrays["fc1_mask"] = keep
    err = _error(tmp_path, arrays, ", layers: {fc1: {mask: masks.npz}}")
    assert err.key_path == "model.layers.fc1.mask"


def test_tanh_gain_of_the_model_must_match_the_btanh_op(tmp_path: Path) -> None:
    arrays = _tiny_arrays()
    arrays["s_conv1"] = np.array(2.0)
    err = _error(tmp_path, arrays)
    assert err.key_path == "ops[2].s" and err.value == 1.0
    assert err.file is not None and err.file.endswith("w.yaml")
    arrays = _tiny_arrays()
    arrays["s_fc1"] = np.array(2.0)  # fc1's stage has no btanh
    assert _error(tmp_path, arrays).key_path == "s_fc1"


def test_metadata_and_unreadable_files(tmp_path: Path) -> None:
    arrays: dict[str, Any] = _tiny_arrays()
    arrays["metadata"] = np.array("{not json")
    assert _error(tmp_path, arrays).key_path == "metadata"
    arrays["metadata"] = np.array('{"who": "me"}')
    assert load_weights(_tiny(tmp_path, arrays)).metadata["who"] == "me"
    wl = _tiny(tmp_path, _tiny_arrays())
    (tmp_path / "m.npz").write_text("not a zip")
    with pytest.raises(ConfigError) as info:
        load_weights(wl)
    assert info.value.key_path == "model.weights"
    assert info.value.file is not None and info.value.file.endswith("w.yaml")


# --------------------------------------------------------------------------------------------
# clipping, pruning, quantization
# --------------------------------------------------------------------------------------------


def test_clip(tmp_path: Path) -> None:
    arrays = _tiny_arrays()
    arrays["conv1_w"][0, 0, 0, :] = [3.0, -2.0, 0.1]
    arrays["conv1_b"][1] = 1.5
    w = load_weights(_tiny(tmp_path, arrays, ", clip: 1.0"))
    assert w.clipped == 3
    assert np.array_equal(w["conv1"].w[0, 0, 0], [1.0, -1.0, 0.1])
    assert w["conv1"].b is not None and w["conv1"].b[1] == 1.0
    assert load_weights(_tiny(tmp_path, arrays)).clipped == 0


def test_sparsity_prunes_the_smallest_weights(tmp_path: Path) -> None:
    arrays = _tiny_arrays()
    arrays["fc1_w"] = np.arange(1, 25, dtype=float).reshape(2, 12) * np.where(
        np.arange(24) % 2, 1, -1).reshape(2, 12)
    w = load_weights(_tiny(tmp_path, arrays, ", layers: {fc1: {sparsity: 0.25}}"))
    p = w["fc1"]
    assert p.mask is not None and np.count_nonzero(~p.mask) == 6
    assert np.array_equal(np.flatnonzero(~p.mask.ravel()), np.arange(6))  # |w| = 1..6
    assert p.sparsity == 0.25


def test_quantized_weights(tmp_path: Path) -> None:
    w = load_weights(_tiny(tmp_path, _tiny_arrays(), ", layers: {conv1: {bits: 3}, "
                                                     "fc1: {bits: 1, sparsity: 0.5}}"))
    p = w["conv1"]
    assert p.bits == 3 and p.codes is not None and p.step is not None
    assert p.codes.min() >= -3 and p.codes.max() <= 3 and np.abs(p.codes).max() == 3
    assert np.array_equal(p.w, p.codes * p.step)
    raw = _tiny_arrays()["conv1_w"]
    assert p.step == pytest.approx(np.abs(raw).max() / 3)
    assert np.abs(p.w - raw).max() <= p.step / 2 + 1e-15
    q = w["fc1"]
    assert q.codes is not None and q.mask is not None
    assert set(np.unique(q.codes)) <= {-1, 0, 1}
    assert np.array_equal(q.codes == 0, ~q.mask)  # pruned binary weights stay 0


def test_quantize_weights_function() -> None:
    codes, step = quantize_weights(np.array([0.5, -0.25, 0.1, 0.0]), 3)
    assert step == pytest.approx(0.5 / 3) and np.array_equal(codes, [3, -2, 1, 0])
    codes, step = quantize_weights(np.array([0.5, -0.25, 0.0]), 1)
    assert np.array_equal(codes, [1, -1, 1]) and step == pytest.approx(0.25)
    codes, step = quantize_weights(np.zeros(3), 4)
    assert step == 1.0 and not codes.any()


def test_save_weights_round_trip(tmp_path: Path) -> None:
    arrays = _tiny_arrays()
    np.savez(tmp_path / "ignored.npz", x=np.zeros(1))
    save_weights(tmp_path / "m2.npz", arrays, {"note": "hand made"})
    (tmp_path / "w.yaml").write_text(
        "input: {shape: [1, 4, 4], mapping: raw}\nmodel: {weights: m2.npz}\n" + TINY_OPS)
    w = load_weights(load_workload(tmp_path / "w.yaml"))
    assert np.array_equal(w["conv1"].w, arrays["conv1_w"])
    assert w.metadata["note"] == "hand made"
    with pytest.raises(ValueError):
        save_weights(tmp_path / "bad.npz", {"a": np.array(["x"])})
