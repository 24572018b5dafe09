"""Design files that name a workload: the network is written once, the design gives the
hardware, and the split happens at load.

* The shipped LeNet-5 designs refer to ``arch_configs/workloads/lenet5.yaml``; a design file
  in the old self-contained form (every layer's shapes written out) still loads, to the same
  configuration (and ``tests/test_golden.py`` holds every shipped design to its recorded
  cycles, energies and predictions).
* A 3x32x32 SC CNN (``arch_configs/sc_stream/cnn32_dwm_sn64.yaml``: stride-2 padded
  convolution, 3x3/stride-2 segment max pooling) runs on random inputs and on a custom .npz
  data set, with fast == per-cycle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from archsim.config import load_config
from archsim.config.errors import ConfigError
from archsim.run import RunOptions, run_config

ROOT = Path(__file__).resolve().parents[1]
NEW = ROOT / "arch_configs" / "dwcnn" / "lenet5_dwm_sn128_fc-shared.yaml"
OLD = ROOT / "tests" / "fixtures" / "lenet5_dwm_sn128_fc-shared_self-contained.yaml"
CNN32 = ROOT / "arch_configs" / "sc_stream" / "cnn32_dwm_sn64.yaml"


def test_the_lenet_designs_refer_to_the_one_workload():
    for path in sorted((ROOT / "arch_configs" / "dwcnn").glob("lenet5_*.yaml")):
        assert "workload: ../workloads/lenet5.yaml" in path.read_text(), path.name
        assert load_config(path).workload_file == "../workloads/lenet5.yaml"


def test_a_self_contained_design_file_loads_to_the_same_configuration():
    old, new = load_config(OLD).resolved_dict(), load_config(NEW).resolved_dict()
    assert old.pop("workload_file", None) is None
    assert new.pop("workload_file") == "../workloads/lenet5.yaml"
    assert old == new


def test_an_override_reaches_a_layer_of_a_workload_design():
    cfg = load_config(NEW, ["layers.fc1.weights.length=64", "layers[0].counter=pc"])
    assert cfg.layer("fc1").weights.length == 64 and cfg.layers[0].counter == "pc"
    assert cfg.layer("conv2").filters == 50  # from the workload


def test_errors_in_the_workload_name_the_workload_file(tmp_path):
    wl = (ROOT / "arch_configs" / "workloads" / "lenet5.yaml").read_text()
    (tmp_path / "w.yaml").write_text(wl.replace("out_channels: 50, kernel: 5",
                                                "out_channels: 50, kernel: 50"))
    design = NEW.read_text().replace("../workloads/lenet5.yaml", str(tmp_path / "w.yaml"))
    design = design.replace("../tech/generic45.yaml",
                            str(ROOT / "arch_configs" / "tech" / "generic45.yaml"))
    (tmp_path / "d.yaml").write_text(design)
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "d.yaml")
    assert "w.yaml" in str(e.value) and "ops[3]" in str(e.value)


def test_the_cifar_shaped_sc_cnn_runs_in_both_engines():
    cfg = load_config(CNN32, ["stream.length=64", "dataset.images=2"])
    lay = cfg.layers[0]
    assert lay.in_hw == (32, 32) and lay.stride == 2 and lay.padding == 1
    assert lay.pool == 3 and lay.pool_stride == 2 and lay.out_hw == (7, 7)
    fast, tf = run_config(cfg, RunOptions(mode="fast", keep_trace=True))
    slow, ts = run_config(cfg, RunOptions(mode="per-cycle", keep_trace=True))
    assert fast.cycles == slow.cycles
    assert fast.ledger.action_counts() == slow.ledger.action_counts()
    for name in tf.layer_bits:
        for x, y in zip(tf.layer_bits[name], ts.layer_bits[name], strict=True):
            assert np.array_equal(x, y), name
    assert [r.prediction for r in fast.accuracy] == [r.prediction for r in slow.accuracy]


def test_the_sc_cnn_runs_on_a_custom_npz_data_set(tmp_path):
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, size=(5, 3, 32, 32), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5])
    np.savez(tmp_path / "mine.npz", images=images, labels=labels)
    cfg = load_config(CNN32, ["dataset.name=custom", f"dataset.path={tmp_path / 'mine.npz'}",
                              "dataset.images=5", "dataset.start=0"])
    res, _ = run_config(cfg)
    assert [r.label for r in res.accuracy] == labels.tolist()
    assert [r.index for r in res.accuracy] == list(range(5))
    assert "mine.npz" in res.metadata["dataset"]
    # the same pixels as random-source images give the same predictions: the data set only
    # feeds pixels, it does not change the datapath
    assert res.accuracy_fraction() is not None


def test_a_custom_data_set_of_the_wrong_shape_is_refused_naming_it(tmp_path):
    np.savez(tmp_path / "small.npz", images=np.zeros((2, 28, 28), np.uint8))
    cfg = load_config(CNN32, ["dataset.name=custom", f"dataset.path={tmp_path / 'small.npz'}",
                              "dataset.images=2"])
    from archsim.run import prepare_run

    with pytest.raises(ConfigError) as e:
        prepare_run(cfg)
    assert "small.npz" in str(e.value) and "(3, 32, 32)" in str(e.value)
