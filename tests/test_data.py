"""Data sets: the IDX reader, the registry and its embedded subsets, and the verified fetch."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from archsim.nn import datasets
from archsim.nn.datasets import (
    DATA_ENV_VAR,
    DatasetSpec,
    FileSpec,
    embedded_subset_path,
    load_dataset,
    resolve_data_dir,
)
from archsim.nn.errors import DatasetError
from archsim.nn.fetch import fetch_dataset, fetch_main
from archsim.nn.idx import read_idx, read_idx_images, read_idx_labels, write_idx

REAL_DATA = os.environ.get(DATA_ENV_VAR, "")
needs_real_data = pytest.mark.skipif(
    not (REAL_DATA and (Path(REAL_DATA) / "mnist").is_dir()),
    reason=f"{DATA_ENV_VAR} not set to a folder with the official files",
)


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def _labels(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 10, size=n, dtype=np.uint8)


# --- IDX reader -------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_idx_round_trip_gzip_and_raw(tmp_path: Path, suffix: str) -> None:
    images, labels = _images(7), _labels(7)
    img_path = write_idx(tmp_path / f"img-idx3-ubyte{suffix}", images)
    lab_path = write_idx(tmp_path / f"lab-idx1-ubyte{suffix}", labels)
    assert (img_path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    got_images, got_labels = read_idx_images(img_path), read_idx_labels(lab_path)
    assert got_images.dtype == np.uint8 and got_images.shape == (7, 28, 28)
    assert got_labels.dtype == np.uint8 and got_labels.shape == (7,)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_gzip_is_detected_by_magic_bytes_not_name(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "labels.raw", _labels(5), compress=True)
    np.testing.assert_array_equal(read_idx_labels(path), _labels(5))


def test_wrong_magic_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad-magic.gz"
    path.write_bytes(gzip.compress(b"\x12\x34\x08\x01" + b"\x00" * 12))
    with pytest.raises(DatasetError, match="wrong magic") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_labels_file_given_as_images_is_wrong_magic(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "labels", _labels(3))
    with pytest.raises(DatasetError, match="wrong magic") as info:
        read_idx_images(path)
    assert str(path) in str(info.value)


def test_truncated_gzip_names_the_file(tmp_path: Path) -> None:
    good = write_idx(tmp_path / "good.gz", _images(20))
    path = tmp_path / "truncated.gz"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DatasetError, match="truncated") as info:
        read_idx_images(path)
    assert str(path) in str(info.value)


def test_truncated_header_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "short"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(DatasetError, match="truncated") as info:
        read_idx_images(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("dims", [(0, 3_036_988_439, 3_037_012_561), (0, 2**32 - 1, 28)])
def test_dims_no_array_can_have_are_refused_even_beside_a_zero(tmp_path: Path,
                                                              dims: tuple[int, ...]) -> None:
    # 0 images of 3e9 x 3e9 pixels: 0 payload bytes, as declared, but no such array exists
    # (found by the long fuzz run: numpy raised "array is too big" from reshape)
    path = tmp_path / "huge-dims.gz"
    path.write_bytes(gzip.compress(struct.pack(">I", 0x800 | len(dims))
                                   + struct.pack(f">{len(dims)}I", *dims)))
    with pytest.raises(DatasetError, match="bad dims") as info:
        read_idx_images(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("delta", [-784, +1])
def test_count_mismatch_names_the_file(tmp_path: Path, delta: int) -> None:
    blob = write_idx(tmp_path / "good", _images(3)).read_bytes()
    blob = blob[:delta] if delta < 0 else blob + b"\x00" * delta
    path = tmp_path / "mismatch.gz"
    path.write_bytes(gzip.compress(blob))
    with pytest.raises(DatasetError, match="count mismatch") as info:
        read_idx_images(path)
    assert str(path) in str(info.value)


def test_bad_image_dims_names_the_file(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "small.gz", np.zeros((2, 27, 28), dtype=np.uint8))
    with pytest.raises(DatasetError, match="bad dims") as info:
        read_idx_images(path)
    assert str(path) in str(info.value)


def test_label_out_of_range(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "labels.gz", np.array([1, 12], dtype=np.uint8))
    with pytest.raises(DatasetError, match="out of range"):
        read_idx_labels(path)


# --- registry and loading ---------------------------------------------------------------


def test_resolve_data_dir_argument_then_env_then_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv(DATA_ENV_VAR)
    assert resolve_data_dir(None) is None


def test_registry_has_official_names_and_checksums() -> None:
    for name in ("mnist", "fashion-mnist"):
        spec = datasets.get_dataset(name)
        assert [f.name for f in spec.files] == [
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ]
        for f in spec.files:
            assert len(f.sha256) == 64 and len(f.md5) == 32 and f.size > 0
        assert spec.base_url.startswith("http")
    with pytest.raises(ValueError, match="cifar"):
        datasets.get_dataset("cifar")


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_embedded_subset_holds_500_test_images(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    images, labels, source = load_dataset(name)
    assert images.shape == (500, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (500,) and labels.dtype == np.uint8
    assert set(np.unique(labels)) == set(range(10))
    assert "embedded" in source
    with np.load(embedded_subset_path(name)) as npz:
        assert '"count": 500' in str(npz["metadata"])
    part, part_labels, _ = load_dataset(name, start=100, count=50)
    np.testing.assert_array_equal(part, images[100:150])
    np.testing.assert_array_equal(part_labels, labels[100:150])


def test_embedded_subset_refuses_more_than_500(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    with pytest.raises(DatasetError, match=DATA_ENV_VAR):
        load_dataset("mnist", count=501)
    with pytest.raises(DatasetError, match="--data-dir"):
        load_dataset("mnist", start=600, count=1)
    with pytest.raises(DatasetError, match=DATA_ENV_VAR):
        load_dataset("mnist", split="train")


@needs_real_data
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_embedded_subset_matches_official_t10k_files(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    images, labels, _ = load_dataset(name)
    real_images, real_labels, source = load_dataset(name, data_dir=REAL_DATA, count=500)
    assert "t10k-images-idx3-ubyte.gz" in source
    np.testing.assert_array_equal(images, real_images)
    np.testing.assert_array_equal(labels, real_labels)


def test_load_from_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx(folder / "t10k-images-idx3-ubyte.gz", _images(12))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", _labels(12))
    images, labels, source = load_dataset("mnist", data_dir=tmp_path, start=2, count=5)
    np.testing.assert_array_equal(images, _images(12)[2:7])
    np.testing.assert_array_equal(labels, _labels(12)[2:7])
    assert str(folder) in source
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    assert load_dataset("mnist")[0].shape == (12, 28, 28)


def test_load_from_data_dir_with_missing_files_says_how_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="archsim data fetch mnist") as info:
        load_dataset("mnist", data_dir=tmp_path)
    assert str(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz") in str(info.value)


def test_load_from_data_dir_image_label_count_mismatch(tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx(folder / "t10k-images-idx3-ubyte.gz", _images(4))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", _labels(5))
    with pytest.raises(DatasetError, match="count mismatch"):
        load_dataset("mnist", data_dir=tmp_path)


# --- fetch against a local HTTP server ----------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        super().do_GET()


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """A local HTTP server on 127.0.0.1 (ephemeral port) serving ``tmp_path/www``."""
    root = tmp_path / "www"
    root.mkdir()
    handler_cls = type("Handler", (_QuietHandler,), {"requests": []})
    handler = functools.partial(handler_cls, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root, handler_cls.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _fake_dataset(root: Path, monkeypatch: pytest.MonkeyPatch) -> DatasetSpec:
    """Write four small IDX files under ``root`` and register them as data set 'mnist'."""
    blobs = {
        "train-images-idx3-ubyte.gz": _images(6, 1),
        "train-labels-idx1-ubyte.gz": _labels(6, 1),
        "t10k-images-idx3-ubyte.gz": _images(4, 2),
        "t10k-labels-idx1-ubyte.gz": _labels(4, 2),
    }
    specs = []
    for name, arr in blobs.items():
        data = write_idx(root / name, arr).read_bytes()
        specs.append(
            FileSpec(
                name, len(data), hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
            )
        )
    spec = DatasetSpec("mnist", "http://127.0.0.1:9/unused/", *specs, citation="fake")
    monkeypatch.setitem(datasets.DATASETS, "mnist", spec)
    return spec


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or "part" in p.name)


def test_fetch_downloads_and_verifies(
    tmp_path: Path, http_server: tuple[str, Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, www, requests = http_server
    spec = _fake_dataset(www, monkeypatch)
    dest = tmp_path / "data"
    paths = fetch_dataset("mnist", dest, base_url=base_url, timeout=10, allow_http=True)
    assert [p.name for p in paths] == [f.name for f in spec.files]
    for path, file in zip(paths, spec.files, strict=True):
        assert path.read_bytes() == (www / file.name).read_bytes()
    assert _leftovers(dest / "mnist") == []
    images, labels, _ = load_dataset("mnist", data_dir=dest)
    np.testing.assert_array_equal(images, _images(4, 2))
    np.testing.assert_array_equal(labels, _labels(4, 2))
    # a second fetch finds the verified files and downloads nothing
    n_requests = len(requests)
    fetch_dataset("mnist", dest, base_url=base_url, timeout=10, allow_http=True)
    assert len(requests) == n_requests


def test_fetch_rejects_corrupted_file_and_leaves_nothing(
    tmp_path: Path, http_server: tuple[str, Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, www, _ = http_server
    _fake_dataset(www, monkeypatch)
    bad = www / "t10k-images-idx3-ubyte.gz"
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, wrong checksum
    bad.write_bytes(bytes(data))
    dest = tmp_path / "data"
    with pytest.raises(DatasetError, match="sha256") as info:
        fetch_dataset("mnist", dest, base_url=base_url, timeout=10, allow_http=True)
    target = dest / "mnist" / "t10k-images-idx3-ubyte.gz"
    assert str(target) in str(info.value)
    assert not target.exists()
    assert _leftovers(dest / "mnist") == []
    # the files before the bad one were verified and kept
    assert (dest / "mnist" / "train-images-idx3-ubyte.gz").is_file()


def test_fetch_rejects_truncated_file(
    tmp_path: Path, http_server: tuple[str, Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, www, _ = http_server
    _fake_dataset(www, monkeypatch)
    bad = www / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-3])
    dest = tmp_path / "data"
    with pytest.raises(DatasetError, match="bytes"):
        fetch_dataset("mnist", dest, base_url=base_url, timeout=10, allow_http=True)
    assert not (dest / "mnist" / "train-labels-idx1-ubyte.gz").exists()
    assert _leftovers(dest / "mnist") == []


def test_fetch_replaces_a_corrupted_local_copy(
    tmp_path: Path, http_server: tuple[str, Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, www, _ = http_server
    _fake_dataset(www, monkeypatch)
    target = tmp_path / "data" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"garbage")
    fetch_dataset("mnist", tmp_path / "data", base_url=base_url, timeout=10, allow_http=True)
    assert target.read_bytes() == (www / target.name).read_bytes()


def test_fetch_main_exit_codes(
    tmp_path: Path,
    http_server: tuple[str, Path, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base_url, www, _ = http_server
    _fake_dataset(www, monkeypatch)
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    assert fetch_main("mnist", None, base_url, allow_http=True) == 2
    assert "--dir" in capsys.readouterr().err
    assert fetch_main("mnist", str(tmp_path / "d"), base_url, allow_http=True) == 0
    assert "verified" in capsys.readouterr().err
    (www / "t10k-images-idx3-ubyte.gz").unlink()
    assert fetch_main("mnist", str(tmp_path / "e"), base_url, allow_http=True) == 1
    assert "t10k-images-idx3-ubyte.gz" in capsys.readouterr().err


@needs_real_data
def test_fetch_real_mnist_files_from_local_server(
    tmp_path: Path, http_server: tuple[str, Path, list[str]]
) -> None:
    base_url, www, _ = http_server
    spec = datasets.get_dataset("mnist")
    for file in spec.files:
        os.symlink(Path(REAL_DATA) / "mnist" / file.name, www / file.name)
    paths = fetch_dataset("mnist", tmp_path / "data", base_url=base_url, timeout=30,
                          allow_http=True)
    assert [p.stat().st_size for p in paths] == [f.size for f in spec.files]
    images, labels, _ = load_dataset("mnist", "train", data_dir=tmp_path / "data")
    assert images.shape == (60000, 28, 28) and labels.shape == (60000,)
