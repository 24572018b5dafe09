"""Property-based fuzzing of every input archsim reads (issue 20): design files and their
includes, sweep files, model files (.npz) and IDX data files.

The property, for every generated input: ``archsim`` exits 0 with finite results, or exits 2
with a message that names the file (or the override) at fault -- never a traceback, never a
hang past the per-example deadline, never more than 2 GB (:mod:`harness` runs each example in
a sandboxed worker process).

The default test run does a few dozen examples of each kind (a few seconds).  The long run::

    ARCHSIM_FUZZ_EXAMPLES=20000 ARCHSIM_FUZZ_RUNS=2000 nice -n 10 pytest -m fuzz_long tests/fuzz

does 20,000 loader examples (designs, includes, overrides, sweeps, models, IDX files) and
2,000 full runs of mutated small designs, and prints the counts of each outcome.
"""

from __future__ import annotations

import collections
import gzip
import io
import json
import os
import struct
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Worker, encode, problem  # noqa: E402

SHORT = 15
LONG_LOADER = int(os.environ.get("ARCHSIM_FUZZ_EXAMPLES", "20000"))
LONG_RUNS = int(os.environ.get("ARCHSIM_FUZZ_RUNS", "2000"))

DESIGN = """\
name: fuzzed
include: builtin:tech/generic45.yaml
clock: 200 MHz
seed: 1
dataset: {name: random, images: 1}
stream: {length: 32}
memories:
  dwm0: {kind: dwm, domains: 64, ports: 1}
  sram0: {kind: sram}
  mram0: {kind: stt_mram}
layers:
  - {name: conv1, kind: conv, in_channels: 1, in_size: 8, filters: 2, kernel: 3, pool: 2,
     weights: {memory: dwm0, format: stochastic, length: 16}, sharing: filter,
     pool_segment: 8}
  - {name: fc1, kind: fc, inputs: 18, outputs: 4, activation: none,
     weights: {memory: sram0, format: stochastic, length: 16}}
"""

OUTCOMES: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()
    print("\nfuzz outcomes:", dict(OUTCOMES))
    log = os.environ.get("ARCHSIM_FUZZ_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write("final " + json.dumps(dict(OUTCOMES)) + "\n")


def _check(worker: Worker, task: dict, names: list[str], label: str) -> None:
    reply = worker.run(task)
    OUTCOMES[f"{label}: exit {reply['exit']}"] += 1
    log = os.environ.get("ARCHSIM_FUZZ_LOG")
    if log and sum(OUTCOMES.values()) % 200 == 0:  # progress of a long run
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps(dict(OUTCOMES)) + "\n")
    bad = problem(reply, names)
    assert bad is None, f"{label}: {bad}\n task: {json.dumps(task)[:3000]}"


def _settings(n: int) -> settings:
    return settings(max_examples=n, deadline=None, database=None, derandomize=False,
                    suppress_health_check=list(HealthCheck))


def _fuzz(worker: Worker, make_task: Callable[[st.DataObject], tuple[dict, list[str]]],
          label: str, examples: int) -> None:
    """Run ``examples`` tasks drawn by ``make_task`` in the sandboxed worker, each checked by
    :func:`_check` under ``label``."""
    @given(st.data())
    @_settings(examples)
    def inner(data: st.DataObject) -> None:
        task, names = make_task(data)
        _check(worker, task, names, label)

    inner()


# --------------------------------------------------------------------------------------------
# values and documents
# --------------------------------------------------------------------------------------------

