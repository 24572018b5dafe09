"""Values ``validate`` used to accept that crashed, hung or exhausted memory in ``run``
(issue 20, class 4), malformed model and data files (classes 3 and 4), weights the SC fabric
clipped silently and CLI numbers that ran nothing (class 5).

Each case reproduces a failure of the code before the fix: a traceback, a run that never
ends, gigabytes allocated, or exit 0 for a result that is wrong; now ``validate`` refuses it
with a ConfigError (exit 2) naming the file, the key path or array, and the value.
"""

from __future__ import annotations

import gzip
import io
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from archsim.config import ConfigError, load_config
from archsim.config.validate_cli import validate_main
from archsim.fabrics.sc_stream.budget import LIMIT_ENV, memory_terms
from archsim.fabrics.sc_stream.elaborate import network_spec
from archsim.nn.errors import DatasetError
from archsim.nn.idx import IMAGES_MAGIC, MAX_IDX_BYTES, read_idx, read_idx_images, write_idx
from archsim.resources import configs_dir
from archsim.workload.npz import MAX_ARRAY_BYTES

DESIGN = """\
name: limits
include: builtin:tech/generic45.yaml
clock: 200 MHz
dataset: {name: random, images: 1}
stream: {length: 64}
memories:
  dwm0: {kind: dwm, domains: 64, ports: 1}
  mram0: {kind: stt_mram}
layers:
  - {name: conv1, kind: conv, in_channels: 1, in_size: 8, filters: 2, kernel: 3, pool: 2,
     weights: {memory: dwm0, format: stochastic, length: 16}, sharing: filter,
     pool_segment: 8}
  - {name: fc1, kind: fc, inputs: 18, outputs: 4, activation: none,
     weights: {memory: mram0, format: stochastic, length: 16}}
"""


@pytest.fixture()
def design(tmp_path) -> Path:
    path = tmp_path / "limits.yaml"
    path.write_text(DESIGN, encoding="utf-8")
    return path


def _validate(path: Path, *overrides: str, capsys=None) -> str:
    """``archsim validate`` in this process: exit 2 and the message."""
    t0 = time.perf_counter()
    code = validate_main(str(path), list(overrides))
    assert time.perf_counter() - t0 < 30
    assert code == 2
    assert capsys is not None
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return err


def test_the_design_validates(design):
    assert validate_main(str(design)) == 0


@pytest.mark.parametrize("override,key", [
    ("stream.rng.width=28", "stream.rng.width"),
    ("stream.rng.width=32", "stream.rng.width"),
    ("stream.rng.kind=sobol", None),  # a valid choice: the default width stays small
])
def test_rng_width_that_needs_gigabytes_is_refused(design, capsys, override, key):
    if key is None:
        assert validate_main(str(design), [override]) == 0
        return
    err = _validate(design, override, capsys=capsys)
    assert key in err and "GiB" in err and LIMIT_ENV in err


def test_binary_weight_rng_width_counts_too(design, capsys):
    err = _validate(design, "layers.conv1.weights={memory: dwm0, format: binary, bits: 7, "
                    "rng: {width: 30}}", capsys=capsys)
    assert "layers[0].weights.rng.width" in err


@pytest.mark.parametrize("override", [
    "layers.fc1.outputs=200000",  # per-cycle outputs of a huge layer
    "stream.length=65536",  # fine on its own ...
])
def test_layer_sizes_that_need_tens_of_gigabytes(design, capsys, override):
    if override.startswith("stream"):
        assert validate_main(str(design), [override]) == 0
        big = ["stream.length=65536", "layers.conv1.in_size=2048",
               "layers.fc1.inputs=2093058"]  # ... but not with a 2048 x 2048 input
        err = _validate(design, *big, capsys=capsys)
        assert "GiB" in err
        return
    err = _validate(design, override, "stream.length=65536", capsys=capsys)
    assert "layers[1].outputs" in err


def test_limit_env_raises_the_limit(design, monkeypatch):
    cfg = load_config(design, ["stream.rng.width=27"])
    with pytest.raises(ConfigError):
        network_spec(cfg)
    monkeypatch.setenv(LIMIT_ENV, "8")
    assert network_spec(cfg).input_rng.width == 27


def test_the_estimate_bounds_the_shipped_designs():
    """Every shipped design passes; LeNet-5 at 1,024-bit streams is estimated well below 1 GiB
    (measured peak RSS ~0.15 GB, docs/config.md)."""
    for name in ("dwcnn/lenet5_dwm_sn128_fc-shared.yaml", "dwcnn/lenet5_dwm_bin7_fc-unshared.yaml",
                 "sc_stream/cnn32_dwm_sn64.yaml", "dwcnn/small_conv_fc.yaml"):
        spec = network_spec(load_config(configs_dir() / name))
        assert sum(t.bytes for t in memory_terms(spec)) < 1024**3


