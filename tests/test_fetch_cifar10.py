"""``archsim data fetch``: an overall deadline, https by default, accurate help; CIFAR-10
from a local server serving a small archive in the official format (made here), its
conversion (no pickle reaches the run-time loader) and the CIFAR-10 data set in a design."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import pickle
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from archsim.cli import _parser, main
from archsim.nn import datasets
from archsim.nn.cifar10 import IMAGE_SHAPE, load_cifar10, read_batch
from archsim.nn.datasets import ArchiveSpec, FileSpec, load_dataset
from archsim.nn.errors import DatasetError
from archsim.nn.fetch import check_url, fetch_dataset, fetch_main

ROOT = Path(__file__).resolve().parents[1]
CNN32 = ROOT / "arch_configs" / "sc_stream" / "cnn32_dwm_sn64.yaml"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class _Trickle(http.server.BaseHTTPRequestHandler):
    """Headers at once, then one body byte every 2 s (a slow-loris server)."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(1000):
            try:
                self.wfile.write(b"x")
                self.wfile.flush()
            except OSError:
                return
            time.sleep(2.0)

    def log_message(self, *args) -> None:
        pass


class _TrickleHeaders(http.server.BaseHTTPRequestHandler):
    """The status line and headers one byte every 2 s."""

    def do_GET(self) -> None:
        for ch in b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-Slow: " + b"y" * 1000:
            try:
                self.wfile.write(bytes([ch]))
                self.wfile.flush()
            except OSError:
                return
            time.sleep(2.0)

    def log_message(self, *args) -> None:
        pass


