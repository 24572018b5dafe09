"""Compression-aware mapping on the bit-plane PIM fabric (issue 17), on a hand-sized network.

``tests/pim_admm/hand.yaml``: input 2x4x4 (8-bit pixels), conv1 4 filters 2x3x3 (fan-in 18,
4 output positions, W = 2 bits, DoReFa, no bias), 2-bit re-quantization, flatten (16), fc1 3
outputs (W = 2). Design ``hand_sot.yaml``: sub-arrays of 16 rows x 8 bit-lines, one window,
one replica, write 2 cycles, AND / read 1 cycle each (1 GHz, ``sot_mram45.yaml``), 4 digital
lanes. For each mask below the sub-array counts, per-step cycles and activation writes are
worked out by hand from docs/pim-bitplane.md section 2 and compared with the simulation (fast
and per-cycle engines). A second test makes the unmapped weights garbage behind the loader's
back: a datapath that read them would change its outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import archsim.fabrics.pim_bitplane.network as pim_network
from archsim.config import load_config
from archsim.run import RunOptions, run_config
from archsim.workload import save_weights

HERE = Path(__file__).resolve().parent / "pim_admm"
DESIGN = HERE / "hand_sot.yaml"
K1, M = 8, 2  # conv1 reads 8-bit pixels; both layers 2-bit weights
K2 = 2  # fc1 reads the 2-bit codes of q1


def _model(tmp_path: Path, conv_keep: np.ndarray | None, fc_keep: np.ndarray | None,
           garbage: float = 0.0) -> Path:
    """A DoReFa W2 export ((2u - 3) / 3, so s = 1) with the masks; ``garbage``: the value
    written into pruned weights (the loader zeroes them)."""
    rng = np.random.default_rng(7)
    arrays: dict[str, np.ndarray] = {}
    for name, shape, keep in (("conv1", (4, 2, 3, 3), conv_keep), ("fc1", (3, 16), fc_keep)):
        u = rng.integers(0, 4, size=shape)
        u.flat[0] = 3  # s = max |w| = 1
        w = (2 * u - 3) / 3.0
        if keep is not None:
            w = np.where(keep, w, garbage)
            arrays[f"{name}_mask"] = keep.astype(np.uint8)
        arrays[f"{name}_w"] = w
    return save_weights(tmp_path / "model.npz", arrays)


def _run(model: Path, mode: str = "fast", images: int = 1):
    cfg = load_config(DESIGN, [f"model.weights={model}", f"dataset.images={images}"])
    return run_config(cfg, RunOptions(mode=mode))[0]


def _conv_keep(filters: tuple[int, ...] = (), channels: tuple[int, ...] = (),
               weights: tuple[tuple[int, int], ...] = ()) -> np.ndarray:
    keep = np.ones((4, 2, 3, 3), dtype=bool)
    for f in filters:
        keep[f] = False
    for c in channels:
        keep[:, c] = False
    flat = keep.reshape(4, 18)
    for f, col in weights:
        flat[f, col] = False
    return keep


# Hand-computed conv1 figures per mask: (mapped filters F, mapped columns N, mask plane,
# filters per sub-array fit = (16 - K1) // (M + mask), sub-arrays = ceil(N / 8) x
# ceil(F / fit), cycles of one step = K1 x 2 (writes) + min(fit, F) (M + mask) K1 x 1
# (+ K1 x 1 activation-count reads without a mask plane), activation writes per image =
# K1 x N x filter sets x 4 windows (the run also writes the weights once: (M + mask) F N),
# ANDs per image = K1 (M + mask) F N x 4)
CASES = {
    # nothing pruned: 3 chunks x 1 filter set; step 16 + 4*2*8 + 8 = 88
    "dense": (None, dict(F=4, N=18, mask=False, sub=3, step=88, writes=8 * 18 * 4,
                         ands=8 * 2 * 4 * 18 * 4)),
    # filter 3 and input channel 1 pruned (structured): F 3, N 9, no mask plane needed,
    # 2 chunks; step 16 + 3*2*8 + 8 = 72
    "filter+channel": (_conv_keep(filters=(3,), channels=(1,)),
                       dict(F=3, N=9, mask=False, sub=2, step=72, writes=8 * 9 * 4,
                            ands=8 * 2 * 3 * 9 * 4)),
    # two filters pruned: F 2, N 18: 3 chunks; step 16 + 2*2*8 + 8 = 56
    "two filters": (_conv_keep(filters=(0, 2)),
                    dict(F=2, N=18, mask=False, sub=3, step=56, writes=8 * 18 * 4,
                         ands=8 * 2 * 2 * 18 * 4)),
    # one weight pruned (unstructured): mask plane, fit 8 // 3 = 2 -> 2 filter sets, 6
    # sub-arrays; step 16 + 2*3*8 = 64 (no reads); writes double (two filter sets)
    "one weight": (_conv_keep(weights=((0, 0),)),
                   dict(F=4, N=18, mask=True, sub=6, step=64, writes=8 * 18 * 2 * 4,
                        ands=8 * 3 * 4 * 18 * 4)),
    # channel 0 pruned and column (1, 2, 2) = 17 pruned in every filter: N = 8 -> 1 chunk
    "channel+column": (_conv_keep(channels=(0,), weights=tuple((f, 17) for f in range(4))),
                       dict(F=4, N=8, mask=False, sub=1, step=88, writes=8 * 8 * 4,
                            ands=8 * 2 * 4 * 8 * 4)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hand_sized_conv_layer(case: str, tmp_path: Path) -> None:
    keep, want = CASES[case]
    model = _model(tmp_path, keep, None)
    for mode in ("fast", "per-cycle"):
        res = _run(model, mode)
        lay = res.metadata["layers"]["conv1"]
        assert lay["mapped_filters"] == want["F"] and lay["mapped_columns"] == want["N"]
        assert lay["masked"] == want["mask"] and lay["subarrays"] == want["sub"]
        assert lay["steps"] == 4
        # the storage a compression rate counts: all weights, and those the mask keeps
        kept = 4 * 2 * 3 * 3 if keep is None else int(np.count_nonzero(keep))
        assert lay["weights"] == 4 * 2 * 3 * 3 and lay["weights_kept"] == kept
        counts = res.ledger.action_counts()["conv1.compute"]
        # activation writes + the one-time weight load ((M + mask) F N cells, once per run)
        load = (M + int(want["mask"])) * want["F"] * want["N"]
        assert counts["write"] == want["writes"] + load
        assert counts["and"] == want["ands"]
        assert counts["read"] == (0 if want["mask"] else 8 * want["N"] * 4)
        t = res.layers[0]
        assert t.busy_cycles + t.stall_cycles == 4 * want["step"]
        assert all(e == 0.0 for r in res.accuracy for e in r.layer_error.values())


def test_fewer_weight_bits_fewer_planes(tmp_path: Path) -> None:
    model = _model(tmp_path, None, None)
    cfg = load_config(DESIGN, [f"model.weights={model}", "dataset.images=1",
                               "workload_set=[model.layers.conv1.bits=1]"])
    res = run_config(cfg)[0]
    # M = 1: fit 8 filters, 3 sub-arrays; step 16 + 4*1*8 + 8 = 56; ANDs halve
    assert res.metadata["layers"]["conv1"]["weight_bits"] == 1
    assert res.ledger.action_counts()["conv1.compute"]["and"] == 8 * 1 * 4 * 18 * 4
    t = res.layers[0]
    assert t.busy_cycles + t.stall_cycles == 4 * 56


def test_pruned_filters_feed_no_activation_writes(tmp_path: Path) -> None:
    """conv1 filter 3 pruned (no bias): its 4 output codes are 0 in every image, so fc1's
    columns 12..15 are not mapped and their activations are never written (fc1: 1 window, F
    = 3, N = 12, 2 chunks of 8: writes K2 x N = 24; ANDs K2 M F N = 144)."""
    model = _model(tmp_path, _conv_keep(filters=(3,)), None)
    res = _run(model)
    fc = res.metadata["layers"]["fc1"]
    assert fc["mapped_columns"] == 12 and not fc["masked"] and fc["subarrays"] == 2
    counts = res.ledger.action_counts()["fc1.compute"]
    assert counts["write"] == K2 * 12 + M * 3 * 12 and counts["and"] == K2 * M * 3 * 12
    full = _run(_model(tmp_path, None, None))
    assert full.ledger.action_counts()["fc1.compute"]["write"] == K2 * 16 + M * 3 * 16
    # a pruned fc1 filter needs no sub-array row: F = 2
    fck = np.ones((3, 16), dtype=bool)
    fck[1] = False
    res2 = _run(_model(tmp_path, None, fck))
    assert res2.metadata["layers"]["fc1"]["mapped_filters"] == 2


@pytest.mark.parametrize("mode", ["fast", "per-cycle"])
def test_unmapped_weights_are_never_read(tmp_path: Path, mode: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Write the largest code into every weight of a pruned filter or a pruned column after
    the loader has zeroed them: predictions, outputs and counts must not change (a datapath
    that mapped or sensed them would see the garbage)."""
    keep = _conv_keep(filters=(1,), channels=(0,))
    fck = np.ones((3, 16), dtype=bool)
    fck[:, 5] = False
    fck[2] = False
    model = _model(tmp_path, keep, fck)
    cfg = load_config(DESIGN, [f"model.weights={model}", "dataset.images=2",
                               "reference_check=false"])
    clean, clean_t = run_config(cfg, RunOptions(mode=mode, keep_trace=True))
    real = pim_network.PimLayerModel

    def corrupt(op, codes, keep, u, *args, **kwargs):  # type: ignore[no-untyped-def]
        """The layer as elaborated, with the largest W2 code (3; stored u 3) in every weight
        of a filter or fan-in column its mask prunes entirely."""
        assert keep is not None
        k2 = keep.reshape(keep.shape[0], -1)
        unmapped = ~k2.any(axis=1)[:, None] | ~k2.any(axis=0)[None, :]
        assert unmapped.any()
        codes, u = np.array(codes).reshape(k2.shape), np.array(u).reshape(k2.shape)
        codes[unmapped], u[unmapped] = 3, 3
        return real(op, codes.reshape(keep.shape), keep, u.reshape(keep.shape), *args,
                    **kwargs)

    monkeypatch.setattr(pim_network, "PimLayerModel", corrupt)
    dirty, dirty_t = run_config(cfg, RunOptions(mode=mode, keep_trace=True))
    assert [r.prediction for r in dirty.accuracy] == [r.prediction for r in clean.accuracy]
    for name in ("conv1", "fc1"):
        assert all(np.array_equal(a, b) for a, b in
                   zip(dirty_t.layer_bits[name], clean_t.layer_bits[name], strict=True))
    assert dirty.ledger.action_counts() == clean.ledger.action_counts()
    assert dirty.cycles == clean.cycles

    # and the check has teeth: the same garbage in a mapped weight changes the outputs
    def corrupt_mapped(op, codes, keep, u, *args, **kwargs):  # type: ignore[no-untyped-def]
        codes, u = np.array(codes), np.array(u)
        if op.name == "fc1":
            codes[0], u[0] = -codes[0], 3 - u[0]  # fc1's filter 0 negated (DoReFa W2)
        return real(op, codes, keep, u, *args, **kwargs)

    monkeypatch.setattr(pim_network, "PimLayerModel", corrupt_mapped)
    _, bad_t = run_config(cfg, RunOptions(mode=mode, keep_trace=True))
    assert any(not np.array_equal(a, b) for a, b in
               zip(bad_t.layer_bits["fc1"], clean_t.layer_bits["fc1"], strict=True))


