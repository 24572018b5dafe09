"""Float reference of the SC LeNet-5: shapes, SC semantics, weight files, shipped model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from archsim.nn.datasets import DATA_ENV_VAR, load_dataset
from archsim.nn.lenet import (
    LAYER_SHAPES,
    LeNet5Weights,
    accuracy,
    builtin_model_path,
    forward,
    load_weights,
    pixels_to_bipolar,
    predict,
    random_weights,
    save_weights,
)


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def _naive_forward(w: LeNet5Weights, image: np.ndarray) -> dict[str, np.ndarray]:
    """Loop-by-loop LeNet-5 of one image, written straight from the layer list."""
    x = image.astype(np.float64)[None] * 2 / 255 - 1

    def conv(x: np.ndarray, k: np.ndarray, b: np.ndarray) -> np.ndarray:
        f, _, kh, kw = k.shape
        ho, wo = x.shape[1] - kh + 1, x.shape[2] - kw + 1
        out = np.empty((f, ho, wo))
        for o in range(f):
            for i in range(ho):
                for j in range(wo):
                    out[o, i, j] = np.sum(x[:, i : i + kh, j : j + kw] * k[o]) + b[o]
        return out

    def pool(z: np.ndarray) -> np.ndarray:
        c, h, wd = z.shape
        out = np.empty((c, h // 2, wd // 2))
        for i in range(h // 2):
            for j in range(wd // 2):
                out[:, i, j] = z[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].max(axis=(1, 2))
        return out

    res = {"conv1": conv(x, w.conv1_w, w.conv1_b)}
    res["pool1"] = pool(res["conv1"])
    a1 = np.tanh(res["pool1"] / w.s["conv1"])
    res["conv2"] = conv(a1, w.conv2_w, w.conv2_b)
    res["pool2"] = pool(res["conv2"])
    a2 = np.tanh(res["pool2"] / w.s["conv2"]).reshape(-1)
    res["fc1"] = np.array([a2 @ w.fc1_w[o] + w.fc1_b[o] for o in range(500)])
    a3 = np.tanh(res["fc1"] / w.s["fc1"])
    res["logits"] = np.array([a3 @ w.fc2_w[o] + w.fc2_b[o] for o in range(10)])
    return res


def test_forward_shapes() -> None:
    out = forward(random_weights(0), _images(3))
    shapes = {k: v.shape for k, v in out.items()}
    assert shapes == {
        "input": (3, 1, 28, 28),
        "conv1": (3, 20, 24, 24),
        "pool1": (3, 20, 12, 12),
        "act1": (3, 20, 12, 12),
        "conv2": (3, 50, 8, 8),
        "pool2": (3, 50, 4, 4),
        "act2": (3, 50, 4, 4),
        "fc1": (3, 500),
        "act3": (3, 500),
        "logits": (3, 10),
        "pred": (3,),
    }
    # 784-11520-2880-3200-800-500-10
    assert [out[k][0].size for k in ("input", "conv1", "pool1", "conv2", "pool2", "fc1")] == [
        784,
        11520,
        2880,
        3200,
        800,
        500,
    ]


def test_pixels_map_to_bipolar_range() -> None:
    x = pixels_to_bipolar(np.array([[0, 255] + [0] * 26] * 28, dtype=np.uint8))
    assert x.shape == (1, 1, 28, 28)
    assert x[0, 0, 0, 0] == -1.0 and x[0, 0, 0, 1] == 1.0


def test_forward_matches_a_loop_by_loop_network() -> None:
    weights = dataclasses.replace(random_weights(3), s={"conv1": 0.7, "conv2": 2.0, "fc1": 5.0})
    images = _images(2, seed=4)
    out = forward(weights, images)
    for n in range(2):
        ref = _naive_forward(weights, images[n])
        for key, val in ref.items():
            np.testing.assert_allclose(out[key][n], val, rtol=1e-9, atol=1e-9, err_msg=key)
        assert out["pred"][n] == np.argmax(ref["logits"])


def test_max_pooling_acts_on_pre_activations_before_tanh() -> None:
    """The SC segment max pooling compares APC outputs; Btanh comes after it."""
    out = forward(random_weights(1), _images(4))
    conv1 = out["conv1"]
    windows = conv1.reshape(4, 20, 12, 2, 12, 2)
    np.testing.assert_array_equal(out["pool1"], windows.max(axis=(3, 5)))
    np.testing.assert_allclose(out["act1"], np.tanh(out["pool1"]))
    # pooled values are raw inner products (not squashed into [-1, 1])
    assert np.abs(out["pool2"]).max() > 1.0
    assert np.abs(out["act2"]).max() <= 1.0


def test_tanh_gain_s_divides_the_pre_activation() -> None:
    base = random_weights(2)
    scaled = dataclasses.replace(
        base,
        conv1_w=base.conv1_w / 2,
        conv1_b=base.conv1_b / 2,
        s={"conv1": 0.5, "conv2": 1.0, "fc1": 1.0},
    )
    images = _images(3)
    np.testing.assert_allclose(
        forward(base, images)["logits"], forward(scaled, images)["logits"], rtol=1e-6
    )


def test_logits_have_no_activation() -> None:
    w = random_weights(5)
    w = dataclasses.replace(w, fc2_w=np.ones_like(w.fc2_w), fc2_b=np.ones_like(w.fc2_b))
    out = forward(w, _images(2))
    expected = np.repeat(out["act3"].sum(axis=1, keepdims=True) + 1.0, 10, axis=1)
    np.testing.assert_allclose(out["logits"], expected, rtol=0, atol=1e-12)
    assert np.abs(out["logits"]).max() > 1.0


def test_batching_does_not_change_results() -> None:
    w, images = random_weights(6), _images(37)
    np.testing.assert_allclose(
        forward(w, images, batch_size=5)["logits"],
        forward(w, images, batch_size=64)["logits"],
        rtol=0,
        atol=1e-12,
    )
    np.testing.assert_array_equal(predict(w, images, batch_size=7), forward(w, images)["pred"])
    assert forward(w, images, keep=("pred",)).keys() == {"pred"}


def test_save_load_round_trip(tmp_path: Path) -> None:
    w = dataclasses.replace(random_weights(7), s={"conv1": 2.0, "conv2": 3.0, "fc1": 4.0})
    w.metadata["note"] = "round trip"
    loaded = load_weights(save_weights(w, tmp_path / "w.npz"))
    for name in LAYER_SHAPES:
        np.testing.assert_array_equal(getattr(loaded, name), getattr(w, name))
        assert getattr(loaded, name).dtype == np.float32
    assert loaded.s == w.s
    assert loaded.metadata["note"] == "round trip"
    assert loaded.metadata["clipped_on_load"] == 0


def test_weights_and_biases_are_clipped_to_bipolar_range_on_load(tmp_path: Path) -> None:
    w = random_weights(8)
    w.conv1_w[0, 0, 0, 0] = 3.0
    w.fc2_b[1] = -2.5
    loaded = load_weights(save_weights(w, tmp_path / "big.npz"))
    assert loaded.conv1_w[0, 0, 0, 0] == 1.0
    assert loaded.fc2_b[1] == -1.0
    assert loaded.metadata["clipped_on_load"] == 2
    for name in LAYER_SHAPES:
        assert np.abs(getattr(loaded, name)).max() <= 1.0


def test_weights_are_validated() -> None:
    w = random_weights(0)
    with pytest.raises(ValueError, match="conv2_w"):
        dataclasses.replace(w, conv2_w=np.zeros((50, 20, 3, 3)))
    with pytest.raises(ValueError, match="must be > 0"):
        dataclasses.replace(w, s={"fc1": 0.0})
    with pytest.raises(ValueError, match="images shape"):
        forward(w, np.zeros((2, 32, 32), dtype=np.uint8))


def test_random_weights_are_deterministic_and_bipolar() -> None:
    a, b = random_weights(11), random_weights(11)
    for name in LAYER_SHAPES:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert np.abs(getattr(a, name)).max() <= 1.0


SHIPPED = builtin_model_path("lenet5_mnist")


@pytest.mark.skipif(not SHIPPED.is_file(), reason="lenet5_mnist.npz not trained yet")
def test_shipped_mnist_model_is_accurate_on_embedded_subset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    weights = load_weights("lenet5_mnist")
    assert weights.metadata["clipped_on_load"] == 0
    assert weights.metadata["float_test_accuracy"] >= 0.992
    images, labels, _ = load_dataset("mnist")
    assert accuracy(weights, images, labels) > 0.97


SHIPPED_FASHION = builtin_model_path("lenet5_fashion")


@pytest.mark.skipif(not SHIPPED_FASHION.is_file(), reason="lenet5_fashion.npz not trained yet")
def test_shipped_fashion_model_beats_chance_by_far(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    weights = load_weights("lenet5_fashion")
    images, labels, _ = load_dataset("fashion-mnist")
    assert accuracy(weights, images, labels) > 0.85