KEYS = [
    "clock", "seed", "name", "description", "fabric", "dataset.images", "dataset.start",
    "dataset.name", "stream.length", "stream.rng.width", "stream.rng.kind", "stream.rng.taps",
    "stream.rng.seed", "stream.rng.share", "stream.comparator", "memories.dwm0.domains",
    "memories.dwm0.ports", "memories.dwm0.rw_ports", "memories.dwm0.word_tracks",
    "memories.dwm0.shift_latency", "memories.dwm0.read_energy_per_bit",
    "memories.dwm0.misalignment.probability", "memories.dwm0.misalignment.edge",
    "memories.sram0.power_cycles", "memories.mram0.read_error", "memories.sram0.cell_area",
    "layers.conv1.filters", "layers.conv1.kernel", "layers.conv1.in_size", "layers.conv1.pool",
    "layers.conv1.pool_segment", "layers.conv1.btanh.s", "layers.conv1.btanh.r",
    "layers.conv1.output_flip", "layers.conv1.pipeline_depth", "layers.conv1.stride",
    "layers.conv1.padding", "layers.conv1.weights.length", "layers.conv1.weights.format",
    "layers.conv1.weights.bits", "layers.conv1.weights.memory", "layers.conv1.sharing",
    "layers.fc1.inputs", "layers.fc1.outputs", "layers.fc1.mux_groups", "layers.fc1.mux_passes",
    "layers.fc1.counter", "layers.fc1.weights.memory", "model.weights", "model.clip",
    "technology.dwm.shift_latency", "technology.logic.xnor.energy", "include", "workload",
    "probes", "layers[5].name", "nosuchkey", "layers.conv1.nosuch",
]

SCALARS = st.one_of(
    st.integers(-2**70, 2**70),
    st.sampled_from([0, 1, -1, 2, 3, 7, 8, 16, 31, 32, 33, 64, 65536, 65537, 2**31, 2**63,
                     10**30, 10**40]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e-300, 5e-324, 1e-50, 1e-19, 0.5, 1.0, 1e30, 1e308]),
    st.text(max_size=30),
    st.sampled_from(["200 MHz", "1e400 MHz", "1e-30 MHz", "2 ns", "1e30 ns", "-1 ns", "0 ns",
                     "nan ns", "inf pJ", "0.6 pJ", "1e400 pJ", "3 um^2", "1 W", "5 kg",
                     "../../etc/passwd", "/proc/self/environ", "/dev/zero", "builtin:",
                     "builtin:../x", "builtin:lenet5_mnist", "random", "x.npz", "all",
                     ".inf", ".nan", "1e400", "-.inf", "~", "", "null", "true", "\x00",
                     "a/b", "..", "lfsr", "sobol", "counter", "binary", "stochastic",
                     "dwm0", "sram0", "mram0", "conv1.apc.count[0]", "filter", "none"]),
    st.booleans(),
    st.none(),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


def _yaml_value(v: object) -> str:
    return json.dumps(v, ensure_ascii=False, allow_nan=True).replace("NaN", ".nan") \
        .replace("-Infinity", "-.inf").replace("Infinity", ".inf")


def _override(key: str, value: object) -> str:
    return f"{key}={_yaml_value(value)}"


RAW_DOCS = st.one_of(
    st.binary(max_size=300).map(lambda b: b),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "replace")),
    st.integers(1, 12).map(lambda n: ("a: &a [" + ",".join(["x"] * 9) + "]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n"
        for i in range(n))).encode()),
    st.integers(1, 3000).map(lambda n: ("a: " + "[" * n + "]" * n + "\n").encode()),
    st.integers(1, 3000).map(lambda n: ("a: " + "{b: " * n + "1" + "}" * n + "\n").encode()),
    st.integers(1, 20000).map(lambda n: f"seed: {'9' * n}\n".encode()),
    st.just(b"p: &p [*p]\n"),
    st.just(DESIGN.encode().replace(b"clock", b"clo\x00ck")),
)


# --------------------------------------------------------------------------------------------
# the loader: designs, overrides, includes
# --------------------------------------------------------------------------------------------


