"""Sweep and run folders: one sweep per folder, a point key that sees the model's content,
the data source and the archsim version, failed re-runs that leave complete results alone, a
full disk that is a clear error and never loses results.csv, writers that follow no planted
symlink, and command-line numbers (archsim.cli_numbers) range-checked before anything is
written."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from archsim.cli import main
from archsim.outputs import atomic
from archsim.outputs.run_folder import is_complete_run_folder
from archsim.sweep import fingerprint, runner
from archsim.sweep.folder import SweepLocked, sweep_lock
from archsim.sweep.runner import expand_points, run_sweep
from archsim.sweep.spec import load_sweep

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "arch_configs" / "dwcnn" / "small_conv_fc-shared.yaml"
LENET = ROOT / "arch_configs" / "dwcnn" / "lenet5_dwm_sn128_fc-unshared.yaml"
ENV = {k: v for k, v in os.environ.items() if k != "ARCHSIM_DATA"}


def _sweep(tmp_path: Path, base: Path = SMALL, axes: str = "  stream.length: [64, 128]\n",
           images: int = 1) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(f"base: {base}\nimages: {images}\naxes:\n{axes}", encoding="utf-8")
    return p


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".archsim-sweep")}


# ---------------------------------------------------------------------- the sweep lock
def test_a_second_sweep_into_the_same_folder_is_refused(tmp_path, capsys):
    sweep = _sweep(tmp_path)
    out = tmp_path / "o"
    with sweep_lock(out):  # another sweep holds the folder
        with pytest.raises(SweepLocked, match=f"pid {os.getpid()}"):
            run_sweep(load_sweep(sweep), out, jobs=1, quiet=True)
        assert not (out / "points").exists() and not (out / "results.csv").exists()
        rc = main(["sweep", str(sweep), "--out", str(out), "--jobs", "1", "--quiet"])
        assert rc == 2
        assert "another sweep" in capsys.readouterr().err
    # released: now it runs
    assert main(["sweep", str(sweep), "--out", str(out), "--jobs", "1", "--quiet"]) == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="two processes, flock")
def test_two_sweep_processes_into_one_folder(tmp_path):
    sweep = _sweep(tmp_path, LENET, "  seed: [1, 2]\n", images=30)
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "archsim", "sweep", str(sweep), "--jobs", "1", "--out",
           str(out), "--set", "dataset.name=random", "--quiet"]
    first = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 60
        while not (out / "sweep.yaml").exists() and time.monotonic() < end:
            time.sleep(0.1)
        second = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        assert "another sweep" in second.stderr and str(first.pid) in second.stderr
        assert first.wait(300) == 0
    finally:
        if first.poll() is None:
            first.kill()
    rows = runner.read_results(out)
    assert [r["status"] for r in rows] == ["ok", "ok"]


# ---------------------------------------------------------------------- the point key
def test_point_key_sees_model_content_data_source_and_version(tmp_path, monkeypatch):
    src = ROOT / "archsim" / "models" / "lenet5_mnist.npz"
    model = tmp_path / "m.npz"
    shutil.copy(src, model)
    sweep = _sweep(tmp_path, LENET, "  seed: [1]\n")
    ov = [f"model.weights={model}"]
    key = expand_points(load_sweep(sweep, ov), ov)[0].key
    assert expand_points(load_sweep(sweep, ov), ov)[0].key == key  # stable
    # the same path, another model: another point
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    name = next(k for k, v in arrays.items() if v.dtype.kind == "f")
    arrays[name] = -arrays[name]
    np.savez_compressed(model, **arrays)
    key_model = expand_points(load_sweep(sweep, ov), ov)[0].key
    assert key_model != key
    # another data source: a data directory instead of the embedded subset
    data = tmp_path / "data"
    (data / "mnist").mkdir(parents=True)
    key_data = expand_points(load_sweep(sweep, ov), ov, data_dir=str(data))[0].key
    assert key_data != key_model
    # another archsim version
    monkeypatch.setattr(fingerprint, "__version__", "0.0.0-other")
    assert expand_points(load_sweep(sweep, ov), ov)[0].key != key_model


def test_a_changed_model_is_not_served_from_the_cache(tmp_path):
    """The stale-point failure end to end: a complete point of model A is not reused for
    model B under the same file name."""
    model = tmp_path / "m.npz"
    shutil.copy(ROOT / "archsim" / "models" / "lenet5_mnist.npz", model)
    sweep = _sweep(tmp_path, LENET, "  seed: [1]\n")
    ov = [f"model.weights={model}", "dataset.name=random"]
    out = tmp_path / "o"
    first = run_sweep(load_sweep(sweep, ov), out, overrides=ov, jobs=1, quiet=True)
    assert first.done == 1
    shutil.copy(ROOT / "archsim" / "models" / "lenet5_mnist_sc.npz", model)
    second = run_sweep(load_sweep(sweep, ov), out, overrides=ov, jobs=1, quiet=True)
    assert second.skipped == 0 and second.done == 1


# ---------------------------------------------------------------------- failed re-runs
def test_a_failed_run_into_a_complete_folder_leaves_it_complete(tmp_path, monkeypatch,
                                                                capsys):
    out = tmp_path / "r"
    assert main(["run", str(SMALL), "--images", "2", "--out", str(out), "--quiet"]) == 0
    before = _tree(out)

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    rc = main(["run", str(SMALL), "--images", "3", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "No space left on device" in err and "Traceback" not in err
    assert is_complete_run_folder(out) and _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no temporary left


def test_an_output_folder_of_other_files_is_refused_before_running(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my own file")
    assert main(["run", str(SMALL), "--images", "1", "--out", str(mine), "--quiet"]) == 2
    assert "not an archsim run folder" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


# ---------------------------------------------------------------------- full disk, sweeps
def test_full_disk_in_a_sweep_is_a_clear_error_and_keeps_results_csv(tmp_path, monkeypatch,
                                                                     capsys):
    sweep = _sweep(tmp_path)
    out = tmp_path / "o"
    assert main(["sweep", str(sweep), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    table = (out / "results.csv").read_bytes()
    points_before = _tree(out / "points")
    sweep.write_text(sweep.read_text().replace("[64, 128]", "[64, 128, 256]"))

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    rc = main(["sweep", str(sweep), "--out", str(out), "--jobs", "1", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "No space left on device" in err and "Traceback" not in err
    assert (out / "results.csv").read_bytes() == table  # the old table, whole
    after = _tree(out / "points")
    assert {k: v for k, v in after.items() if k in points_before} == points_before
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]


def test_full_disk_fails_the_point_not_the_sweep(tmp_path, monkeypatch):
    sweep = _sweep(tmp_path)
    from archsim.outputs import run_folder  # run_point imports the writer from here

    orig = run_folder.write_run_folder
    calls = []

    def first_fails(result, folder, **kw):
        calls.append(folder)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device", str(folder))
        return orig(result, folder, **kw)

    monkeypatch.setattr(run_folder, "write_run_folder", first_fails)
    report = run_sweep(load_sweep(sweep), tmp_path / "o", jobs=1, quiet=True)
    assert (report.done, report.failed) == (1, 1)
    assert "No space left on device" in next(iter(report.failures.values()))


# ---------------------------------------------------------------------- planted symlinks
def test_no_writer_follows_a_planted_symlink(tmp_path, monkeypatch):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "r"
    assert main(["run", str(SMALL), "--images", "1", "--out", str(out), "--quiet"]) == 0
    names = [p.name for p in out.iterdir()]
    for n in names:  # every output name of the earlier run now points at the victim
        (out / n).unlink()
        (out / n).symlink_to(victim)
    (out / "INCOMPLETE").symlink_to(victim)
    # and the temporary names a writer would pick (random ones made predictable here)
    monkeypatch.setattr(atomic.secrets, "token_hex", lambda n: "ab" * n)
    for n in names:
        (out / f"{n}.tmp-{os.getpid()}-abababab").symlink_to(victim)
        (out / f"{n}.tmp-{os.getpid()}").symlink_to(victim)
    assert main(["run", str(SMALL), "--images", "1", "--out", str(out), "--quiet"]) == 0
    assert victim.read_text() == "precious"
    assert is_complete_run_folder(out)
    assert not any(p.is_symlink() for p in out.iterdir())


def test_exclusive_create_refuses_a_symlink_and_an_existing_file(tmp_path):
    target = tmp_path / "t"
    target.write_text("x")
    link = tmp_path / "l"
    link.symlink_to(target)
    for p in (link, target):
        with pytest.raises(FileExistsError):
            atomic.create_exclusive(p)
    assert target.read_text() == "x"


def test_a_symlinked_output_folder_is_refused(tmp_path, capsys):
    real = tmp_path / "elsewhere"
    real.mkdir()
    link = tmp_path / "r"
    link.symlink_to(real)
    assert main(["run", str(SMALL), "--images", "1", "--out", str(link), "--quiet"]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert list(real.iterdir()) == []


# ---------------------------------------------------------------------- CLI numbers
@pytest.mark.parametrize("argv", [
    ["run", str(SMALL), "--images", "0"],
    ["run", str(SMALL), "--images", "-3"],
    ["run", str(SMALL), "--start", "-1"],
    ["run", str(SMALL), "--jobs", "0"],
    ["run", str(SMALL), "--seed", "-5"],
    ["run", str(SMALL), "--probe-images", "0"],
    ["run", str(SMALL), "--images", str(2**64)],
    ["validate", str(SMALL), "--images", "0"],
    ["sweep", "x.yaml", "--images", "-1"],
    ["reproduce", "dwcnn", "--hw-images", "0"],
])
def test_cli_numbers_are_range_checked(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main([*argv, "--out", str(tmp_path / "o")] if argv[0] != "validate" else argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "expected" in err and "argument --" in err
    assert list(tmp_path.iterdir()) == []
