"""The aggregated event log keeps every (layer, block, action): blocks of one name in two
layers (each LeNet-5 layer has its own weight memory, counters, ...) are two rows, not one
under the first layer's label."""

from __future__ import annotations

from pathlib import Path

import pytest

from archsim.config import load_config
from archsim.outputs.events import event_columns, write_events
from archsim.run import RunOptions, run_config

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "arch_configs" / "dwcnn" / "lenet5_dwm_sn128_fc-shared_pc_sc.yaml"


@pytest.fixture(scope="module")
def quickstart_result():
    cfg = load_config(QUICKSTART, ["dataset.name=random"])
    result, _ = run_config(cfg, RunOptions(images=2))
    return result


def _ledger_counts(result) -> dict[tuple[str, str, str], int]:
    want: dict[tuple[str, str, str], int] = {}
    for q, acts in result.ledger.action_counts().items():
        blk = result.ledger.blocks[q]
        for action, n in acts.items():
            if n:
                want[(blk.layer, blk.name, action)] = int(n)
    return want


@pytest.mark.parametrize("events", ["aggregated", "per-action"])
def test_every_layer_block_action_of_the_quickstart_run_is_in_the_event_log(
        quickstart_result, events):
    cols = event_columns(quickstart_result, events)
    got: dict[tuple[str, str, str], int] = {}
    for lay, blk, act, n in zip(cols["layer"], cols["block"], cols["action"], cols["count"],
                                strict=True):
        key = (str(lay), str(blk), str(act))
        got[key] = got.get(key, 0) + int(n)
    want = _ledger_counts(quickstart_result)
    layers = {lay for lay, _, _ in want}
    assert {"conv1", "conv2", "fc1", "fc2"} <= layers
    assert {k: v for k, v in got.items() if v} == want
    # the same short block name in several layers: the case that merged before
    names: dict[str, set[str]] = {}
    for lay, blk, _ in want:
        names.setdefault(blk, set()).add(lay)
    assert any(len(v) > 1 for v in names.values())


def test_aggregated_rows_are_unique_per_image_layer_block_action(quickstart_result, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    write_events(quickstart_result, tmp_path)
    rows = pq.read_table(tmp_path / "events.parquet").to_pydict()
    keys = list(zip(rows["image"], rows["layer"], rows["block"], rows["action"], strict=True))
    assert len(keys) == len(set(keys))
    assert {"conv1", "conv2", "fc1", "fc2"} <= set(rows["layer"])