def _design_task(data: st.DataObject) -> tuple[dict, list[str]]:
    kind = data.draw(st.sampled_from(["overrides", "raw", "include", "file-edit"]))
    files: dict[str, bytes | str] = {}
    argv = ["validate", "d.yaml"]
    names = ["d.yaml", "override"]
    symlinks: dict[str, str] = {}
    if kind == "overrides":
        files["d.yaml"] = DESIGN
        for _ in range(data.draw(st.integers(1, 3))):
            argv += ["--set", _override(data.draw(st.sampled_from(KEYS)), data.draw(VALUES))]
    elif kind == "raw":
        files["d.yaml"] = data.draw(RAW_DOCS)
    elif kind == "include":
        target = data.draw(st.sampled_from(["part.yaml", "../outside.yaml", "/proc/self/environ",
                                            "/dev/null", "loop.yaml", "sub", "missing.yaml",
                                            "builtin:tech/generic45.yaml", "builtin:nope",
                                            "self.yaml", "part.yaml"]))
        files["d.yaml"] = DESIGN.replace("include: builtin:tech/generic45.yaml",
                                         f"include: [builtin:tech/generic45.yaml, {target!r}]")
        files["part.yaml"] = data.draw(RAW_DOCS)
        files["../outside.yaml"] = "seed: 3\n"
        files["sub/x"] = "x"
        symlinks["loop.yaml"] = "loop2.yaml"
        symlinks["loop2.yaml"] = "loop.yaml"
        symlinks["self.yaml"] = "d.yaml"
        names += ["part.yaml", "outside.yaml", target.split("/")[-1]]
    else:  # a value written into the file itself
        key = data.draw(st.sampled_from(["clock", "seed", "stream", "layers", "memories",
                                         "dataset", "model", "technology", "name"]))
        value = data.draw(VALUES)
        lines = [ln for ln in DESIGN.splitlines() if not ln.startswith(f"{key}:")]
        files["d.yaml"] = "\n".join(lines) + f"\n{key}: {_yaml_value(value)}\n"
    # outside.yaml sits one folder up: the example folder's files live under work/
    files = {("work/" + k if not k.startswith("../") else k[3:]): v for k, v in files.items()}
    symlinks = {"work/" + k: v for k, v in symlinks.items()}
    argv[1] = "work/d.yaml"
    return {"kind": "cli", "argv": argv, "files": encode(files), "symlinks": symlinks,
            "deadline": 30}, names


@pytest.mark.parametrize("n", [SHORT])
def test_fuzz_loader_short(worker, n):
    _fuzz(worker, _design_task, "loader", n)


@pytest.mark.fuzz_long
def test_fuzz_loader_long(worker):
    _fuzz(worker, _design_task, "loader", LONG_LOADER * 6 // 10)


# --------------------------------------------------------------------------------------------
# sweep files
# --------------------------------------------------------------------------------------------


def _sweep_task(data: st.DataObject) -> tuple[dict, list[str]]:
    axes = {data.draw(st.sampled_from(KEYS)): data.draw(st.lists(VALUES, max_size=3))
            for _ in range(data.draw(st.integers(0, 2)))}
    doc = {"base": data.draw(st.sampled_from(["d.yaml", "../d.yaml", "/etc/passwd", "nope.yaml",
                                              "builtin:dwcnn/small_conv_fc.yaml", 3])),
           "axes": axes}
    for key in data.draw(st.lists(st.sampled_from(["name", "mode", "images", "seed", "bogus"]),
                                  max_size=3)):
        doc[key] = data.draw(VALUES)
    text = json.dumps(doc, allow_nan=True).replace("NaN", ".nan").replace("Infinity", ".inf")
    if data.draw(st.booleans()):
        text = data.draw(RAW_DOCS).decode("utf-8", "replace")
    files = {"work/d.yaml": DESIGN, "work/s.yaml": text, "d.yaml": DESIGN}
    return {"kind": "sweep", "argv": ["work/s.yaml"], "files": encode(files),
            "deadline": 60}, ["s.yaml", "d.yaml"]


def test_fuzz_sweep_short(worker):
    _fuzz(worker, _sweep_task, "sweep", SHORT)


@pytest.mark.fuzz_long
def test_fuzz_sweep_long(worker):
    _fuzz(worker, _sweep_task, "sweep", LONG_LOADER * 1 // 10)


# --------------------------------------------------------------------------------------------
# model files
# --------------------------------------------------------------------------------------------

SHAPES = {"conv1_w": (2, 1, 3, 3), "conv1_b": (2,), "fc1_w": (4, 18), "fc1_b": (4,)}
DTYPES = ["f8", "f4", "f2", "i8", "u1", "b1", "c16", "U3", "S2", "V4", "M8", "O"]


def _array(data: st.DataObject, shape: tuple[int, ...]) -> np.ndarray:
    how = data.draw(st.sampled_from(["good", "dtype", "shape", "special", "scalar"]))
    if how == "shape":
        shape = tuple(data.draw(st.lists(st.integers(0, 5), max_size=4)))
    if how == "scalar":
        return np.array(data.draw(SCALARS), dtype=object)
    dtype = data.draw(st.sampled_from(DTYPES)) if how == "dtype" else "f8"
    if dtype == "O":
        a = np.empty(shape, dtype=object)
        a.fill(data.draw(SCALARS))
        return a
    base = np.random.default_rng(data.draw(st.integers(0, 99))).uniform(-1.5, 1.5, shape)
    if how == "special":
        base.ravel()[data.draw(st.integers(0, max(0, base.size - 1)))] = data.draw(
            st.sampled_from([np.nan, np.inf, -np.inf, 1e308, 2.0, -1.0000001]))
    try:
        return base.astype(dtype)
    except (TypeError, ValueError):
        return base


def _npz_bytes(data: st.DataObject) -> bytes:
    arrays = {k: _array(data, s) for k, s in SHAPES.items()
              if data.draw(st.integers(0, 9)) > 0}
    if data.draw(st.booleans()):
        arrays["metadata"] = np.array(data.draw(st.sampled_from(
            ["{}", "{not json", "[1, 2]", '{"a": 1}', "", "null"])))
    buf = io.BytesIO()
    try:
        np.savez(buf, **arrays)
    except (ValueError, TypeError):
        np.savez(buf)
    blob = buf.getvalue()
    how = data.draw(st.sampled_from(["as is", "as is", "truncate", "flip", "empty", "junk",
                                     "lying header"]))
    if how == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob)))]
    elif how == "flip" and blob:
        i = data.draw(st.integers(0, len(blob) - 1))
        blob = blob[:i] + bytes([blob[i] ^ 0xFF]) + blob[i + 1:]
    elif how == "empty":
        blob = b""
    elif how == "junk":
        blob = data.draw(st.binary(max_size=200))
    elif how == "lying header":
        hdr = io.BytesIO()
        np.lib.format.write_array_header_1_0(hdr, {"descr": "<f8", "fortran_order": False,
                                                   "shape": (data.draw(st.integers(0, 2**50)),)})
        z = io.BytesIO()
        with zipfile.ZipFile(z, "w") as zf:
            zf.writestr("fc1_w.npy", hdr.getvalue() + b"\0" * data.draw(st.integers(0, 64)))
        blob = z.getvalue()
    return blob


