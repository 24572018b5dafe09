"""The speed benchmark's bookkeeping: which runs it keeps and how it forms the two-core scaling.

The measurements themselves are slow (``python benchmarks/bench_all.py``); here the runs are
replaced by fixed figures so that the selection and the ratios can be checked exactly.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def bench_all():
    spec = importlib.util.spec_from_file_location("bench_all", ROOT / "benchmarks/bench_all.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_simulations_keep_fastest_run_and_pair_turns(bench_all, monkeypatch):
    # jobs 1 and jobs 2 take turns: 1, 2, 1, 2, 1, 2
    figures = iter([30.0, 50.0, 40.0, 60.0, 20.0, 42.0])
    calls = []

    def fake_run_json(args, parallel=1):
        calls.append(args[args.index("--jobs") + 1])
        return [{"images_per_s": next(figures)}]

    monkeypatch.setattr(bench_all, "_run_json", fake_run_json)
    monkeypatch.setattr(bench_all, "REPEAT", 3)
    best = bench_all.simulations(Path("x.yaml"), 1024, 100, (1, 2))
    assert calls == ["1", "2", "1", "2", "1", "2"]
    assert best[1]["images_per_s"] == 40.0 and best[2]["images_per_s"] == 60.0
    assert best[1]["repeats_images_per_s"] == [30.0, 40.0, 20.0]
    assert best[2]["scaling"] == pytest.approx(1.5)  # fastest over fastest
    assert best[2]["scaling_pairs"] == pytest.approx([50 / 30, 60 / 40, 42 / 20])
    assert best[2]["scaling_pairs_median"] == pytest.approx(50 / 30)
    assert bench_all.scaling_text(best[2]) == (
        "scaling 1.50x (back-to-back pairs: median 1.67x, 1.50-2.10x)")
    machine = {"scaling": 1.97, "scaling_pairs_median": 1.8}
    assert bench_all.scaling_text(best[2], machine) == (
        "scaling 1.50x (back-to-back pairs: median 1.67x, 1.50-2.10x; machine 1.97x, "
        "median 1.80x)")


def test_machine_scaling_sums_the_two_processes(bench_all, monkeypatch):
    # one process alone, then two at once (their images/s add up), taking turns
    runs = iter([[60.0], [55.0, 50.0], [62.0], [40.0, 41.0]])
    seen = []

    def fake_run_json(args, parallel=1):
        seen.append((parallel, "--sustained" in args))
        return [{"images_per_s": v} for v in next(runs)]

    monkeypatch.setattr(bench_all, "_run_json", fake_run_json)
    monkeypatch.setattr(bench_all, "REPEAT", 2)
    m = bench_all.machine_scaling(seconds=1.0)
    assert seen == [(1, True), (2, True), (1, True), (2, True)]
    assert m["jobs2_images_per_s"] == [105.0, 81.0]
    assert m["scaling"] == pytest.approx(105 / 62)
    assert m["scaling_pairs"] == pytest.approx([105 / 60, 81 / 62])