def _serve(handler) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def www(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    yield from ((url, root) for url in _serve(functools.partial(_Quiet, directory=str(root))))


def _batch(n: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).tolist()
    blob = pickle.dumps({b"batch_label": b"testing batch", b"labels": labels, b"data": data,
                         b"filenames": [f"img{i}.png".encode() for i in range(n)]}, protocol=2)
    return blob, data.reshape(n, *IMAGE_SHAPE), np.asarray(labels, dtype=np.uint8)


def _archive(path: Path, n: int = 4) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A cifar-10-python.tar.gz laid out as the official one, with n images per batch."""
    want: dict[str, list] = {"train": [], "test": []}
    with tarfile.open(path, "w:gz") as tar:
        members = [(f"data_batch_{i}", "train") for i in range(1, 6)] + [("test_batch", "test")]
        for seed, (name, split) in enumerate(members):
            blob, images, labels = _batch(n, seed)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
            want[split].append((images, labels))
        meta = pickle.dumps({b"label_names": [b"airplane"] * 10}, protocol=2)
        info = tarfile.TarInfo("cifar-10-batches-py/batches.meta")
        info.size = len(meta)
        tar.addfile(info, io.BytesIO(meta))
    return {s: (np.concatenate([a for a, _ in v]), np.concatenate([b for _, b in v]))
            for s, v in want.items()}


def _register(path: Path, monkeypatch) -> None:
    data = path.read_bytes()
    spec = datasets.DATASETS["cifar10"]
    assert isinstance(spec, ArchiveSpec)
    fake = ArchiveSpec(spec.name, "https://127.0.0.1:9/unused/",
                       FileSpec(spec.archive.name, len(data), hashlib.sha256(data).hexdigest(),
                                hashlib.md5(data).hexdigest()),
                       spec.citation, spec.shape, spec.after_fetch)
    monkeypatch.setitem(datasets.DATASETS, "cifar10", fake)


# ---------------------------------------------------------------------- the official entry
def test_the_registry_holds_the_official_cifar10_archive():
    spec = datasets.DATASETS["cifar10"]
    assert isinstance(spec, ArchiveSpec)
    assert spec.url(spec.archive) == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert spec.archive.sha256 == (
        "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce")
    assert spec.archive.md5 == "c58f30108f718f92721af3b95e74349a"
    assert spec.archive.size == 170498071
    assert datasets.image_shape("cifar10") == (3, 32, 32)
    for name in ("mnist", "fashion-mnist", "cifar10"):  # every default location is https
        s = datasets.DATASETS[name]
        assert all(s.url(f).startswith("https://") for f in s.files)


# ---------------------------------------------------------------------- fetch + convert
def test_fetch_cifar10_from_a_local_server_converts_and_loads(tmp_path, www, monkeypatch):
    url, root = www
    want = _archive(root / "cifar-10-python.tar.gz")
    _register(root / "cifar-10-python.tar.gz", monkeypatch)
    dest = tmp_path / "data"
    assert fetch_main("cifar10", str(dest), url, allow_http=True) == 0
    folder = dest / "cifar10"
    assert sorted(p.name for p in folder.iterdir()) == [
        "cifar-10-python.tar.gz", "test.npz", "train.npz"]  # nothing else, no temporaries
    for split, (images, labels) in want.items():
        got_i, got_l, source = load_cifar10(folder, split)
        np.testing.assert_array_equal(got_i, images)
        np.testing.assert_array_equal(got_l, labels)
        assert split in source
    images, labels, _ = load_dataset("cifar10", data_dir=dest, start=1, count=2)
    np.testing.assert_array_equal(images, want["test"][0][1:3])
    assert images.shape == (2, 3, 32, 32)
    # the loader reads no pickle: the .npz has no object arrays
    with np.load(folder / "test.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["images", "labels", "metadata"]


def test_a_cifar10_design_runs_on_the_fetched_images(tmp_path, www, monkeypatch, capsys):
    url, root = www
    _archive(root / "cifar-10-python.tar.gz")
    _register(root / "cifar-10-python.tar.gz", monkeypatch)
    dest = tmp_path / "data"
    assert fetch_main("cifar10", str(dest), url, allow_http=True) == 0
    out = tmp_path / "run"
    rc = main(["run", str(CNN32), "--set", "dataset.name=cifar10", "--images", "2",
               "--data-dir", str(dest), "--out", str(out), "--quiet", "--jobs", "1"])
    assert rc == 0, capsys.readouterr().err
    acc = (out / "accuracy.csv").read_text()
    assert "label" in acc.splitlines()[0]
    # without the files: a clear error, exit 2, nothing written
    out2 = tmp_path / "run2"
    rc = main(["run", str(CNN32), "--set", "dataset.name=cifar10", "--images", "2",
               "--data-dir", str(tmp_path / "empty"), "--out", str(out2), "--quiet"])
    assert rc == 2 and "archsim data fetch cifar10" in capsys.readouterr().err
    assert not out2.exists()
    # a 28x28 design refuses CIFAR-10 images at validation
    rc = main(["validate", str(ROOT / "arch_configs" / "dwcnn" / "small_conv_fc.yaml"),
               "--set", "dataset.name=cifar10"])
    assert rc == 2


def test_a_wrong_archive_is_rejected_and_leaves_nothing(tmp_path, www, monkeypatch):
    url, root = www
    _archive(root / "cifar-10-python.tar.gz")
    _register(root / "cifar-10-python.tar.gz", monkeypatch)
    (root / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b" + b"0" * 100)  # another file
    dest = tmp_path / "data"
    with pytest.raises(DatasetError, match="bytes|sha256"):
        fetch_dataset("cifar10", dest, base_url=url, allow_http=True, timeout=10)
    assert list((dest / "cifar10").iterdir()) == []


def test_a_batch_with_a_foreign_global_is_refused():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    blob = pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2)
    with pytest.raises(DatasetError, match="not allowed"):
        read_batch(blob, "x")


# ---------------------------------------------------------------------- network limits
def test_a_trickling_server_is_stopped_at_the_deadline(tmp_path, monkeypatch):
    spec = datasets.DATASETS["cifar10"]
    fake = ArchiveSpec(spec.name, "https://127.0.0.1:9/", FileSpec(spec.archive.name, 1000,
                       "0" * 64, "0" * 32), spec.citation, spec.shape, None)
    monkeypatch.setitem(datasets.DATASETS, "cifar10", fake)
    for handler in (_Trickle, _TrickleHeaders):
        for url in _serve(handler):
            t0 = time.monotonic()
            with pytest.raises(DatasetError, match="deadline"):
                fetch_dataset("cifar10", tmp_path / handler.__name__, base_url=url,
                              allow_http=True, timeout=30, deadline_s=3.0)
            assert time.monotonic() - t0 < 8.0
            assert list((tmp_path / handler.__name__ / "cifar10").iterdir()) == []


def test_plain_http_needs_the_explicit_option(tmp_path, www, capsys, monkeypatch):
    url, _ = www
    monkeypatch.delenv("ARCHSIM_DATA", raising=False)
    assert url.startswith("http://")
    with pytest.raises(DatasetError, match="allow-http"):
        check_url(url + "x.gz")
    rc = main(["data", "fetch", "mnist", "--dir", str(tmp_path / "d"), "--base-url", url])
    assert rc == 2 and "--allow-http" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()  # refused before anything was made
    for bad in ("file:///etc/passwd", "ftp://x/y", "https:///nohost"):
        with pytest.raises(DatasetError):
            check_url(bad, allow_http=True)


def test_dir_help_names_the_real_default(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["data", "fetch", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "./data" not in text
    assert "$ARCHSIM_DATA" in text and "nothing is fetched" in text
    monkeypatch.delenv("ARCHSIM_DATA", raising=False)
    assert main(["data", "fetch", "cifar10"]) == 2
    assert "--dir" in capsys.readouterr().err
