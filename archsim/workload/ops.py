"""The operations of a workload: frozen dataclasses with their shapes, one class per op kind.

Every op of a :class:`~archsim.workload.workload.Workload` is an instance of a subclass of
:class:`Op`. It knows its place in the network (``index``, ``name``, the op it reads,
``input``) and its tensor shapes, inferred once by the factory:

* a feature map is ``(C, H, W)``, a flat vector ``(n,)``; there is no batch axis here;
* ``in_shape`` is the shape the op reads, ``out_shape`` the shape it produces;
* ``weight_shape`` is the shape of the op's weight array (``None`` for ops without weights):
  ``(out_channels, in_channels // groups, kh, kw)`` for :class:`Conv2d`, ``(outputs, inputs)``
  for :class:`Dense`; ``bias_shape`` is ``(out_channels,)`` / ``(outputs,)`` or ``None``;
* ``fan_in`` is **the number of products summed into one output, bias not counted**:
  ``in_channels // groups * kh * kw`` for a convolution, ``inputs`` for a dense layer, 0 for
  an op without weights. An SC inner-product block has ``fan_in + 1`` inputs when the op has
  a bias (the bias is one more input of the counter); that number is
  :attr:`WeightedOp.counter_inputs`.

The shape rules (``infer_*`` functions) raise :class:`ShapeProblem`, which the factory turns
into a :class:`~archsim.config.errors.ConfigError` naming the file and the key path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "OP_KINDS",
    "Activation",
    "Add",
    "AvgPool",
    "BatchNorm",
    "Btanh",
    "Conv2d",
    "Dense",
    "Flatten",
    "Identity",
    "MaxPool",
    "Op",
    "Pool",
    "Quantize",
    "Relu",
    "Shape",
    "ShapeProblem",
    "Sign",
    "WeightedOp",
]

#: A tensor shape without the batch axis: ``(C, H, W)`` or ``(n,)``.
Shape = tuple[int, ...]


class ShapeProblem(ValueError):
    """An op does not fit the shape it receives. ``key`` is the op's key that is wrong
    (``"kernel"``, ``"groups"``; ``""`` for the op as a whole), ``value`` the bad value and
    ``expected`` what would fit, in words."""

    def __init__(self, key: str, value: object, expected: str) -> None:
        self.key = key
        self.value = value
        self.expected = expected
        super().__init__(f"{key}: got {value!r}; expected {expected}")


def _fmt(shape: Shape) -> str:
    return "x".join(map(str, shape))


@dataclass(frozen=True, kw_only=True)
class Op:
    """One operation of a workload (base class; use the subclasses).

    ``index`` is the position in ``ops``; ``input`` names the op whose output this op reads
    (``"input"`` for the network input); ``in_shape``/``out_shape`` are per image, without a
    batch axis.
    """

    kind: ClassVar[str] = ""
    #: Whether the op has a weight array (and so an entry in a model file).
    has_weights: ClassVar[bool] = False

    name: str
    index: int
    input: str
    in_shape: Shape
    out_shape: Shape

    @property
    def key(self) -> str:
        """The op's key path in the workload file: ``ops[<index>]``."""
        return f"ops[{self.index}]"

    @property
    def weight_shape(self) -> Shape | None:
        """Shape of the weight array; ``None`` for an op without weights."""
        return None

    @property
    def bias_shape(self) -> Shape | None:
        """Shape of the bias array; ``None`` when the op has no bias."""
        return None

    @property
    def fan_in(self) -> int:
        """Products summed into one output, bias not counted (0 for an op without weights)."""
        return 0

    @property
    def out_count(self) -> int:
        """Number of output values per image."""
        return math.prod(self.out_shape)

    @property
    def macs(self) -> int:
        """Multiply-accumulates per image (0 for an op without weights)."""
        return 0

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of every op output this op reads (``input`` first)."""
        return (self.input,)


@dataclass(frozen=True, kw_only=True)
class WeightedOp(Op):
    """An op with a weight array and an optional bias: :class:`Conv2d` and :class:`Dense`."""

    has_weights: ClassVar[bool] = True
    bias: bool = True

    @property
    def weight_shape(self) -> Shape:
        raise NotImplementedError  # pragma: no cover - every subclass defines it

    @property
    def counter_inputs(self) -> int:
        """Inputs of one SC inner-product counter: ``fan_in`` products, plus 1 for the bias."""
        return self.fan_in + (1 if self.bias else 0)

    @property
    def macs(self) -> int:
        return self.out_count * self.fan_in


@dataclass(frozen=True, kw_only=True)
class Conv2d(WeightedOp):
    """2-D cross-correlation (as every DNN framework computes "convolution") with zero padding.

    ``out[f, i, j] = b[f] + sum_{c, ky, kx} w[f, c, ky, kx] * xp[g*C/g + c, i*sh + ky, j*sw + kx]``
    where ``xp`` is the input padded with ``padding`` zeros on each side and ``g`` the group of
    filter ``f`` (``groups`` splits inputs and filters into that many independent parts).
    Output size per axis: ``(H + 2*ph - kh) // sh + 1``.
    """

    kind: ClassVar[str] = "conv2d"
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1

    @property
    def in_channels(self) -> int:
        return self.in_shape[0]

    @property
    def weight_shape(self) -> Shape:
        return (self.out_channels, self.in_channels // self.groups, *self.kernel)

    @property
    def bias_shape(self) -> Shape | None:
        return (self.out_channels,) if self.bias else None

    @property
    def fan_in(self) -> int:
        return self.in_channels // self.groups * self.kernel[0] * self.kernel[1]


@dataclass(frozen=True, kw_only=True)
class Dense(WeightedOp):
    """Fully connected layer over a flat input: ``out[o] = b[o] + sum_i w[o, i] * x[i]``."""

    kind: ClassVar[str] = "dense"
    outputs: int

    @property
    def weight_shape(self) -> Shape:
        return (self.outputs, self.in_shape[0])

    @property
    def bias_shape(self) -> Shape | None:
        return (self.outputs,) if self.bias else None

    @property
    def fan_in(self) -> int:
        return self.in_shape[0]


@dataclass(frozen=True, kw_only=True)
class Pool(Op):
    """Pooling over ``kernel`` windows moved by ``stride`` (no padding; a partial window at the
    border is dropped, as in PyTorch's default): output size ``(H - kh) // sh + 1``."""

    kernel: tuple[int, int]
    stride: tuple[int, int]


@dataclass(frozen=True, kw_only=True)
class MaxPool(Pool):
    """Largest value of each window (of whatever the op reads: in the SC LeNet-5 that is the
    pre-activation, which is what segment max pooling compares)."""

    kind: ClassVar[str] = "maxpool"


@dataclass(frozen=True, kw_only=True)
class AvgPool(Pool):
    """Mean of each window: the kh*kw values summed in (ky, kx) row-major order, then divided
    by kh*kw."""

    kind: ClassVar[str] = "avgpool"


@dataclass(frozen=True, kw_only=True)
class Flatten(Op):
    """A ``(C, H, W)`` feature map as the flat vector ``(C*H*W,)`` in (C, H, W) order."""

    kind: ClassVar[str] = "flatten"


@dataclass(frozen=True, kw_only=True)
class Activation(Op):
    """An elementwise function (base class of the activation ops)."""


@dataclass(frozen=True, kw_only=True)
class Btanh(Activation):
    """``tanh(x / s)``: the float target of the SC datapath's Btanh up/down counter with gain
    ``s`` (the counter's output approximates it)."""

    kind: ClassVar[str] = "btanh"
    s: float = 1.0


@dataclass(frozen=True, kw_only=True)
class Sign(Activation):
    """``+1`` where ``x >= 0``, else ``-1`` (sign(0) = +1: a binarized net's activation)."""

    kind: ClassVar[str] = "sign"


@dataclass(frozen=True, kw_only=True)
class Relu(Activation):
    """``max(x, 0)``."""

    kind: ClassVar[str] = "relu"


@dataclass(frozen=True, kw_only=True)
class Quantize(Activation):
    """DoReFa-style activation quantization to ``bits`` = K bits of [0, 1]:
    ``round(clip(x, 0, 1) * (2^K - 1)) / (2^K - 1)`` (``round`` halves to even, as NumPy and
    PyTorch do). The integer code ``round(clip(x, 0, 1) * (2^K - 1))`` is what a bit-plane
    accelerator stores."""

    kind: ClassVar[str] = "quantize"
    bits: int

    @property
    def levels(self) -> int:
        """Largest code, ``2^bits - 1``."""
        return (1 << self.bits) - 1


@dataclass(frozen=True, kw_only=True)
class Identity(Activation):
    """No activation (``op: none``): the output is the input, e.g. a last layer's logits."""

    kind: ClassVar[str] = "none"


@dataclass(frozen=True, kw_only=True)
class BatchNorm(Op):
    """Inference batch normalisation per channel (axis 0 of ``(C, H, W)`` or of ``(n,)``):
    ``(x - mean) / sqrt(var + eps) * gamma + beta``, with ``gamma``, ``beta``, ``mean``,
    ``var`` from the model file (:mod:`archsim.workload.batchnorm` folds it)."""

    kind: ClassVar[str] = "batchnorm"
    eps: float = 1e-5

    @property
    def channels(self) -> int:
        """Number of normalised channels (parameters per array)."""
        return self.in_shape[0]


@dataclass(frozen=True, kw_only=True)
class Add(Op):
    """Residual addition: the output of ``input`` plus the output of the earlier op ``other``
    (same shape)."""

    kind: ClassVar[str] = "add"
    other: str

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input, self.other)


