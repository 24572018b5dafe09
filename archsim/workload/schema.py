"""The workload file's structure: pydantic models of each mapping, before shapes are inferred.

These models check keys, types and ranges of a workload YAML document (unknown keys are errors
with a "did you mean" hint, as in the architecture schema); the factory
(:mod:`archsim.workload.factory`) validates each entry of ``ops`` with the model of its ``op``
kind, infers the shapes and builds the frozen :class:`~archsim.workload.workload.Workload`.
Nothing outside the factory sees these models or the raw document.

Values are strict: ``5`` is an integer, ``"5"`` and ``5.0`` are not; a pair such as
``kernel`` is an integer or a list of two (``[kh, kw]``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeGuard

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from archsim.config.errors import MISSING
from archsim.config.schema import FieldProblem, Strict

__all__ = [
    "OP_SECTIONS",
    "AddSection",
    "BatchNormSection",
    "BtanhSection",
    "Conv2dSection",
    "DatasetSection",
    "DenseSection",
    "FlattenSection",
    "InputSection",
    "LayerMetaSection",
    "ModelSection",
    "NoneSection",
    "OpSection",
    "PoolSection",
    "QuantizeSection",
    "ReluSection",
    "SignSection",
    "WorkloadFile",
]


def _is_int(v: object) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _pair(minimum: int) -> Callable[[object], tuple[int, int]]:
    what = "a positive integer" if minimum == 1 else "a non-negative integer"

    def parse(v: object) -> tuple[int, int]:
        if _is_int(v) and v >= minimum:
            return (v, v)
        if (isinstance(v, (list, tuple)) and len(v) == 2
                and all(_is_int(x) and x >= minimum for x in v)):
            return (int(v[0]), int(v[1]))
        raise FieldProblem(v, f"{what} or a list of two ([rows, columns])")

    return parse


#: An integer >= 1 or a list of two: ``kernel``, ``stride``.
Pair = Annotated[tuple[int, int], BeforeValidator(_pair(1))]
#: An integer >= 0 or a list of two: ``padding``.
Pair0 = Annotated[tuple[int, int], BeforeValidator(_pair(0))]


def _optional_pair(v: object) -> tuple[int, int] | None:
    return None if v is None else _pair(1)(v)


#: A pair or null (the parser runs on the whole union, so errors keep a plain key path).
OptPair = Annotated[tuple[int, int] | None, BeforeValidator(_optional_pair)]


def _shape(v: object) -> tuple[int, int, int]:
    if (isinstance(v, (list, tuple)) and len(v) == 3 and all(_is_int(x) and x >= 1 for x in v)):
        return (int(v[0]), int(v[1]), int(v[2]))
    raise FieldProblem(v, "a list [C, H, W] of three positive integers (channels, rows, "
                          "columns)")


class _Section(Strict):
    model_config = ConfigDict(strict=True)

    @classmethod
    def _what(cls) -> str:
        return _WHAT.get(cls.__name__, f"a {cls.__name__} mapping")


# --------------------------------------------------------------------------------------------
# input, dataset, model
# --------------------------------------------------------------------------------------------


class InputSection(_Section):
    """The network input."""

    shape: Annotated[tuple[int, int, int], BeforeValidator(_shape)]
    """(C, H, W) of one image."""
    mapping: Literal["bipolar", "unipolar", "raw"]
    """Pixel p -> number: bipolar 2p/255 - 1, unipolar p/255, raw p."""


class DatasetSection(_Section):
    """Where the images come from."""

    name: Literal["mnist", "fashion-mnist", "cifar10", "random", "custom"] = "random"
    path: str | None = None
    """custom only: a folder (class subfolders) or an .npz, relative to this file."""
    split: Literal["test", "train"] | None = None
    """mnist / fashion-mnist / cifar10 only (default test)."""
    seed: int | None = Field(None, ge=0)
    """random only (default 1)."""
    start: int = Field(0, ge=0)
    images: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _check_source(self) -> DatasetSection:
        if self.name == "custom" and self.path is None:
            raise FieldProblem(MISSING, "a folder of images or an .npz for a custom data set",
                               ("path",))
        if self.name != "custom" and self.path is not None:
            raise FieldProblem(self.path, f"no path for the data set {self.name!r} (only "
                               "'custom' reads a path)", ("path",))
        if self.name not in ("mnist", "fashion-mnist", "cifar10") and self.split is not None:
            raise FieldProblem(self.split, "no split except for mnist, fashion-mnist, cifar10",
                               ("split",))
        if self.name != "random" and self.seed is not None:
            raise FieldProblem(self.seed, "no seed except for the 'random' data set",
                               ("seed",))
        return self


class LayerMetaSection(_Section):
    """Per-layer model metadata of one weighted op."""

    bits: int | None = Field(None, ge=1, le=16)
    """Weight quantization bits (None: float weights)."""
    quantizer: Literal["symmetric", "dorefa"] = "symmetric"
    """How ``bits`` quantizes: ``symmetric`` (codes -(2^(K-1)-1)..2^(K-1)-1) or ``dorefa``
    (DoReFa-Net levels: odd codes 2u - (2^K - 1), u = 0..2^K - 1)."""
    mask: str | None = None
    """An .npz holding the pruning mask '<op>_mask' (relative to this file)."""
    sparsity: float | None = Field(None, ge=0.0, lt=1.0)
    """Magnitude pruning: this fraction of the weights (smallest |w|) is set to 0."""

    @model_validator(mode="after")
    def _one_mask(self) -> LayerMetaSection:
        if self.mask is not None and self.sparsity is not None:
            raise FieldProblem(self.sparsity, "either a mask file or a sparsity, not both",
                               ("sparsity",))
        if self.mask is not None and not self.mask.endswith(".npz"):
            raise FieldProblem(self.mask, "a path to an .npz file", ("mask",))
        return self


class ModelSection(_Section):
    """Where the weights come from."""

    weights: str = "random"
    """random, builtin:<name> or a path to an .npz (relative to this file)."""
    seed: int | None = Field(None, ge=0)
    """random weights only (default 1)."""
    clip: float | None = Field(None, gt=0.0)
    """Clip weights and biases to [-clip, clip] at load (1.0: bipolar SC numbers)."""
    layers: dict[str, LayerMetaSection] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_weights(self) -> ModelSection:
        w = self.weights
        if w.startswith("builtin:"):
            if not w[len("builtin:"):].strip():
                raise FieldProblem(w, "'builtin:<name>' with a model name", ("weights",))
        elif w != "random" and not w.endswith(".npz"):
            raise FieldProblem(w, "'random', 'builtin:<name>' or a path to an .npz file",
                               ("weights",))
        if w != "random" and self.seed is not None:
            raise FieldProblem(self.seed, "no seed unless weights is 'random'", ("seed",))
        return self


# --------------------------------------------------------------------------------------------
# ops
# --------------------------------------------------------------------------------------------


class _OpSection(_Section):
    name: str = Field(min_length=1)
    """Unique op name (weights are stored as <name>_w, <name>_b)."""
    op: str
    input: str | None = None
    """Name of the earlier op whose output this op reads (default: the previous op)."""


class Conv2dSection(_OpSection):
    op: Literal["conv2d"]
    out_channels: int = Field(ge=1)
    kernel: Pair
    stride: Pair = (1, 1)
    padding: Pair0 = (0, 0)
    groups: int = Field(1, ge=1)
    bias: bool = True


class PoolSection(_OpSection):
    op: Literal["maxpool", "avgpool"]
    kernel: Pair
    stride: OptPair = None
    """Default: the kernel (non-overlapping windows)."""


class DenseSection(_OpSection):
    op: Literal["dense"]
    outputs: int = Field(ge=1)
    bias: bool = True


class FlattenSection(_OpSection):
    op: Literal["flatten"]


class BtanhSection(_OpSection):
    op: Literal["btanh"]
    s: float = Field(1.0, gt=0.0)
    """Gain: tanh(x / s)."""


class SignSection(_OpSection):
    op: Literal["sign"]


class ReluSection(_OpSection):
    op: Literal["relu"]


class NoneSection(_OpSection):
    op: Literal["none"]


class QuantizeSection(_OpSection):
    op: Literal["quantize"]
    bits: int = Field(ge=1, le=16)


class BatchNormSection(_OpSection):
    op: Literal["batchnorm"]
    eps: float = Field(1e-5, gt=0.0)


class AddSection(_OpSection):
    op: Literal["add"]
    other: str = Field(min_length=1)
    """Name of the earlier op whose output is added."""


OpSection = (Conv2dSection | PoolSection | DenseSection | FlattenSection | BtanhSection
             | SignSection | ReluSection | NoneSection | QuantizeSection | BatchNormSection
             | AddSection)

#: ``op:`` value -> the model its entry is validated with.
OP_SECTIONS: dict[str, type[_OpSection]] = {
    "conv2d": Conv2dSection,
    "maxpool": PoolSection,
    "avgpool": PoolSection,
    "dense": DenseSection,
    "flatten": FlattenSection,
    "btanh": BtanhSection,
    "sign": SignSection,
    "relu": ReluSection,
    "none": NoneSection,
    "quantize": QuantizeSection,
    "batchnorm": BatchNormSection,
    "add": AddSection,
}


class WorkloadFile(_Section):
    """A whole workload file (``include`` is read by the loader)."""

    name: str = Field(min_length=1)
    """Workload name (default: the file stem)."""
    description: str = ""
    input: InputSection
    dataset: DatasetSection = Field(default_factory=lambda: DatasetSection.model_validate({}))
    model: ModelSection = Field(default_factory=lambda: ModelSection.model_validate({}))
    ops: list[dict[str, Any]] = Field(min_length=1)
    """The network, in order; each entry is validated by the model of its 'op'."""


_WHAT = {
    "WorkloadFile": "a workload file's top level (name, description, input, dataset, model, "
                    "ops)",
    "InputSection": "input",
    "DatasetSection": "dataset",
    "ModelSection": "model",
    "LayerMetaSection": "a model.layers entry",
    "Conv2dSection": "a conv2d op",
    "PoolSection": "a pooling op",
    "DenseSection": "a dense op",
    "FlattenSection": "a flatten op",
    "BtanhSection": "a btanh op",
    "SignSection": "a sign op",
    "ReluSection": "a relu op",
    "NoneSection": "a none (identity) op",
    "QuantizeSection": "a quantize op",
    "BatchNormSection": "a batchnorm op",
    "AddSection": "an add op",
}
