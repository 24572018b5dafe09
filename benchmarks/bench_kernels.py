"""Throughput of the SC bit kernels: compiled (Cython) against the NumPy reference.

Run as a script (``python benchmarks/bench_kernels.py [--quick]``) or as a pytest benchmark
(``pytest -m benchmark benchmarks/bench_kernels.py -s``). Prints one line per kernel and
writes ``benchmarks/results/kernels.json``.

Units:
- ``xnor_counts`` / ``conv_counts``: bit-products per second, a bit-product being one XNOR of
  one input bit with one weight bit, counted by the PC/APC (neurons * n * L per call);
- ``mux_fc_counts``: slot-products per second (outputs * G * steps per call);
- ``btanh``: neuron-cycles per second; ``segment_maxpool``: candidate values per second;
- ``sng``: stream bits per second.

All timings are single-threaded (one core); each figure is the best of several repeats.
"""

from __future__ import annotations

import os

# a BLAS thread pool spinning on the other core would steal cycles from the timed kernels
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from archsim.sc import kernels  # noqa: E402
from archsim.sc.rng import pack_bits  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "kernels.json"


def _best_time(fn, min_time: float, max_repeats: int = 50) -> float:
    """Best wall time of one call of fn over repeats lasting at least min_time in total."""
    fn()  # warm up (allocations, caches)
    best, spent, repeats = float("inf"), 0.0, 0
    while repeats < max_repeats and (spent < min_time or repeats < 3):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, spent, repeats = min(best, dt), spent + dt, repeats + 1
    return best


def _streams(rng: np.random.Generator, shape, length: int) -> np.ndarray:
    return pack_bits(rng.integers(0, 2, tuple(shape) + (length,), dtype=np.uint8))


def _backends():
    names = ["numpy"]
    if kernels.cython is not None:
        names.insert(0, "cython")
    return {name: kernels.backend(name) for name in names}