def _model_task(data: st.DataObject) -> tuple[dict, list[str]]:
    files = {"work/d.yaml": DESIGN, "work/m.npz": _npz_bytes(data)}
    argv = ["validate", "work/d.yaml", "--set", "model.weights=m.npz"]
    if data.draw(st.booleans()):
        argv += ["--set", "model.clip=true"]
    return {"kind": "cli", "argv": argv, "files": encode(files), "deadline": 30}, \
        ["m.npz", "d.yaml"]


def test_fuzz_model_short(worker):
    _fuzz(worker, _model_task, "model", SHORT)


@pytest.mark.fuzz_long
def test_fuzz_model_long(worker):
    _fuzz(worker, _model_task, "model", LONG_LOADER * 2 // 10)


# --------------------------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------------------------


def _idx_bytes(data: st.DataObject, magic: int, item: tuple[int, ...]) -> bytes:
    how = data.draw(st.sampled_from(["good", "dims", "magic", "payload", "junk"]))
    n = data.draw(st.integers(0, 20))
    dims = (n, *item)
    if how == "dims":
        dims = tuple(data.draw(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=4)))
    if how == "magic":
        magic = data.draw(st.integers(0, 2**32 - 1))
    ndim = len(dims)
    head = struct.pack(">I", (magic & ~0xFF) | ndim if how != "magic" else magic)
    head += struct.pack(f">{ndim}I", *dims)
    size = int(np.prod(dims, dtype=object)) if how == "good" else data.draw(st.integers(0, 4000))
    body = head + b"\x01" * min(size, 10**6)
    if how == "junk":
        body = data.draw(st.binary(max_size=300))
    if data.draw(st.booleans()):
        body = gzip.compress(body)
        if data.draw(st.integers(0, 4)) == 0:
            body = body[: data.draw(st.integers(0, len(body)))]
    return body


def _idx_task(data: st.DataObject) -> tuple[dict, list[str]]:
    files = {"data/mnist/t10k-images-idx3-ubyte.gz": _idx_bytes(data, 0x803, (28, 28)),
             "data/mnist/t10k-labels-idx1-ubyte.gz": _idx_bytes(data, 0x801, ())}
    return {"kind": "idx", "files": encode(files), "deadline": 30}, \
        ["idx3-ubyte", "idx1-ubyte", "mnist"]


