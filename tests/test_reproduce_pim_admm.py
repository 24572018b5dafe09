"""``archsim reproduce pim-admm`` (archsim.reproduce.pim_admm): its compression arithmetic, the
structured VGG-16 and ResNet-18 masks, two ResNet-18 hardware points, the trend check, and
(``slow``) the whole command on its hardware study and the shipped compressed models, whose
simulated predictions must equal the fixed-point reference's image by image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from archsim.reproduce import pim_admm
from archsim.resources import resolve
from archsim.workload import load_weights, load_workload

HAND = Path(__file__).resolve().parent / "pim_admm" / "hand.yaml"


def test_compression_rate_counts_kept_weights_and_bits(tmp_path: Path) -> None:
    keep = np.ones((4, 2, 3, 3), dtype=bool)
    keep[0] = False  # 18 of 72 conv weights pruned
    np.savez_compressed(tmp_path / "m.npz", conv1_mask=keep)
    wl = load_workload(HAND, [f"model.layers.conv1.mask={tmp_path / 'm.npz'}"])
    w = load_weights(wl)
    rate, kept = pim_admm.compression_rate(w, {"conv1": 2, "fc1": 4})
    assert kept == (54 + 48) / (72 + 48)
    assert rate == 32 * 120 / (54 * 2 + 48 * 4)


def test_monotonic() -> None:
    assert pim_admm.monotonic([3.0, 2.0, 2.0, 1.0], increasing=False)
    assert not pim_admm.monotonic([3.0, 2.0, 2.5], increasing=False)
    assert pim_admm.monotonic([1.0, 1.0, 4.0], increasing=True)


def test_vgg_masks_prune_filters_and_the_matching_input_channels(tmp_path: Path) -> None:
    masks = pim_admm.vgg_masks(0.5, 1, tmp_path)
    wl = load_workload(resolve("builtin:workloads/vgg16_cifar_pim.yaml"))
    ops = wl.weighted_ops
    assert sorted(masks) == sorted(op.name for op in ops)
    prev_kept = None
    for i, op in enumerate(ops):
        m = np.load(masks[op.name])[f"{op.name}_mask"]
        assert m.shape == op.weight_shape
        rows = m.reshape(m.shape[0], -1).any(axis=1)
        if i < len(ops) - 1:
            assert rows.sum() == round(0.5 * m.shape[0])
        else:
            assert rows.all()  # the 10 classes are kept
        if prev_kept is not None:
            cols = m.reshape(m.shape[0], m.shape[1], -1).any(axis=(0, 2))
            assert np.array_equal(cols, prev_kept)
        # structured: every kept filter keeps every live input channel (no mask plane)
        kept_block = m[rows][:, prev_kept] if prev_kept is not None else m[rows]
        assert kept_block.all()
        prev_kept = rows
    assert pim_admm.vgg_masks(1.0, 1, tmp_path / "none") == {}


def test_resnet_masks_prune_block_filters_and_the_matching_input_channels(
        tmp_path: Path) -> None:
    """The ResNet-18 masks prune each basic block's first convolution's filters and the
    matching input channels of its second, nothing else (the residual path's channels)."""
    masks = pim_admm.resnet_masks(0.375, 1, tmp_path)
    wl = load_workload(resolve(pim_admm.RESNET_WORKLOAD))
    blocks = [f"s{s}b{b}" for s in range(1, 5) for b in (1, 2)]
    assert sorted(masks) == sorted(f"{blk}_conv{i}" for blk in blocks for i in (1, 2))
    for blk in blocks:
        m1 = np.load(masks[f"{blk}_conv1"])[f"{blk}_conv1_mask"]
        m2 = np.load(masks[f"{blk}_conv2"])[f"{blk}_conv2_mask"]
        assert m1.shape == wl.op(f"{blk}_conv1").weight_shape
        assert m2.shape == wl.op(f"{blk}_conv2").weight_shape
        rows = m1.reshape(m1.shape[0], -1).any(axis=1)
        assert rows.sum() == round(0.375 * m1.shape[0])
        assert m1[rows].all() and not m1[~rows].any()  # whole filters
        cols = m2.any(axis=(0, 2, 3))
        assert np.array_equal(cols, rows)  # the second conv reads only the kept channels
        assert m2[:, cols].all()  # every filter of the second conv is kept
    assert pim_admm.resnet_masks(1.0, 1, tmp_path / "none") == {}


def test_resnet18_hardware_points(tmp_path: Path) -> None:
    """ResNet-18 runs on the SOT-MRAM design uncompressed and at the crossbar's rate: the
    compressed point maps fewer sub-arrays, has less area and energy per image, and its
    compression is counted from the masks and bits."""
    base = pim_admm.hardware_point("uncompressed W8", 1.0, 8, 2, tmp_path / "a", [],
                                   "resnet18")
    comp = pim_admm.hardware_point("inner filters 37.5 % W4", 0.375, 4, 2, tmp_path / "b",
                                   [], "resnet18")
    assert base["network"] == comp["network"] == "ResNet-18"
    assert base["compression"] == pytest.approx(4.0) and base["kept_fraction"] == 1.0
    assert 20.0 < comp["compression"] < 22.0  # beside the crossbar's 20.88x
    assert comp["subarrays"] < base["subarrays"] and comp["area_mm2"] < base["area_mm2"]
    assert comp["energy_uj_per_image"] < base["energy_uj_per_image"]
    assert comp["frames_per_s"] >= base["frames_per_s"]
    assert comp["layers"]["s1b1_conv1"]["mapped_filters"] == 24  # 37.5 % of 64
    assert comp["layers"]["s1b1_conv2"]["mapped_columns"] == 24 * 9


@pytest.mark.slow
def test_reproduce_pim_admm_end_to_end(tmp_path: Path) -> None:
    """``archsim reproduce pim-admm`` on its hardware study and every shipped model (200
    images): the report, tables and plots exist; simulated predictions equal the fixed-point
    reference's; compression raises frames/s and lowers area (non-strictly)."""
    from archsim.cli import main

    out = tmp_path / "out"
    assert main(["reproduce", "pim-admm", "--images", "200", "--hw-images", "2",
                 "--out", str(out), "--quiet"]) == 0
    assert (out / "report.md").is_file() and (out / "figures" /
                                              "hardware_vs_compression.png").is_file()
    pts = [json.loads(p.read_text()) for p in sorted((out / "points").glob("vgg16_*.json"))]
    assert len(pts) == len(pim_admm.VGG_POINTS)
    pts = [json.loads(p.read_text()) for p in sorted((out / "points").glob("resnet18_*.json"))]
    assert len(pts) == len(pim_admm.RESNET_POINTS)
    assert "ResNet-18 | ours" in (out / "report.md").read_text()
    for p in (json.loads(q.read_text()) for q in (out / "points").glob("pimc_*.json")):
        assert p["disagreements_sim_vs_reference"] == 0