@pytest.mark.parametrize("override,key", [
    ("memories.dwm0.domains=1073741824", "memories.dwm0.domains"),
    ("memories.dwm0.ports=1048576", "memories.dwm0.ports"),
    ("layers.conv1.pipeline_depth=9223372036854775808", "layers[0].pipeline_depth"),
    ("layers.conv1.pipeline_depth=100000000", "layers[0].pipeline_depth"),
    ("memories.dwm0.power_cycles=1", "memories.dwm0.power_cycles"),
    ("layers.conv1.btanh.r=4294967296", "layers[0].btanh.r"),
    ("seed=18446744073709551616", "seed"),
])
def test_unbounded_integers_are_bounded(design, capsys, override, key):
    err = _validate(design, override, capsys=capsys)
    assert key in err


@pytest.mark.parametrize("s", ["100", "1e6", "1e-9", "1e-300"])
def test_btanh_gain_out_of_the_counter_range_is_refused(design, capsys, s):
    err = _validate(design, f"layers.conv1.btanh.s={s}", capsys=capsys)
    assert "layers[0].btanh.s" in err


def test_lfsr_taps_without_the_width_bit_are_refused(design, capsys):
    err = _validate(design, "stream.rng.taps=[5, 3]", capsys=capsys)
    assert "stream.rng.taps" in err and "width 6" in err
    assert validate_main(str(design), ["stream.rng.taps=[6, 5]"]) == 0


@pytest.mark.parametrize("override", [
    "layers.conv1.output_flip=1e-50",
    "memories.mram0.read_error=1e-50",
    "layers.conv1.output_flip=1e-19",
])
def test_tiny_fault_probabilities_finish(design, tmp_path, override):
    """These looped for ever: numpy's geometric draws saturate at 2**63 - 1 for p below
    ~1e-19 and the running sum of gaps wrapped negative."""
    proc = subprocess.run([sys.executable, "-m", "archsim", "run", str(design), "--set", override,
                           "--images", "2", "--jobs", "1", "--quiet", "--out",
                           str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "run" / "summary.json").is_file()


def test_bernoulli_mask_tiny_p_is_empty_and_fast():
    from archsim.blocks.bit_errors import bernoulli_mask

    t0 = time.perf_counter()
    for p in (1e-50, 1e-300, 5e-324):
        assert not bernoulli_mask(64, 1024, p, 1, "t").any()
    assert time.perf_counter() - t0 < 5


# --------------------------------------------------------------------------------------------
# model files (.npz)
# --------------------------------------------------------------------------------------------


def _good_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"conv1_w": rng.uniform(-0.5, 0.5, (2, 1, 3, 3)), "conv1_b": np.zeros(2),
            "fc1_w": rng.uniform(-0.5, 0.5, (4, 18)), "fc1_b": np.zeros(4)}


def _write_model(path: Path, **changes) -> Path:
    arrays = _good_arrays()
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    np.savez_compressed(path, **arrays)
    return path


