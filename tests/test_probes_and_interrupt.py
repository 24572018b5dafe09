"""Waveform probes read back from the VCD, and an interrupted run leaves no whole-looking file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from vcd.reader import TokenKind, tokenize

from archsim.blocks.streams import input_streams
from archsim.cli import main
from archsim.config import load_config
from archsim.fabrics.sc_stream.elaborate import model_weights, network_spec
from archsim.fabrics.sc_stream.network import Network
from archsim.run import RunOptions, load_images, run_config
from archsim.sc import reference as R

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "arch_configs" / "dwcnn" / "small_conv_fc-shared.yaml"


def _vcd_series(path: Path) -> dict[str, list[tuple[int, int]]]:
    """{signal reference: [(time, value), ...]} from a VCD file."""
    names, series, now = {}, {}, 0
    scope: list[str] = []
    with open(path, "rb") as f:
        for tok in tokenize(f):
            if tok.kind is TokenKind.SCOPE:
                scope.append(tok.scope.ident)
            elif tok.kind is TokenKind.UPSCOPE:
                scope.pop()
            elif tok.kind is TokenKind.VAR:
                names[tok.var.id_code] = ".".join([*scope, tok.var.reference])
            elif tok.kind is TokenKind.CHANGE_TIME:
                now = tok.time_change
            elif tok.kind is TokenKind.CHANGE_SCALAR:
                series.setdefault(names[tok.scalar_change.id_code], []).append(
                    (now, _num(tok.scalar_change.value)))
            elif tok.kind is TokenKind.CHANGE_VECTOR:
                series.setdefault(names[tok.vector_change.id_code], []).append(
                    (now, _num(tok.vector_change.value)))
    return series


def _num(v) -> int:
    """A VCD value as an int; 'x' (not yet driven) as -1."""
    return v if isinstance(v, int) else (int(v) if str(v).isdigit() else -1)


def _value_at(changes: list[tuple[int, int]], cycles: np.ndarray) -> np.ndarray:
    t = np.array([c for c, _ in changes])
    v = np.array([x for _, x in changes])
    return v[np.searchsorted(t, cycles, side="right") - 1]


def test_probed_apc_count_matches_the_reference_datapath_and_the_ledger(tmp_path):
    out = tmp_path / "run"
    rc = main(["run", str(SMALL), "--out", str(out), "--quiet", "--images", "2",
               "--probe", "conv1.apc.count[5]", "--probe", "fc1.mux.select"])
    assert rc == 0
    series = _vcd_series(out / "waves.vcd")
    apc = next(v for k, v in series.items() if k.endswith("conv1.apc.count_5_"))
    sel = next(v for k, v in series.items() if k.endswith("fc1.mux.select"))
    # the NumPy reference datapath of image 0, conv1 inner product 5
    cfg = load_config(SMALL)
    spec = network_spec(cfg)
    w, _ = model_weights(cfg, spec)
    net = Network(spec, w)
    img = next(load_images(cfg, spec.input_shape, 0, 1, None)[0])
    L = spec.stream_length
    x = input_streams(img.pixels, spec.input_rng, L, spec.comparator)
    el = net.layers[0]
    n = el.spec.fan_in
    wp = el.weights.packed
    counts = R.conv_counts(x, np.ascontiguousarray(wp[:, : n - 1].reshape(2, 1, 3, 3, -1)),
                           np.ascontiguousarray(wp[:, n - 1]), L, True).reshape(-1, L)[5]
    res, trace = run_config(cfg, RunOptions(images=2, keep_trace=True))
    cycles = trace.produce["conv1"][0] - el.spec.depth_cycles  # when each bit was consumed
    assert len(cycles) == L and res.layers[0].stall_cycles > 0  # rewinds stall this design
    assert np.array_equal(_value_at(apc, cycles), counts)
    # the ledger counts one APC operation per unit per consumed bit of this image
    rows = res.ledger.rows()
    mask = (rows["block"] == "conv1.apc") & (rows["image"] == 0)
    assert rows["count"][mask].sum() == len(cycles) * res.ledger.blocks["conv1.apc"].instances
    # the MUX select walks 0..M-1 once per cycle
    M = -(-(18 + 1) // 3)
    fc_cycles = trace.produce["fc1"][0] - res.metadata["depth_cycles"]["fc1"]
    assert np.array_equal(_value_at(sel, fc_cycles), np.arange(L) % M)


def test_a_bad_probe_name_is_a_config_error_with_exit_2(tmp_path, capsys):
    rc = main(["run", str(SMALL), "--out", str(tmp_path / "r"), "--quiet",
               "--probe", "conv1.apc.count[999]"])
    assert rc == 2
    assert "probes[0]" in capsys.readouterr().err


@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery")
def test_sigint_mid_run_writes_nothing_and_leaves_no_temporary(tmp_path):
    out = tmp_path / "run"
    cfg = ROOT / "arch_configs" / "dwcnn" / "lenet5_dwm_sn128_fc-unshared.yaml"
    # 4,000 random images: ~100 s of simulation, far longer than the wait below on any machine
    # (400 MNIST images finished within the wait on a quiet one)
    proc = subprocess.Popen([sys.executable, "-m", "archsim", "run", str(cfg), "--images", "4000",
                             "--set", "dataset.name=random", "--out", str(out), "--quiet",
                             "--jobs", "1"],
                            stderr=subprocess.PIPE)
    time.sleep(10.0)  # loading and elaboration take ~2 s (more under load); then it simulates
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"interrupted" in err and b"Traceback" not in err
    # the run folder is written whole at the end or not at all
    assert sorted(p.name for p in tmp_path.iterdir()) == []