# ------------------------------------------------------------------ broken compression configs
BROKEN = Path(__file__).resolve().parent / "broken_pim_admm"
#: design -> the key path its error names (the masks' keys are the arrays of the .npz named)
BROKEN_TABLE = {
    "activation_bits_9.yaml": "ops[1].bits",
    "mask_empties_layer.yaml": "fc1_mask",
    "mask_file_no_array.yaml": "conv1_mask",
    "mask_file_shape.yaml": "conv1_mask",
    "mask_not_binary.yaml": "conv1_mask",
    "mask_shape.yaml": "conv1_mask",
    "mask_twice.yaml": "model.layers.conv1.mask",
    "quantizer_unknown.yaml": "model.layers.conv1.quantizer",
    "sparsity_all.yaml": "model.layers.fc1.sparsity",
    "weight_bits_0.yaml": "model.layers.fc1.bits",
    "weight_bits_9.yaml": "model.layers.conv1.bits",
}


def test_every_broken_compression_config_is_in_the_table() -> None:
    assert sorted(p.name for p in BROKEN.glob("*.yaml")) == sorted(BROKEN_TABLE)
    assert len(BROKEN_TABLE) >= 6


@pytest.mark.parametrize(("name", "key"), sorted(BROKEN_TABLE.items()))
def test_validate_rejects_broken_compression_configs(name: str, key: str,
                                                     capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from archsim.config.validate_cli import validate_main

    monkeypatch.chdir(tmp_path)
    assert validate_main(str(BROKEN / name)) == 2
    err = capsys.readouterr().err
    assert f": {key}: got " in err and "; expected " in err
    assert list(tmp_path.iterdir()) == []  # nothing written
