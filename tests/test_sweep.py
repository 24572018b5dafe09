"""Design-space sweeps: expansion, validation, backends, resume, failures, results, plots."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from archsim.cli import main
from archsim.config.errors import ConfigError
from archsim.sweep import runner
from archsim.sweep.plots import pareto_front, plot_sweep
from archsim.sweep.runner import TIMING_COLUMNS, expand_points, run_sweep
from archsim.sweep.spec import load_sweep

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "arch_configs" / "dwcnn" / "small_conv_fc-shared.yaml"


def _sweep_file(tmp_path: Path, axes: str, extra: str = "", name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(f"base: {SMALL}\nimages: 1\n{extra}axes:\n{axes}", encoding="utf-8")
    return p


AXES4 = "  layers.fc1.weights.length: [16, 32]\n  stream.length: [64, 128]\n"


def _table(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in rows]


def _mtimes(out: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in (out / "points").rglob("*") if p.is_file()}


def test_expand_product_and_zip(tmp_path):
    prod = load_sweep(_sweep_file(tmp_path, AXES4))
    pts = expand_points(prod)
    assert len(pts) == 4 and len({p.key for p in pts}) == 4
    assert all(p.images == 1 and p.seed == 7 for p in pts)
    # the key depends on the resolved config, seed and images only
    assert [p.key for p in expand_points(prod)] == [p.key for p in pts]
    assert expand_points(prod, images=2)[0].key != pts[0].key
    z = load_sweep(_sweep_file(tmp_path, AXES4, "mode: zip\n", "z.yaml"))
    zp = expand_points(z)
    assert [p.axes for p in zp] == [{"layers.fc1.weights.length": 16, "stream.length": 64},
                                    {"layers.fc1.weights.length": 32, "stream.length": 128}]
    assert {p.key for p in zp} <= {p.key for p in pts}
    per = load_sweep(_sweep_file(tmp_path, AXES4, "seed: per-point\n", "pp.yaml"))
    seeds = [p.seed for p in expand_points(per)]
    assert len(set(seeds)) == 4 and seeds == [p.seed for p in expand_points(per)]


def test_zip_unequal_lengths_rejected(tmp_path):
    f = _sweep_file(tmp_path, "  stream.length: [64, 128]\n  seed: [1]\n", "mode: zip\n")
    with pytest.raises(ConfigError, match="zip"):
        load_sweep(f)


def test_misspelled_key_rejected_before_running(tmp_path, monkeypatch, capsys):
    f = _sweep_file(tmp_path, "  layers.fc1.mux_grups: [3, 6]\n")
    with pytest.raises(ConfigError) as exc:
        load_sweep(f)
    assert "s.yaml" in str(exc.value) and "layers.fc1.mux_grups" in str(exc.value)
    calls = []
    monkeypatch.setattr(runner, "_RUN", lambda *a, **k: calls.append(1))
    assert main(["sweep", str(f), "--out", str(tmp_path / "o"), "--jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert "mux_grups" in err and "s.yaml" in err
    assert not calls and not (tmp_path / "o").exists()
    # unknown sweep-file keys too
    g = _sweep_file(tmp_path, AXES4, "imgaes: 3\n", "g.yaml")
    with pytest.raises(ConfigError, match="imgaes"):
        load_sweep(g)


def test_local_and_dask_identical_and_resume(tmp_path):
    f = _sweep_file(tmp_path, AXES4)
    out_local = tmp_path / "local"
    assert main(["sweep", str(f), "--out", str(out_local), "--jobs", "2", "--quiet"]) == 0
    rows = _table(out_local)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    for col in ("layers.fc1.weights.length", "stream.length", "cycles", "latency_ns",
                "energy_pj", "energy_per_image_pj", "power_mw", "area_um2", "accuracy"):
        assert col in rows[0]
    assert (out_local / "results.parquet").is_file()
    for r in rows:
        assert (out_local / "points" / r["key"] / "summary.json").is_file()

    # re-running skips every finished point: no file in points/ is rewritten
    before = _mtimes(out_local)
    report = run_sweep(load_sweep(f), out_local, jobs=2, quiet=True)
    assert (report.done, report.skipped, report.failed) == (0, 4, 0)
    assert _mtimes(out_local) == before
    assert _table(out_local) == rows

    pytest.importorskip("dask.distributed")
    out_dask = tmp_path / "dask"
    report = run_sweep(load_sweep(f), out_dask, jobs=2, backend="dask", quiet=True)
    assert (report.done, report.skipped, report.failed) == (4, 0, 0)
    assert _table(out_dask) == rows


def test_failed_point_recorded_others_finish(tmp_path, monkeypatch):
    f = _sweep_file(tmp_path, AXES4)
    real = runner._RUN

    def flaky(cfg, opts):
        if cfg.stream.length == 128 and cfg.layers[1].weights.length == 32:
            raise RuntimeError("boom")
        return real(cfg, opts)

    monkeypatch.setattr(runner, "_RUN", flaky)
    out = tmp_path / "o"
    report = run_sweep(load_sweep(f), out, jobs=1, quiet=True)
    assert (report.done, report.skipped, report.failed) == (3, 0, 1)
    rows = _table(out)
    bad = [r for r in rows if r["status"] == "failed"]
    assert len(bad) == 1 and "boom" in bad[0]["error"]
    assert "boom" in (out / "points" / bad[0]["key"] / "error.txt").read_text()
    assert sum(r["status"] == "ok" and r["cycles"] != "" for r in rows) == 3
    # a re-run retries only the failed point
    monkeypatch.setattr(runner, "_RUN", real)
    report = run_sweep(load_sweep(f), out, jobs=1, quiet=True)
    assert (report.done, report.skipped, report.failed) == (1, 3, 0)
    assert not (out / "points" / bad[0]["key"] / "error.txt").exists()


def test_invalid_combination_is_a_failed_point(tmp_path):
    # each value is valid on its own; binary weights without `bits` are not
    axes = ("  layers.fc1.weights: [{memory: dwm0, format: stochastic, length: 16},"
            " {memory: dwm0, format: binary, bits: 6}]\n  layers.fc1.weights.bits: [6, null]\n")
    f = _sweep_file(tmp_path, axes)
    report = run_sweep(load_sweep(f), tmp_path / "o", jobs=1, quiet=True)
    assert (report.done, report.failed) == (3, 1)
    (bad,) = [r for r in _table(tmp_path / "o") if r["status"] == "failed"]
    assert "bits" in bad["error"]
    assert "bits" in (tmp_path / "o" / "points" / bad["key"] / "error.txt").read_text()
    alone = _sweep_file(tmp_path, "  layers.fc1.weights.format: [binary]\n", name="b.yaml")
    with pytest.raises(ConfigError, match="bits"):
        load_sweep(alone)


def test_resume_after_deleting_one_summary(tmp_path, monkeypatch):
    f = _sweep_file(tmp_path, AXES4)
    out = tmp_path / "o"
    run_sweep(load_sweep(f), out, jobs=1, quiet=True)
    rows = _table(out)
    victim = rows[2]["key"]
    (out / "points" / victim / "summary.json").unlink()
    calls = []
    real = runner._RUN

    def counting(cfg, opts):
        calls.append(cfg.name)
        return real(cfg, opts)

    monkeypatch.setattr(runner, "_RUN", counting)
    report = run_sweep(load_sweep(f), out, jobs=1, quiet=True)
    assert len(calls) == 1 and (report.done, report.skipped) == (1, 3)
    assert _table(out) == rows
    # an INCOMPLETE marker also makes the point run again
    (out / "points" / rows[0]["key"] / "INCOMPLETE").write_text("x")
    report = run_sweep(load_sweep(f), out, jobs=1, quiet=True)
    assert len(calls) == 2 and report.done == 1


def test_shipped_sweeps_validate():
    for name in ("small_tiny.yaml", "dwcnn_memory_format.yaml", "dwcnn_stream_length.yaml",
                 "dwcnn_stream_flip.yaml", "sttmram_read_error.yaml"):
        sweep = load_sweep(ROOT / "arch_configs" / "sweeps" / name)
        pts = expand_points(sweep)
        assert pts and all(p.error is None for p in pts)


def test_plot_sweep_folder(tmp_path):
    src = ROOT / "arch_configs" / "sweeps" / "small_tiny.yaml"
    f = tmp_path / "small_tiny.yaml"
    shutil.copy(src, f)
    f.write_text(f.read_text().replace("../dwcnn/small_conv_fc-shared.yaml", str(SMALL)))
    out = tmp_path / "sw"
    run_sweep(load_sweep(f), out, jobs=1, images=1, quiet=True)
    assert main(["plot", str(out)]) == 0
    names = {p.name for p in (out / "plots").iterdir()}
    assert "pareto_area_power.png" in names
    assert "metric_vs_stream.length.png" in names
    assert plot_sweep(out, "svg")


def test_plot_zip_sweep_draws_one_line_against_the_first_axis(tmp_path, monkeypatch):
    """A zip sweep's axes move together: one figure against the first axis, one line through
    every point (not one single-point line per value of the other axes)."""
    import archsim.sweep.plots as sweep_plots

    f = tmp_path / "zip.yaml"
    f.write_text(f"name: zip\nbase: {SMALL}\nmode: zip\nimages: 1\nseed: fixed\naxes:\n"
                 "  layers.fc1.weights.length: [16, 32, 48]\n  stream.length: [64, 96, 128]\n")
    out = tmp_path / "sw"
    run_sweep(load_sweep(f), out, jobs=1, images=1, quiet=True)
    drawn = {}
    real_save = sweep_plots.save_figure

    def keep(fig, path, fmt):  # look at each figure as it is saved
        drawn[path.name] = (fig._suptitle.get_text() if fig._suptitle else "",
                            [[len(line.get_xdata()) for line in ax.lines] for ax in fig.axes])
        return real_save(fig, path, fmt)

    monkeypatch.setattr(sweep_plots, "save_figure", keep)
    files = {p.name for p in plot_sweep(out)}
    assert "metric_vs_layers.fc1.weights.length.png" in files
    assert "metric_vs_stream.length.png" not in files
    title, lines = drawn["metric_vs_layers.fc1.weights.length.png"]
    assert "zip: stream.length move with it" in title
    assert lines and all(per_ax == [3] for per_ax in lines)  # one line of 3 points per metric


def test_pareto_front():
    pts = [(1.0, 0.5), (2.0, 0.9), (3.0, 0.8), (0.5, 0.1)]
    assert pareto_front(pts, maximize_y=True) == [3, 0, 1]
    assert pareto_front([(1, 3), (2, 1), (3, 2)]) == [0, 1]


def test_dwcnn_design_point_sweep_local_and_dask_give_identical_tables(tmp_path):
    """Memory x format x stored length of the DW-CNN LeNet-5, one image per point."""
    f = ROOT / "arch_configs" / "sweeps" / "dwcnn_memory_format.yaml"
    out_local = tmp_path / "local"
    assert main(["sweep", str(f), "--out", str(out_local), "--jobs", "2", "--images", "1",
                 "--quiet"]) == 0
    rows = _table(out_local)
    assert len(rows) == 8 and {r["status"] for r in rows} == {"ok"}
    assert {r["layers.fc1.weights.format"] for r in rows} == {"stochastic", "binary"}
    pytest.importorskip("dask.distributed")
    out_dask = tmp_path / "dask"
    assert main(["sweep", str(f), "--out", str(out_dask), "--backend", "dask", "--jobs", "2",
                 "--images", "1", "--quiet"]) == 0
    assert _table(out_dask) == rows