def run(quick: bool = False, out: Path = RESULTS) -> dict:
    """Time every kernel on both back ends; returns the results dictionary (also written to
    ``out``)."""
    rng = np.random.default_rng(0)
    min_time = 0.2 if quick else 1.0
    backends = _backends()
    cases = []

    def case(name, unit, work, calls):
        row = {"kernel": name, "unit": unit, "work_per_call": work}
        for bname, call in calls.items():
            t = _best_time(
                call,
                min_time if bname == "cython" else min_time / 2,
                max_repeats=50 if bname == "cython" else 3,
            )
            row[f"{bname}_s_per_call"] = t
            row[f"{bname}_per_s"] = work / t
        if "cython" in calls and "numpy" in calls:
            row["ratio"] = row["numpy_s_per_call"] / row["cython_s_per_call"]
        cases.append(row)
        rate = "  ".join(f"{b}: {row[f'{b}_per_s'] / 1e9:8.3f} G{unit}/s" for b in calls)
        ratio = f"  cython/numpy: {row['ratio']:6.1f}x" if "ratio" in row else ""
        print(f"{name:34s} {rate}{ratio}", flush=True)

    # fused XNOR + PC/APC: 64 neurons x 500 inputs x 1024-bit streams, shared weights
    nb, n, length = 64, 500, 1024
    x = _streams(rng, (nb, n), length)
    w = _streams(rng, (n,), length)
    for approx, label in ((True, "APC"), (False, "PC")):
        case(
            f"xnor_counts {label} B={nb} n={n} L={length}",
            "bit-products",
            nb * n * length,
            {
                b: (lambda m=m, a=approx: m.xnor_counts(x, w, length, a))
                for b, m in backends.items()
            },
        )

    # LeNet-5 conv2: 20 x 12 x 12 input maps, 50 filters 5x5, 1024-bit streams
    c, h, f, k = 20, 12, 50, 5
    inp = _streams(rng, (c, h, h), length)
    wts = _streams(rng, (f, c, k, k), length)
    bias = _streams(rng, (f,), length)
    ho = h - k + 1
    work = f * ho * ho * (c * k * k + 1) * length
    for approx, label in ((True, "APC"), (False, "PC")):
        case(
            f"conv_counts {label} LeNet conv2 L={length}",
            "bit-products",
            work,
            {
                b: (lambda m=m, a=approx: m.conv_counts(inp, wts, bias, length, a))
                for b, m in backends.items()
            },
        )

    # MUX-shared FC, LeNet fc1: 500 outputs, fan-in 801, G = 25 slots, 16 passes of L = 1024
    o_f, n_f, g_f, passes, lw = 500, 801, 25, 16, 1024
    s_f = passes * length
    xf = _streams(rng, (n_f - 1,), length)
    src = rng.integers(0, 2**63, (o_f, n_f, lw // 64), dtype=np.uint64)
    sel = rng.integers(0, -(-n_f // g_f), s_f).astype(np.int64)
    bidx = rng.integers(0, lw, s_f).astype(np.int64)
    for approx, label in ((True, "APC"), (False, "PC")):
        case(
            f"mux_fc_counts {label} LeNet fc1 G={g_f} S={s_f}",
            "slot-products",
            o_f * g_f * s_f,
            {
                b: (lambda m=m, a=approx: m.mux_fc_counts(xf, src, sel, bidx, g_f, length, a))
                for b, m in backends.items()
            },
        )

    # Btanh on 512 neurons of n = 501 (conv2 fan-in + bias)
    nb_t, n_t = 512, 501
    counts = rng.binomial(n_t, 0.5, (nb_t, length)).astype(np.uint16)
    r = kernels.kim_r(n_t, 1.0)
    case(
        f"btanh B={nb_t} n={n_t} r={r} L={length}",
        "neuron-cycles",
        nb_t * length,
        {b: (lambda m=m: m.btanh(counts, n_t, r)) for b, m in backends.items()},
    )

    # 2x2 segment max pooling of 512 windows of per-cycle values, segment 16
    values = rng.integers(0, 2, (4, 512, length)).astype(np.uint16)
    case(
        f"segment_maxpool K=4 B=512 c=16 L={length}",
        "values",
        values.size,
        {b: (lambda m=m: m.segment_maxpool(values, 16, 0)) for b, m in backends.items()},
    )

    # comparator SNG: 4096 streams from one 10-bit LFSR with per-stream phase offsets
    seq = kernels.lfsr_sequence(10, 1023, seed=1)
    vals = rng.integers(0, 1024, 4096)
    offs = rng.integers(0, 1023, 4096)
    case(
        f"sng N=4096 lfsr10 L={length}",
        "bits",
        vals.size * length,
        {b: (lambda m=m: m.sng(vals, seq, length, "gt", offs)) for b, m in backends.items()},
    )

    # the fused fast paths of the LeNet-5 layers (compiled only: their NumPy definitions are
    # compositions of the kernels above)
    if "cython" in backends:
        cy = backends["cython"]
        for name, (c, h, f) in (("conv1", (1, 28, 20)), ("conv2", (20, 12, 50))):
            inp_c = _streams(rng, (c, h, h), length)
            wts_c = _streams(rng, (f, c, k, k), length)
            bias_c = _streams(rng, (f,), length)
            n_c = c * k * k + 1
            ho_c = h - k + 1
            case(
                f"conv_pool_btanh APC LeNet {name} L={length}",
                "bit-products",
                f * ho_c * ho_c * n_c * length,
                {"cython": (lambda a=inp_c, b=wts_c, d=bias_c, n=n_c: cy.conv_pool_btanh(
                    a, b, d, length, True, 16, 0, n, kernels.kim_r(n, 1.0), 0))},
            )
        tab, row = cy.mux_fc_table(src, sel, bidx, g_f)
        case(
            f"mux_fc_btanh APC LeNet fc1 G={g_f} S={s_f}",
            "slot-products",
            o_f * g_f * s_f,
            {"cython": (lambda: cy.mux_fc_btanh(xf, tab, row, sel, n_f, g_f, length, True, g_f,
                                                kernels.kim_r(g_f, 1.0), 0, o_f))},
        )

    result = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "quick": quick,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        },
        "backends": list(backends),
        "cases": cases,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return result


@pytest.mark.benchmark
def test_kernel_throughput():
    """Print the kernel throughputs; the compiled kernels must beat the reference."""
    if kernels.cython is None:
        pytest.skip("the compiled kernels are not built")
    result = run(quick=True)
    for row in result["cases"]:
        if "numpy_per_s" in row:
            assert row["cython_per_s"] > row["numpy_per_s"], row["kernel"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing runs")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON file (default {RESULTS})")
    args = parser.parse_args(argv)
    print(f"kernel backends: {', '.join(_backends())}")
    run(quick=args.quick, out=args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
