"""Plots are drawn from run folders alone, for one run or several, and refuse anything else."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_outputs import synthetic_result

from archsim.outputs import INCOMPLETE, write_run_folder
from archsim.plots import plot_main
from archsim.plots.breakdown import energy_by_category, energy_category
from archsim.plots.rundata import load_run

SINGLE = ("energy_breakdown", "activity", "area_breakdown", "timeline", "accuracy",
          "layer_error")  # fmt: skip
COMPARE = ("compare_metrics", "compare_energy_breakdown", "compare_layer_energy",
           "compare_area_breakdown")  # fmt: skip
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    out = tmp_path / "traces" / "dwm"
    write_run_folder(synthetic_result("dwcnn-dwm"), out, config_name="dwcnn-dwm")
    return out


@pytest.fixture
def other_run_dir(tmp_path: Path) -> Path:
    out = tmp_path / "traces" / "sram"
    write_run_folder(
        synthetic_result("dwcnn-sram", energy_scale=1.7), out, config_name="dwcnn-sram"
    )
    return out


def _is_image(path: Path, fmt: str) -> bool:
    data = path.read_bytes()
    if fmt == "png":
        return data.startswith(PNG_MAGIC) and len(data) > 5000
    return b"<svg" in data[:2000] and len(data) > 5000


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_single_run_figures(run_dir, fmt, capsys):
    assert plot_main([str(run_dir)], fmt) == 0
    for name in SINGLE:
        assert _is_image(run_dir / "plots" / f"{name}.{fmt}", fmt), name
    assert not [p for p in (run_dir / "plots").iterdir() if ".tmp-" in p.name]
    assert str(run_dir / "plots") in capsys.readouterr().out


def test_several_runs_are_compared(run_dir, other_run_dir, tmp_path):
    out = tmp_path / "cmp"
    assert plot_main([str(run_dir), str(other_run_dir)], "png", out_dir=str(out)) == 0
    for name in COMPARE:
        assert _is_image(out / f"{name}.png", "png"), name
    for d in (run_dir, other_run_dir):  # each run also gets its own figures
        assert _is_image(d / "plots" / "energy_breakdown.png", "png")


def test_comparison_goes_next_to_the_runs_by_default(run_dir, other_run_dir):
    assert plot_main([str(run_dir), str(other_run_dir)], "svg", quiet=True) == 0
    assert _is_image(run_dir.parent / "comparison" / "compare_metrics.svg", "svg")


def test_no_accuracy_figure_without_labels(tmp_path):
    out = tmp_path / "r"
    write_run_folder(synthetic_result(labels=False), out, config_name="x")
    assert plot_main([str(out)], "png", quiet=True) == 0
    assert not (out / "plots" / "accuracy.png").exists()
    assert (out / "plots" / "layer_error.png").exists()  # the float reference still ran


def test_not_a_run_folder_exits_2(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert plot_main([str(empty)], "png") == 2
    assert "not an archsim run folder" in capsys.readouterr().err
    assert plot_main([str(tmp_path / "missing")], "png") == 2
    assert not (empty / "plots").exists()


def test_incomplete_run_folder_exits_2(run_dir, other_run_dir, capsys):
    (other_run_dir / INCOMPLETE).write_text("interrupted\n")
    assert plot_main([str(run_dir), str(other_run_dir)], "png") == 2
    assert "INCOMPLETE" in capsys.readouterr().err
    assert not (run_dir / "plots").exists()  # nothing drawn when any folder is refused


def test_unknown_format_exits_2(run_dir, capsys):
    assert plot_main([str(run_dir)], "bmp") == 2
    assert "bmp" in capsys.readouterr().err


def test_energy_categories_follow_the_papers_breakdown(run_dir):
    assert energy_category("memory", "shift") == "shift"
    assert energy_category("memory", "read") == "memory read"
    assert energy_category("ports", "write") == "write"
    assert energy_category("sng", "generate") == "SNG"
    assert energy_category("btanh", "update") == "Btanh"
    assert energy_category("apc", "leak") == "leakage"
    run = load_run(run_dir)
    parts = energy_by_category(run)
    total = sum(v for d in parts.values() for v in d.values())
    assert total == pytest.approx(run.summary["energy_pj"])
    assert parts["conv1"]["shift"] == pytest.approx(600 * 0.6)
