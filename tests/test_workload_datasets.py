"""The images of a workload: MNIST subsets, seeded random images, image folders and .npz
files, each checked against the workload's input shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from archsim.config.errors import ConfigError
from archsim.workload import load_images, load_workload, workload_from_dict

ROOT = Path(__file__).resolve().parents[1]
LENET = ROOT / "arch_configs" / "workloads" / "lenet5.yaml"

Image = pytest.importorskip("PIL.Image")


def _custom(tmp_path: Path, path: str, shape: list[int]) -> Any:
    (tmp_path / "w.yaml").write_text(
        f"input: {{shape: {shape}, mapping: unipolar}}\n"
        f"dataset: {{name: custom, path: {path}}}\n"
        "ops: [{name: f, op: flatten}]\n")
    return load_workload(tmp_path / "w.yaml")


def test_mnist_embedded_subset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARCHSIM_DATA", raising=False)
    from archsim.nn.datasets import load_dataset

    wl = load_workload(LENET)
    got = load_images(wl, count=20)
    images, labels, _ = load_dataset("mnist", count=20)
    assert got.images.shape == (20, 1, 28, 28) and got.images.dtype == np.uint8
    assert np.array_equal(got.images[:, 0], images)
    assert got.labels is not None and np.array_equal(got.labels, labels)
    assert got.classes[3] == "3" and len(got) == 20
    assert not got.images.flags.writeable
    fashion = load_images(load_workload(LENET, ["dataset.name=fashion-mnist"]), start=5,
                          count=3)
    assert fashion.start == 5 and fashion.classes[9] == "Ankle boot"


def test_random_images_are_the_engines() -> None:
    from archsim.config import load_config
    from archsim.run import load_images as engine_images

    cfg = load_config(ROOT / "arch_configs" / "dwcnn" / "small_conv_fc.yaml")
    wl = workload_from_dict({"input": {"shape": [1, 8, 8], "mapping": "bipolar"},
                             "dataset": {"name": "random", "seed": cfg.seed},
                             "ops": [{"name": "f", "op": "flatten"}]})
    ours = load_images(wl, start=3, count=4)
    theirs, _ = engine_images(cfg, (1, 8, 8), 3, 4, None)
    for a, img in zip(ours.images, theirs, strict=True):
        assert np.array_equal(a, img.pixels)
    assert ours.labels is None
    assert len(load_images(wl)) == 10


def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "L" if array.ndim == 2 else "RGB"
    Image.fromarray(array, mode=mode).save(path)


def test_image_folder_with_class_subfolders(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, size=(3, 5, 7, 3), dtype=np.uint8)  # three RGB images 5x7
    _write_png(tmp_path / "imgs" / "dog" / "b.png", a[0])
    _write_png(tmp_path / "imgs" / "dog" / "a.png", a[1])
    _write_png(tmp_path / "imgs" / "cat" / "z.png", a[2])
    (tmp_path / "imgs" / "cat" / ".hidden").write_text("x")
    wl = _custom(tmp_path, "imgs", [3, 5, 7])
    got = load_images(wl)
    assert got.classes == ("cat", "dog")
    assert np.array_equal(got.labels, [0, 1, 1])  # type: ignore[arg-type]
    want = np.stack([a[2], a[1], a[0]]).transpose(0, 3, 1, 2)  # cat/z, dog/a, dog/b
    assert np.array_equal(got.images, want)
    assert np.array_equal(load_images(wl, start=1, count=1).images, want[1:2])


def test_image_folder_grey_pgm_unlabelled(tmp_path: Path) -> None:
    img = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    (tmp_path / "g").mkdir()
    Image.fromarray(img, mode="L").save(tmp_path / "g" / "one.pgm")
    got = load_images(_custom(tmp_path, "g", [1, 3, 4]))
    assert got.labels is None and np.array_equal(got.images[0, 0], img)


def test_image_folder_shape_mismatch_is_a_config_error(tmp_path: Path) -> None:
    _write_png(tmp_path / "imgs" / "x" / "a.png", np.zeros((5, 7, 3), np.uint8))
    wl = _custom(tmp_path, "imgs", [1, 28, 28])
    with pytest.raises(ConfigError) as info:
        load_images(wl)
    err = info.value
    assert err.key_path == "dataset.path" and err.file is not None
    assert err.file.endswith("w.yaml")
    assert "a.png of shape (3, 5, 7)" in str(err.value)
    assert "(1, 28, 28), the input.shape of" in err.expected


def test_image_folder_refuses_other_files(tmp_path: Path) -> None:
    _write_png(tmp_path / "imgs" / "x" / "a.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "imgs" / "x" / "notes.txt").write_text("hello")
    with pytest.raises(ConfigError, match="notes.txt"):
        load_images(_custom(tmp_path, "imgs", [1, 4, 4]))
    (tmp_path / "imgs" / "x" / "notes.txt").unlink()
    (tmp_path / "imgs" / "x" / "bad.png").write_text("not a png")
    with pytest.raises(ConfigError, match="readable image"):
        load_images(_custom(tmp_path, "imgs", [1, 4, 4]))


def test_npz_images(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(6, 2, 3, 5), dtype=np.uint8)
    np.savez(tmp_path / "set.npz", images=images, labels=np.arange(6) % 2,
             classes=np.array(["even", "odd"]))
    got = load_images(_custom(tmp_path, "set.npz", [2, 3, 5]), start=2, count=3)
    assert np.array_equal(got.images, images[2:5])
    assert np.array_equal(got.labels, [0, 1, 0])  # type: ignore[arg-type]
    assert got.classes == ("even", "odd")
    np.savez(tmp_path / "flat.npz", images=images[:, 0])
    got = load_images(_custom(tmp_path, "flat.npz", [1, 3, 5]))
    assert got.images.shape == (6, 1, 3, 5) and got.labels is None


def test_the_shipped_subset_reads_as_a_custom_npz(tmp_path: Path) -> None:
    from archsim.nn.datasets import embedded_subset_path

    wl = _custom(tmp_path, str(embedded_subset_path("mnist")), [1, 28, 28])
    got = load_images(wl, count=20)
    mnist = load_images(load_workload(LENET), count=20)
    assert np.array_equal(got.images, mnist.images)
    assert np.array_equal(got.labels, mnist.labels)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arrays", "key", "fragment"),
    [
        ({"images": np.zeros((2, 3, 3), np.uint8), "labels": np.zeros(2, int),
          "extra": np.zeros(1)}, "extra", "only images, labels"),
        ({"labels": np.zeros(2, int)}, "images", "uint8"),
        ({"images": np.zeros((2, 3, 3), np.float32)}, "images", "uint8"),
        ({"images": np.zeros((2, 3, 3), np.uint8), "labels": np.zeros(3, int)}, "labels",
         "(2,)"),
        ({"images": np.zeros((2, 3, 3), np.uint8), "labels": np.array([0, 2]),
          "classes": np.array(["a", "b"])}, "labels", "class names"),
    ],
)
def test_npz_images_refused(tmp_path: Path, arrays: dict[str, Any], key: str,
                            fragment: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ConfigError) as info:
        load_images(_custom(tmp_path, "bad.npz", [1, 3, 3]))
    assert info.value.key_path == key and fragment in str(info.value)
    assert info.value.file is not None and info.value.file.endswith("bad.npz")


def test_npz_shape_mismatch_and_range(tmp_path: Path) -> None:
    np.savez(tmp_path / "s.npz", images=np.zeros((4, 3, 3), np.uint8))
    with pytest.raises(ConfigError) as info:
        load_images(_custom(tmp_path, "s.npz", [3, 3, 3]))
    assert info.value.key_path == "dataset.path" and "(1, 3, 3)" in str(info.value)
    with pytest.raises(ConfigError, match="inside the 4 images"):
        load_images(_custom(tmp_path, "s.npz", [1, 3, 3]), start=2, count=3)