#: Op kind (the ``op:`` key of a workload file) -> class.
OP_KINDS: dict[str, type[Op]] = {
    cls.kind: cls
    for cls in (Conv2d, MaxPool, AvgPool, Dense, Flatten, Btanh, Sign, Relu, Quantize,
                Identity, BatchNorm, Add)
}


# --------------------------------------------------------------------------------------------
# shape rules
# --------------------------------------------------------------------------------------------


def _feature_map(kind: str, in_shape: Shape, src: str) -> tuple[int, int, int]:
    if len(in_shape) != 3:
        raise ShapeProblem(
            "", f"{kind} of a flat input {in_shape}",
            f"a (C, H, W) feature map input ({src!r} produces the flat shape {in_shape}; "
            f"a {kind} op cannot follow a flatten or dense op)",
        )
    c, h, w = in_shape
    return c, h, w


def infer_conv2d(in_shape: Shape, src: str, out_channels: int, kernel: tuple[int, int],
                 stride: tuple[int, int], padding: tuple[int, int], groups: int) -> Shape:
    """Output shape of a :class:`Conv2d` reading ``in_shape`` from op ``src``."""
    c, h, w = _feature_map("conv2d", in_shape, src)
    if c % groups or out_channels % groups:
        raise ShapeProblem(
            "groups", groups,
            f"a divisor of both the input channels ({c}, from {src!r}) and out_channels "
            f"({out_channels})",
        )
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    if kh > h + 2 * ph or kw > w + 2 * pw:
        raise ShapeProblem(
            "kernel", list(kernel),
            f"a kernel no larger than the padded input {h + 2 * ph}x{w + 2 * pw} "
            f"(input {_fmt(in_shape)} from {src!r}, padding {list(padding)})",
        )
    return (out_channels, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)


def infer_pool(kind: str, in_shape: Shape, src: str, kernel: tuple[int, int],
               stride: tuple[int, int]) -> Shape:
    """Output shape of a :class:`MaxPool` / :class:`AvgPool`."""
    c, h, w = _feature_map(kind, in_shape, src)
    (kh, kw), (sh, sw) = kernel, stride
    if kh > h or kw > w:
        raise ShapeProblem(
            "kernel", list(kernel),
            f"a window no larger than the input {h}x{w} (input {_fmt(in_shape)} from {src!r})",
        )
    return (c, (h - kh) // sh + 1, (w - kw) // sw + 1)


def infer_dense(in_shape: Shape, src: str, outputs: int) -> Shape:
    """Output shape of a :class:`Dense`."""
    if len(in_shape) != 1:
        raise ShapeProblem(
            "", f"dense of a {_fmt(in_shape)} feature map",
            f"a flat input: put a flatten op before this dense op ({src!r} produces "
            f"{in_shape})",
        )
    return (outputs,)


def infer_flatten(in_shape: Shape) -> Shape:
    """Output shape of a :class:`Flatten`."""
    return (math.prod(in_shape),)
