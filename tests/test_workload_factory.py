"""The workload factory: YAML -> frozen Workload, inferred shapes, and the broken files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from archsim.config.errors import MISSING, ConfigError
from archsim.workload import (
    Add,
    Conv2d,
    Dense,
    MaxPool,
    load_workload,
    workload_from_dict,
)

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = ROOT / "arch_configs" / "workloads"
BROKEN = ROOT / "tests" / "broken_workloads"

# file -> (exact key path of the error, file the message must name if not the file itself)
BROKEN_TABLE: dict[str, tuple[str, str | None]] = {
    "conv_kernel_too_big.yaml": ("ops[3].kernel", None),
    "dense_without_flatten.yaml": ("ops[3]", None),
    "conv_after_dense.yaml": ("ops[2]", None),
    "groups_not_divisor.yaml": ("ops[0].groups", None),
    "unknown_op_kind.yaml": ("ops[1].op", None),
    "unknown_key_typo.yaml": ("ops[0].out_chanels", None),
    "duplicate_op_name.yaml": ("ops[2].name", None),
    "add_shape_mismatch.yaml": ("ops[3].other", None),
    "add_later_reference.yaml": ("ops[1].other", None),
    "input_unknown_op.yaml": ("ops[1].input", None),
    "bad_input_shape.yaml": ("input.shape", None),
    "bad_mapping.yaml": ("input.mapping", None),
    "mnist_wrong_shape.yaml": ("dataset.name", None),
    "model_layers_unknown_op.yaml": ("model.layers.pool1", None),
    "quantize_bits_out_of_range.yaml": ("ops[2].bits", None),
    "pool_kernel_too_big.yaml": ("ops[1].kernel", None),
    "btanh_gain_not_positive.yaml": ("ops[2].s", None),
    "kernel_wrong_type.yaml": ("ops[0].kernel", None),
    "string_integer.yaml": ("ops[0].out_channels", None),
    "duplicate_key.yaml": ("", None),
    "missing_ops.yaml": ("ops", None),
    "weights_missing_file.yaml": ("model.weights", None),
    "unknown_builtin_model.yaml": ("model.weights", None),
    "custom_without_path.yaml": ("dataset.path", None),
    "seed_with_builtin.yaml": ("model.seed", None),
    "included_bad_op.yaml": ("ops[0].stride", "parts/bad_ops_part.yaml"),
}


def test_every_broken_workload_is_in_the_table() -> None:
    assert sorted(p.name for p in BROKEN.glob("*.yaml")) == sorted(BROKEN_TABLE)
    assert len(BROKEN_TABLE) >= 12


@pytest.mark.parametrize(("name", "expect"), sorted(BROKEN_TABLE.items()))
def test_broken_workload_names_file_key_value_and_expected(
    name: str, expect: tuple[str, str | None]
) -> None:
    key_path, named = expect
    with pytest.raises(ConfigError) as info:
        load_workload(BROKEN / name)
    err = info.value
    assert err.key_path == key_path, str(err)
    message = str(err)
    assert (named or name) in message
    assert (named or name) in (err.file or "")
    if key_path:
        assert f": {key_path}: " in message
    assert "got " in message and "; expected " in message
    assert err.expected and err.value is not None
    assert "\n" not in message


def test_broken_messages_say_what_fits() -> None:
    def msg(name: str) -> str:
        with pytest.raises(ConfigError) as info:
            load_workload(BROKEN / name)
        return str(info.value)

    assert "got [13, 13]; expected a kernel no larger than the padded input 12x12" in msg(
        "conv_kernel_too_big.yaml")
    assert "put a flatten op before this dense op" in msg("dense_without_flatten.yaml")
    assert "did you mean 'out_channels'?" in msg("unknown_key_typo.yaml")
    assert "one of conv2d, maxpool" in msg("unknown_op_kind.yaml")
    assert "ops[1] is also named 'act1'" in msg("duplicate_op_name.yaml")
    assert "input shape (8, 8, 8) (from 'conv2'); 'relu1' produces (4, 8, 8)" in msg(
        "add_shape_mismatch.yaml")
    assert "an op reads only the input or earlier ops" in msg("add_later_reference.yaml")
    assert "each key once per mapping" in msg("duplicate_key.yaml")
    assert "1x28x28" in msg("mnist_wrong_shape.yaml")
    assert "a conv2d or dense op (conv1)" in msg("model_layers_unknown_op.yaml")
    assert "builtin:lenet5_mnist" in msg("unknown_builtin_model.yaml")


def test_lenet5_workload_shapes_and_fan_in() -> None:
    wl = load_workload(WORKLOADS / "lenet5.yaml")
    assert wl.name == "lenet5"
    assert wl.input.shape == (1, 28, 28) and wl.input.mapping == "bipolar"
    assert [op.name for op in wl.ops] == ["conv1", "pool1", "act1", "conv2", "pool2", "act2",
                                          "flatten", "fc1", "act3", "fc2"]
    shapes = [op.out_shape for op in wl.ops]
    assert shapes == [(20, 24, 24), (20, 12, 12), (20, 12, 12), (50, 8, 8), (50, 4, 4),
                      (50, 4, 4), (800,), (500,), (500,), (10,)]
    conv1, conv2 = wl.op("conv1"), wl.op("conv2")
    assert isinstance(conv1, Conv2d) and isinstance(conv2, Conv2d)
    assert conv1.weight_shape == (20, 1, 5, 5) and conv1.bias_shape == (20,)
    assert conv2.weight_shape == (50, 20, 5, 5)
    # fan_in: products per output, bias NOT counted; the SC counter adds one input for it
    assert conv1.fan_in == 25 and conv1.counter_inputs == 26
    assert conv2.fan_in == 500 and conv2.counter_inputs == 501
    fc1 = wl.op("fc1")
    assert isinstance(fc1, Dense) and fc1.weight_shape == (500, 800) and fc1.fan_in == 800
    assert wl.op("pool1").fan_in == 0 and wl.op("pool1").weight_shape is None
    # 784-11520-2880-3200-800-500-10 (DW-CNN)
    assert [wl.op(n).out_count for n in ("conv1", "pool1", "conv2", "pool2", "fc1", "fc2")] \
        == [11520, 2880, 3200, 800, 500, 10]
    assert conv1.macs == 11520 * 25
    assert [s.layer.name for s in wl.stages()] == ["conv1", "conv2", "fc1", "fc2"]
    assert [s.output for s in wl.stages()] == ["act1", "flatten", "act3", "fc2"]
    assert wl.model.weights == "builtin:lenet5_mnist" and wl.model.clip == 1.0
    assert wl.dataset.name == "mnist" and wl.dataset.split == "test"
    assert "conv1" in wl.summary() and "(20, 24, 24)" in wl.summary()


def test_lenet5_fan_in_matches_the_architecture_schema() -> None:
    """The architecture schema's fan_in excludes the bias (archsim.config.schema), the block
    specs' includes it (archsim.blocks.specs.LayerSpec): the workload's is the former and
    ``counter_inputs`` the latter."""
    from archsim.config import load_config
    from archsim.fabrics.sc_stream.elaborate import network_spec

    cfg = load_config(ROOT / "arch_configs" / "dwcnn" / "lenet5_dwm_sn128_fc-shared_pc.yaml")
    spec = network_spec(cfg)
    wl = load_workload(WORKLOADS / "lenet5.yaml")
    for layer, lay_spec, stage in zip(cfg.layers, spec.layers, wl.stages(), strict=True):
        op = stage.layer
        assert op.name == layer.name
        assert op.fan_in == layer.fan_in
        assert op.counter_inputs == lay_spec.fan_in
        assert op.out_count == lay_spec.neurons  # inner products, before pooling
        assert stage.ops[-1].out_count == layer.output_count  # after pooling


def test_small_cnn32_shapes() -> None:
    wl = load_workload(WORKLOADS / "small_cnn32.yaml")
    got = {op.name: op.out_shape for op in wl.ops}
    assert got["conv1"] == (16, 16, 16)  # (32 + 2 - 3) // 2 + 1
    assert got["pool1"] == (16, 7, 7)    # (16 - 3) // 2 + 1
    assert got["conv2"] == (32, 7, 7)
    assert got["pool2"] == (32, 3, 3)
    assert got["flatten"] == (288,) and got["fc1"] == (10,)
    conv2 = wl.op("conv2")
    assert isinstance(conv2, Conv2d) and conv2.groups == 2
    assert conv2.weight_shape == (32, 8, 3, 3) and conv2.fan_in == 72
    res = wl.op("res")
    assert isinstance(res, Add) and res.inputs == ("conv3", "relu2")
    pool1 = wl.op("pool1")
    assert isinstance(pool1, MaxPool) and pool1.kernel == (3, 3) and pool1.stride == (2, 2)
    assert wl.model.layers["conv3"].sparsity == 0.5 and wl.model.layers["fc1"].bits == 8


def _tiny(**op: object) -> dict[str, object]:
    return {"input": {"shape": [2, 5, 7], "mapping": "raw"}, "ops": [{"name": "x", **op}]}


@pytest.mark.parametrize(
    ("op", "shape"),
    [
        ({"op": "conv2d", "out_channels": 4, "kernel": 3}, (4, 3, 5)),
        ({"op": "conv2d", "out_channels": 4, "kernel": [3, 5]}, (4, 3, 3)),
        ({"op": "conv2d", "out_channels": 4, "kernel": 3, "stride": 2}, (4, 2, 3)),
        ({"op": "conv2d", "out_channels": 4, "kernel": 3, "stride": [1, 2], "padding": 1},
         (4, 5, 4)),
        ({"op": "conv2d", "out_channels": 4, "kernel": 1, "padding": [0, 2]}, (4, 5, 11)),
        ({"op": "conv2d", "out_channels": 6, "kernel": 2, "groups": 2}, (6, 4, 6)),
        ({"op": "maxpool", "kernel": 2}, (2, 2, 3)),
        ({"op": "avgpool", "kernel": 3, "stride": 2}, (2, 2, 3)),
        ({"op": "maxpool", "kernel": [1, 3], "stride": 1}, (2, 5, 5)),
        ({"op": "flatten"}, (70,)),
        ({"op": "batchnorm"}, (2, 5, 7)),
        ({"op": "quantize", "bits": 3}, (2, 5, 7)),
    ],
)
def test_shape_rules(op: dict[str, object], shape: tuple[int, ...]) -> None:
    wl = workload_from_dict(_tiny(**op))
    assert wl.ops[0].out_shape == shape
    assert wl.ops[0].in_shape == (2, 5, 7)


def test_workload_is_frozen_and_ops_have_keys() -> None:
    wl = load_workload(WORKLOADS / "lenet5.yaml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        wl.name = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        wl.ops[0].name = "x"  # type: ignore[misc]
    assert wl.ops[3].key == "ops[3]"
    with pytest.raises(KeyError):
        wl.op("conv9")


def test_overrides_and_their_errors() -> None:
    wl = load_workload(WORKLOADS / "lenet5.yaml", ["ops.conv1.out_channels=6",
                                                   "model.weights=random"])
    assert wl.op("conv1").out_shape == (6, 24, 24)
    assert wl.op("conv2").weight_shape == (50, 6, 5, 5)
    with pytest.raises(ConfigError) as info:
        load_workload(WORKLOADS / "lenet5.yaml", ["ops.conv2.kernel=13"])
    assert info.value.key_path == "ops[3].kernel"
    assert info.value.file == "override 'ops.conv2.kernel=13'"


def test_explicit_input_reads_an_earlier_op() -> None:
    wl = workload_from_dict({
        "input": {"shape": [1, 6, 6], "mapping": "raw"},
        "ops": [
            {"name": "a", "op": "conv2d", "out_channels": 2, "kernel": 3, "padding": 1},
            {"name": "b", "op": "relu"},
            {"name": "c", "op": "conv2d", "out_channels": 2, "kernel": 1, "input": "input"},
            {"name": "d", "op": "add", "other": "b"},
        ],
    })
    assert wl.op("c").input == "input" and wl.op("c").in_shape == (1, 6, 6)
    assert wl.op("d").inputs == ("c", "b")


def test_workload_from_dict_errors_name_the_source() -> None:
    with pytest.raises(ConfigError) as info:
        workload_from_dict({"input": {"shape": [1, 4, 4], "mapping": "raw"}}, source="mine")
    assert info.value.file == "<mine>" and info.value.key_path == "ops"
    assert info.value.value is MISSING
    with pytest.raises(ConfigError) as info:
        workload_from_dict(_tiny(op="dense", outputs=0))
    assert info.value.key_path == "ops[0].outputs"
    with pytest.raises(ConfigError) as info:
        workload_from_dict(_tiny(op="conv2d", out_channels=2, kernel=3, padding=-1))
    assert info.value.key_path == "ops[0].padding"
    with pytest.raises(ConfigError) as info:
        workload_from_dict(_tiny(op="relu", name="input"))
    assert info.value.key_path == "ops[0].name"
    with pytest.raises(ConfigError) as info:
        workload_from_dict({**_tiny(op="flatten"), "dataset": {"name": "random",
                                                               "path": "x.npz"}})
    assert info.value.key_path == "dataset.path"
    with pytest.raises(ConfigError) as info:
        workload_from_dict({**_tiny(op="flatten"), "model": {"clip": 0}})
    assert info.value.key_path == "model.clip"
    with pytest.raises(ConfigError) as info:
        workload_from_dict({**_tiny(op="conv2d", out_channels=2, kernel=3),
                            "model": {"layers": {"x": {"mask": "m.npz", "sparsity": 0.5}}}})
    assert info.value.key_path == "model.layers.x.sparsity"
    with pytest.raises(ConfigError) as info:
        workload_from_dict({"input": {"shape": [1, 4, 4], "mapping": "raw"}, "ops": [3]})
    assert info.value.key_path == "ops[0]"


def test_relative_paths_are_anchored_at_the_file(tmp_path: Path) -> None:
    import numpy as np

    (tmp_path / "sub").mkdir()
    np.savez(tmp_path / "sub" / "imgs.npz", images=np.zeros((2, 4, 4), np.uint8))
    (tmp_path / "sub" / "w.yaml").write_text(
        "input: {shape: [1, 4, 4], mapping: raw}\n"
        "dataset: {name: custom, path: imgs.npz}\n"
        "ops: [{name: f, op: flatten}]\n")
    wl = load_workload(tmp_path / "sub" / "w.yaml")
    assert wl.dataset.path == (tmp_path / "sub" / "imgs.npz").resolve()
    assert wl.name == "w"


def test_cifar_vgg16_and_resnet18_shapes() -> None:
    """The CIFAR-10 networks of the compression papers, against their well-known sizes:
    VGG-16 (CIFAR, 512-512-10 classifier) 313.7 M MACs and 15.24 M weights; ResNet-18 (CIFAR)
    555.4 M MACs and 11.16 M conv/dense weights (11.17 M parameters with batch norm and bias)."""
    vgg = load_workload(WORKLOADS / "vgg16_cifar.yaml")
    assert sum(op.macs for op in vgg.ops) == 313_725_952
    assert sum(op.macs > 0 for op in vgg.ops) == 16
    assert vgg.op("pool5").out_shape == (512, 1, 1)
    res = load_workload(WORKLOADS / "resnet18_cifar.yaml")
    assert sum(op.macs for op in res.ops) == 555_422_720
    weights = sum(int(np.prod(op.weight_shape)) for op in res.ops if op.weight_shape)
    assert weights == 11_164_352
    adds = [op for op in res.ops if op.name.endswith("_add")]
    assert len(adds) == 8
    assert res.op("s2b1_add").out_shape == (128, 16, 16)
    assert res.op("fc").out_shape == (10,)
