"""Interrupts and kills, with real processes: after SIGTERM or SIGKILL of ``archsim run --jobs
2`` or of a sweep no process of the run is alive within 5 s; Ctrl-C of a sweep cancels the
queued points and leaves a results table that agrees with the point folders; a killed worker
is a clear error in ``run`` and one failed point in a sweep."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archsim.sweep.folder import point_state

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc; signals")

ROOT = Path(__file__).resolve().parents[1]
LENET = ROOT / "arch_configs" / "dwcnn" / "lenet5_dwm_sn128_fc-unshared.yaml"
ENV = {k: v for k, v in os.environ.items() if k != "ARCHSIM_DATA"}


def _alive(marker: str) -> list[int]:
    """Live (not zombie) processes whose command line contains ``marker``."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state not in ("Z", "X"):
            pids.append(int(d.name))
    return pids


def _wait_for(cond, timeout: float, step: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _forked_children(pid: int) -> list[int]:
    """The children of ``pid`` forked from it (same command line): its workers, not helper
    processes it may have started (multiprocessing's resource tracker runs another command)."""
    def cmdline(p: int) -> bytes:
        try:
            return Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:
            return b""

    own = cmdline(pid)
    return [c for c in _children(pid) if cmdline(c) == own]


def _run_cmd(out: Path, images: int = 2000) -> list[str]:
    return [sys.executable, "-m", "archsim", "run", str(LENET), "--images", str(images),
            "--jobs", "2", "--set", "dataset.name=random", "--out", str(out), "--quiet"]


def _sweep_file(tmp_path: Path, points: int, images: int) -> Path:
    seeds = ", ".join(str(i + 1) for i in range(points))
    p = tmp_path / "s.yaml"
    p.write_text(f"base: {LENET}\nimages: {images}\naxes:\n  seed: [{seeds}]\n",
                 encoding="utf-8")
    return p


def _sweep_cmd(sweep: Path, out: Path, jobs: int = 2) -> list[str]:
    return [sys.executable, "-m", "archsim", "sweep", str(sweep), "--jobs", str(jobs),
            "--set", "dataset.name=random", "--out", str(out), "--quiet"]


def _start(cmd: list[str], group: bool = False) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
                            start_new_session=group)