def test_fuzz_idx_short(worker):
    _fuzz(worker, _idx_task, "idx", SHORT)


@pytest.mark.fuzz_long
def test_fuzz_idx_long(worker):
    _fuzz(worker, _idx_task, "idx", LONG_LOADER * 1 // 10)


# --------------------------------------------------------------------------------------------
# full runs of mutated small designs
# --------------------------------------------------------------------------------------------

RUN_EDITS = st.one_of(
    st.tuples(st.just("stream.length"), st.integers(4, 300)),
    st.tuples(st.just("stream.rng.width"), st.integers(2, 14)),
    st.tuples(st.just("stream.rng.kind"), st.sampled_from(["lfsr", "sobol", "counter"])),
    st.tuples(st.just("stream.comparator"), st.sampled_from(["gt", "ge"])),
    st.tuples(st.just("seed"), st.integers(0, 2**64)),
    st.tuples(st.just("layers.conv1.filters"), st.integers(1, 4)),
    st.tuples(st.just("layers.conv1.btanh.s"), st.floats(1e-3, 10)),
    st.tuples(st.just("layers.conv1.output_flip"),
              st.sampled_from([0.0, 1e-50, 1e-19, 1e-6, 0.01, 0.5, 1.0])),
    st.tuples(st.just("memories.dwm0.misalignment.probability"),
              st.sampled_from([0.0, 1e-50, 1e-4, 0.01, 0.3, 1.0])),
    st.tuples(st.just("memories.dwm0.misalignment.edge"), st.sampled_from(["saturate", "random"])),
    st.tuples(st.just("memories.mram0.read_error"), st.sampled_from([0.0, 1e-50, 1e-3, 0.5])),
    st.tuples(st.just("layers.fc1.weights.memory"), st.sampled_from(["dwm0", "sram0", "mram0"])),
    st.tuples(st.just("layers.conv1.weights.format"), st.sampled_from(["binary", "stochastic"])),
    st.tuples(st.just("layers.conv1.weights.bits"), st.integers(0, 17)),
    st.tuples(st.just("layers.conv1.weights.length"), st.integers(4, 200)),
    st.tuples(st.just("layers.fc1.mux_groups"), st.sampled_from([None, 1, 3, 6, 19])),
    st.tuples(st.just("layers.fc1.counter"), st.sampled_from(["apc", "pc"])),
    st.tuples(st.just("layers.conv1.pipeline_depth"), st.sampled_from([None, 1, 5, 1000])),
    st.tuples(st.just("memories.dwm0.domains"), st.sampled_from([1, 8, 16, 64, 128, 4096])),
    st.tuples(st.just("memories.dwm0.ports"), st.sampled_from([1, 2, 4, 8])),
    st.tuples(st.just("memories.dwm0.shift_latency"),
              st.sampled_from(["1 ps", "2 ns", "1 us", "1 ms", "1e30 ns", "1e400 ns"])),
    st.tuples(st.just("clock"), st.sampled_from(["1 kHz", "200 MHz", "5 GHz", "1e400 MHz"])),
    st.tuples(st.just("memories.sram0.power_cycles"), st.integers(0, 20)),
)


def _run_task(data: st.DataObject) -> tuple[dict, list[str]]:
    argv = ["run", "work/d.yaml", "--images", str(data.draw(st.integers(1, 2))), "--jobs", "1",
            "--quiet", "--out", "out"]
    if data.draw(st.booleans()):
        argv += ["--mode", "per-cycle"]
    for key, value in data.draw(st.lists(RUN_EDITS, min_size=1, max_size=4)):
        argv += ["--set", _override(key, value)]
    return {"kind": "cli", "argv": argv, "files": encode({"work/d.yaml": DESIGN}),
            "deadline": 120}, ["d.yaml", "override"]


def test_fuzz_runs_short(worker):
    _fuzz(worker, _run_task, "run", 8)


@pytest.mark.fuzz_long
def test_fuzz_runs_long(worker):
    _fuzz(worker, _run_task, "run", LONG_RUNS)
