"""The fabric interface is real: a second fabric, written in the test suite against the public
interface only, runs end to end through both engines, the worker pool, every writer and plot.

The fabric is ``tests/fabrics/int_mac.py`` (a binary integer MAC array with SRAM weights); it
imports ``archsim.engine.fabric``, ``archsim.engine.ledger``, ``archsim.engine.kinds``,
``archsim.fabrics``, ``archsim.config.schema`` and ``archsim.seeds`` and nothing else of
archsim -- no engine module knows it exists.  Unlike the SC stream fabric its layers wait for a
whole image (``waits_for = "image"``), so the tests also exercise that half of the engines'
time model.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engines_agree import assert_engines_agree
from fabrics import int_mac  # noqa: E402  (registers the fabric "int_mac")

from archsim.config import load_config  # noqa: E402
from archsim.config.errors import ConfigError  # noqa: E402
from archsim.config.validate_cli import validate_main  # noqa: E402
from archsim.run import RunOptions, run_config  # noqa: E402

HERE = Path(__file__).resolve().parent
DESIGN = HERE / "fabrics" / "int_mac_small.yaml"
ALLOWED = {"archsim.engine.fabric", "archsim.engine.ledger", "archsim.engine.kinds",
           "archsim.fabrics", "archsim.config.schema", "archsim.seeds"}


def test_the_test_fabric_imports_only_the_public_interface():
    tree = ast.parse(Path(int_mac.__file__).read_text())
    used = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    used |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    archsim = {m for m in used if m.startswith("archsim")}
    assert archsim == ALLOWED


def _both(overrides=()):
    cfg = load_config(DESIGN, list(overrides))
    fast, tf = run_config(cfg, RunOptions(keep_trace=True))
    slow, ts = run_config(cfg, RunOptions(mode="per-cycle", keep_trace=True))
    return cfg, fast, tf, slow, ts


@pytest.mark.parametrize("overrides", [(), ("clock=2 GHz",), ("macs=5", "dataset.images=6"),
                                       ("macs=200",)], ids=str)
def test_fast_engine_equals_per_cycle_engine(overrides):
    _, fast, tf, slow, ts = _both(overrides)
    assert_engines_agree(fast, tf, slow, ts)


def test_a_slower_memory_stalls_every_step():
    _, fast, _, _, _ = _both(("clock=2 GHz",))
    lay = fast.layers[0]
    cfg = load_config(DESIGN, ["clock=2 GHz"])
    steps = -(-12 * 16 // cfg.macs)
    assert lay.busy_cycles == steps * cfg.dataset.images
    assert lay.stall_cycles > 0


def test_outputs_are_the_plain_integer_network():
    cfg, fast, tf, _, _ = _both()
    net = int_mac.IntMacNetwork(cfg)
    from archsim.run import load_images

    images, _ = load_images(cfg, tuple(cfg.input_shape), 0, cfg.dataset.images, None)
    for k, img in enumerate(images):
        x = [int(p) >> (8 - cfg.activation_bits) for p in img.pixels.ravel()]
        for lay in net.layers:
            z = [sum(int(w) * v for w, v in zip(row, x, strict=True)) for row in lay.w]
            x = z if lay.is_last else [min(max(v, 0) >> lay.shift, 15) for v in z]
        assert tf.counts_sum[k].tolist() == x
        assert fast.accuracy[k].prediction == int(np.argmax(x))
        assert all(e == 0.0 for e in fast.accuracy[k].layer_error.values())


def test_energy_is_counts_times_cost():
    _, fast, _, _, _ = _both()
    dyn = 0.0
    for qname, counts in fast.ledger.action_counts().items():
        blk = fast.ledger.blocks[qname]
        dyn += sum(n * blk.actions[a].energy_pj for a, n in counts.items())
    leak = sum(b.total_leakage_mw for b in fast.ledger.blocks.values()) * fast.latency_ns
    assert fast.energy_pj() == pytest.approx(dyn + leak, rel=1e-12)
    assert fast.ledger.count("dense1.mac", "mac") == 12 * 16 * 4


def test_workers_give_the_same_run():
    cfg = load_config(DESIGN, ["dataset.images=8"])
    one, _ = run_config(cfg, RunOptions(jobs=1))
    two, _ = run_config(cfg, RunOptions(jobs=2))
    assert two.metadata["jobs"] == 2
    assert one.cycles == two.cycles
    assert one.ledger.action_counts() == two.ledger.action_counts()
    assert [r.prediction for r in one.accuracy] == [r.prediction for r in two.accuracy]


def test_every_output_and_plot(tmp_path):
    from archsim.outputs.run_folder import write_run_folder
    from archsim.plots import load_run, plot_run

    cfg = load_config(DESIGN)
    res, _ = run_config(cfg)
    out = tmp_path / "run"
    written = write_run_folder(res, out, config_name=cfg.name)
    names = {p.name for p in written}
    for f in ("summary.json", "stats.txt", "layers.csv", "blocks.csv", "accuracy.csv",
              "timeline.json", "config.resolved.yaml", "action_counts.yaml", "ERT.yaml"):
        assert f in names, f
    assert not (out / "INCOMPLETE").exists()
    figs = plot_run(load_run(out), out / "plots")
    assert figs and all(p.stat().st_size > 1000 for p in figs)
    # the fabric's own component kind is a category of its own in the breakdowns
    from archsim.plots.breakdown import energy_by_category

    parts = energy_by_category(load_run(out))
    assert parts["dense1"]["mac"] > 0 and "other" not in parts["dense1"]
    blocks = {b["name"]: b for b in __import__("json").loads(
        (out / "summary.json").read_text())["blocks"]}
    assert blocks["dense1.mac"]["role"] == "compute"
    assert blocks["dense1.weights"]["role"] == "storage"
    # the resolved config loads again as the same design of the same fabric
    again = load_config(out / "config.resolved.yaml")
    assert again.fabric == "int_mac" and again.macs == cfg.macs


def test_validate_checks_the_fabrics_own_section(capsys):
    assert validate_main(str(DESIGN)) == 0
    assert "int_mac" in capsys.readouterr().out
    assert validate_main(str(HERE / "fabrics" / "int_mac_zero_macs.yaml")) == 2
    err = capsys.readouterr().err
    assert "int_mac_zero_macs.yaml: macs: got 0" in err


def test_an_unknown_fabric_is_a_config_error():
    with pytest.raises(ConfigError) as e:
        load_config(DESIGN, ["fabric=no_such_fabric"])
    assert "fabric" in str(e.value) and "int_mac" in str(e.value)