def _table_agrees_with_folders(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        assert r["status"] == point_state(out / "points" / r["key"]), r
    return rows


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killing_run_jobs_2_leaves_no_process_alive(tmp_path, sig):
    out = tmp_path / "run"
    proc = _start(_run_cmd(out))
    marker = str(out)
    try:
        assert _wait_for(lambda: len(_children(proc.pid)) >= 2, 60), "workers never started"
        time.sleep(0.5)
        assert len(_alive(marker)) >= 3
        proc.send_signal(sig)
        t0 = time.monotonic()
        gone = _wait_for(lambda: not _alive(marker), 5.0)
        assert gone, f"still alive {time.monotonic() - t0:.1f} s after {sig.name}: " \
                     f"{_alive(marker)}"
        proc.wait(5)
        err = proc.stderr.read().decode()
        if sig == signal.SIGTERM:
            assert proc.returncode == 128 + signal.SIGTERM, err
            assert "terminated" in err and "Traceback" not in err
        assert not out.exists()  # nothing half-written
    finally:
        for pid in _alive(marker):
            os.kill(pid, signal.SIGKILL)


def test_a_killed_worker_of_run_is_a_clear_error(tmp_path):
    out = tmp_path / "run"
    proc = _start(_run_cmd(out))
    marker = str(out)
    try:
        assert _wait_for(lambda: len(_forked_children(proc.pid)) >= 2, 60)
        time.sleep(0.5)
        os.kill(_forked_children(proc.pid)[0], signal.SIGKILL)
        proc.wait(30)
        err = proc.stderr.read().decode()
        assert proc.returncode == 1, err
        assert "worker process" in err and "died" in err
        assert "Traceback" not in err and "BrokenProcessPool" not in err
        assert _wait_for(lambda: not _alive(marker), 5.0)
        assert not out.exists()
    finally:
        for pid in _alive(marker):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killing_a_sweep_leaves_no_process_alive(tmp_path, sig):
    out = tmp_path / "sweep-out"
    proc = _start(_sweep_cmd(_sweep_file(tmp_path, 4, 400), out))
    marker = str(out)
    try:
        assert _wait_for(lambda: len(_children(proc.pid)) >= 2, 60), "points never started"
        time.sleep(1.0)
        proc.send_signal(sig)
        assert _wait_for(lambda: not _alive(marker), 5.0), _alive(marker)
        proc.wait(5)
        if sig == signal.SIGTERM:
            err = proc.stderr.read().decode()
            assert proc.returncode == 128 + signal.SIGTERM, err
            assert "Traceback" not in err
            rows = _table_agrees_with_folders(out)
            assert len(rows) == 4 and not any(r["status"] == "ok" for r in rows)
        # nothing keeps writing: the folder does not change after the kill
        snap = sorted(str(p) for p in out.rglob("*"))
        time.sleep(1.0)
        assert sorted(str(p) for p in out.rglob("*")) == snap
    finally:
        for pid in _alive(marker):
            os.kill(pid, signal.SIGKILL)


def test_ctrl_c_of_a_sweep_cancels_queued_points_and_the_table_tells_the_truth(tmp_path):
    out = tmp_path / "sweep-out"
    # 6 points of ~4-10 s each on 2 workers (40 images each finished the whole sweep before the
    # signal on a quiet machine); Ctrl-C (SIGINT to the whole process group, as a terminal
    # sends it) once the first point is complete
    proc = _start(_sweep_cmd(_sweep_file(tmp_path, 6, 150), out), group=True)
    marker = str(out)
    try:
        def one_done() -> bool:
            return any(point_state(p) == "ok" for p in (out / "points").glob("*"))
        assert _wait_for(one_done, 120), "no point finished"
        os.killpg(proc.pid, signal.SIGINT)
        t0 = time.monotonic()
        proc.wait(10)
        stopped_in = time.monotonic() - t0
        err = proc.stderr.read().decode()
        assert proc.returncode == 130, err
        assert "queued points cancelled" in err and "Traceback" not in err
        assert stopped_in < 5.0
        assert _wait_for(lambda: not _alive(marker), 5.0)
        rows = _table_agrees_with_folders(out)
        states = [r["status"] for r in rows]
        assert "ok" in states  # the finished point is listed as finished ...
        assert states.count("ok") < 6  # ... and the queued ones did not run to the end
        assert set(states) <= {"ok", "not run", "incomplete"}
        # resume: the finished points are reused, the others run
        again = subprocess.run(_sweep_cmd(out.parent / "s.yaml", out), env=ENV,
                               capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        rows2 = _table_agrees_with_folders(out)
        assert all(r["status"] == "ok" for r in rows2)
        assert sum(r["cached"] == "True" for r in rows2) == states.count("ok")
    finally:
        for pid in _alive(marker):
            os.kill(pid, signal.SIGKILL)


def test_a_killed_point_worker_fails_that_point_only(tmp_path):
    out = tmp_path / "sweep-out"
    proc = _start(_sweep_cmd(_sweep_file(tmp_path, 3, 60), out))
    marker = str(out)
    try:
        assert _wait_for(lambda: len(_children(proc.pid)) >= 1, 60)
        time.sleep(0.5)
        os.kill(_children(proc.pid)[0], signal.SIGKILL)
        proc.wait(300)
        err = proc.stderr.read().decode()
        assert proc.returncode == 1, err
        assert "Traceback" not in err and "BrokenProcessPool" not in err
        rows = _table_agrees_with_folders(out)
        states = sorted(r["status"] for r in rows)
        assert states == ["failed", "ok", "ok"], rows
        bad = next(r for r in rows if r["status"] == "failed")
        assert "killed by signal SIGKILL" in bad["error"]
        assert "SIGKILL" in (out / "points" / bad["key"] / "error.txt").read_text()
    finally:
        for pid in _alive(marker):
            os.kill(pid, signal.SIGKILL)