def _model_cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (model file, fragment the error must contain)"""
    d = tmp_path / "models"
    d.mkdir()
    cases: dict[str, tuple[Path, str]] = {}
    (d / "empty.npz").write_bytes(b"")
    cases["empty"] = (d / "empty.npz", "empty.npz")
    good = _write_model(d / "good.npz")
    (d / "truncated.npz").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases["truncated"] = (d / "truncated.npz", "truncated.npz")
    (d / "notzip.npz").write_text("conv1_w = [1, 2, 3]\n", encoding="utf-8")
    cases["not a zip"] = (d / "notzip.npz", "notzip.npz")
    with zipfile.ZipFile(d / "emptyzip.npz", "w"):
        pass
    cases["empty zip"] = (d / "emptyzip.npz", "empty")
    obj = np.empty(2, dtype=object)
    obj[:] = [1, "x"]
    np.savez(d / "object.npz", **{**_good_arrays(), "conv1_b": obj})
    cases["object array"] = (d / "object.npz", "conv1_b")
    cases["string array"] = (_write_model(d / "string.npz", conv1_b=np.array(["a", "b"])),
                             "conv1_b")
    cases["bad metadata"] = (_write_model(d / "meta.npz", metadata=np.array("{not json")),
                             "metadata")
    cases["metadata not a string"] = (_write_model(d / "meta2.npz", metadata=np.arange(3)),
                                      "metadata")
    cases["wrong shape"] = (_write_model(d / "shape.npz", fc1_w=np.zeros((4, 17))), "fc1_w")
    cases["missing array"] = (_write_model(d / "missing.npz", fc1_b=None), "fc1_b")
    nan = _good_arrays()["conv1_w"].copy()
    nan[1, 0, 2, 2] = np.nan
    cases["nan"] = (_write_model(d / "nan.npz", conv1_w=nan), "conv1_w")
    inf = _good_arrays()["fc1_w"].copy()
    inf[0, 3] = np.inf
    cases["inf"] = (_write_model(d / "inf.npz", fc1_w=inf), "fc1_w")
    big = _good_arrays()["fc1_w"].copy()
    big[2, 5] = 3.5
    cases["outside [-1, 1]"] = (_write_model(d / "range.npz", fc1_w=big), "fc1_w")
    cases["complex"] = (_write_model(d / "complex.npz", fc1_b=np.zeros(4, complex)), "fc1_b")
    # a header claiming far more data than the member holds (allocation bomb)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False,
                                               "shape": (1 << 40,)})
    with zipfile.ZipFile(d / "liar.npz", "w") as zf:
        for k, v in _good_arrays().items():
            if k == "fc1_b":
                continue
            with zf.open(f"{k}.npy", "w") as fh:
                np.lib.format.write_array(fh, v)
        zf.writestr("fc1_b.npy", buf.getvalue() + b"\0" * 32)
    cases["lying header"] = (d / "liar.npz", "fc1_b")
    # a compressed member that inflates past the limit
    with zipfile.ZipFile(d / "bomb.npz", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("fc1_b.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": "|u1", "fortran_order": False, "shape": (MAX_ARRAY_BYTES + 1,)})
            chunk = b"\0" * (1 << 24)
            for _ in range((MAX_ARRAY_BYTES + 1) // len(chunk) + 1):
                fh.write(chunk)
    assert (d / "bomb.npz").stat().st_size < 4 * 1024**2
    cases["deflate bomb"] = (d / "bomb.npz", "fc1_b")
    return cases


def test_malformed_model_files_are_config_errors(design, tmp_path, capsys):
    for name, (model, fragment) in _model_cases(tmp_path).items():
        t0 = time.perf_counter()
        code = validate_main(str(design), [f"model.weights={model}"])
        out, err = capsys.readouterr()
        assert code == 2, (name, out, err)
        assert "Traceback" not in err, name
        assert model.name in err or "limits.yaml" in err, (name, err)
        assert fragment in err, (name, err)
        assert time.perf_counter() - t0 < 30, name


def test_weights_outside_the_range_clip_only_when_asked(design, tmp_path):
    big = _good_arrays()["fc1_w"].copy()
    big[2, 5] = 3.5
    model = _write_model(tmp_path / "range.npz", fc1_w=big)
    from archsim.fabrics.sc_stream.elaborate import model_weights

    cfg = load_config(design, [f"model.weights={model}"])
    with pytest.raises(ConfigError) as info:
        model_weights(cfg, network_spec(cfg))
    assert info.value.key_path == "fc1_w" and "3.5" in str(info.value)
    cfg = load_config(design, [f"model.weights={model}", "model.clip=true"])
    weights, meta = model_weights(cfg, network_spec(cfg))
    assert weights["fc1"][0].max() == 1.0 and meta["clipped_on_load"] == 1


# --------------------------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------------------------


def _idx_header(dims: tuple[int, ...]) -> bytes:
    return struct.pack(">I", (0x08 << 8) | len(dims)) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize("dims,payload", [
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), 16),  # product overflows int64
    ((1 << 31, 1 << 31, 4), 0),  # product 2**64: wrapped to 0 in int64, "matched" no payload
    ((10, 28, 28), 100),  # fewer bytes than the header says
    ((1, 28, 28), 784 + 5),  # more bytes
])
def test_idx_headers_that_do_not_match_are_data_errors(tmp_path, dims, payload):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(_idx_header(dims) + b"\0" * payload)
    with pytest.raises(DatasetError) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_gzip_bomb_is_refused_without_inflating(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=9) as gz:
        gz.write(_idx_header((400_000, 28, 28)))
        chunk = b"\0" * (1 << 24)
        for _ in range(MAX_IDX_BYTES // len(chunk) + 2):
            gz.write(chunk)
    assert path.stat().st_size < 2 * 1024**2
    t0 = time.perf_counter()
    with pytest.raises(DatasetError) as info:
        read_idx_images(path)
    assert "decompresses to more than" in str(info.value)
    assert time.perf_counter() - t0 < 30


def test_idx_fifo_and_directory_are_data_errors(tmp_path):
    import os

    (tmp_path / "dir").mkdir()
    with pytest.raises(DatasetError):
        read_idx(tmp_path / "dir")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(DatasetError):
        read_idx(tmp_path / "fifo")


def test_a_good_idx_file_still_reads(tmp_path):
    a = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    path = write_idx(tmp_path / "x-idx3-ubyte.gz", a)
    assert (read_idx(path, IMAGES_MAGIC) == a).all()


# --------------------------------------------------------------------------------------------
# CLI numbers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["run", "{d}", "--images", "0"],
    ["run", "{d}", "--images", "-3"],
    ["run", "{d}", "--start", "-1"],
    ["run", "{d}", "--seed", "-5"],
    ["run", "{d}", "--jobs", "0"],
    ["run", "{d}", "--probe-images", "0"],
    ["validate", "{d}", "--images", "0"],
    ["sweep", "{d}", "--images", "-1"],
    ["reproduce", "dwcnn", "--images", "0"],
    ["reproduce", "dwcnn", "--hw-images", "-2"],
])
def test_cli_numbers_out_of_range_exit_2_and_write_nothing(design, tmp_path, argv):
    out = tmp_path / "out"
    argv = [a.format(d=design) for a in argv]
    if argv[0] in ("run", "sweep", "reproduce"):
        argv += ["--out", str(out)]
    proc = subprocess.run([sys.executable, "-m", "archsim", *argv], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "expected" in proc.stderr
    assert not out.exists() and not (tmp_path / "traces").exists()
