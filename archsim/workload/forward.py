"""The one reference forward of any workload: float64, NumPy only, vectorised over images.

:func:`reference_forward` computes what the workload's ops define (docs/workloads.md), for one
image ``(C, H, W)`` or a batch ``(N, C, H, W)``, and returns every op's output in op order.
Every accelerator model compares against it.

**Bit-exact with the SC fabric's former ``float_forward``** (kept as a record in
``tests/test_workload_forward.py``). For the SC conventions (bipolar input,
valid convolutions with bias, max pooling of the pre-activations, ``tanh(z / s)``, weights
clipped to [-1, 1]) the outputs are *equal* (``np.array_equal``), not merely close, to those
of ``float_forward`` image by image, batched or not, because every floating-point operation
is the same operation on the same numbers in the same order:

* the input is ``2.0 * p / 255.0 - 1.0`` in that order (``p * (2/255) - 1`` would differ in
  the last bit for some p);
* a convolution is, per image, one matrix product ``w.reshape(F, C*kh*kw) @ cols`` with
  ``cols`` the ``(C*kh*kw, Ho*Wo)`` C-contiguous window matrix in (c, ky, kx) row order -
  the product ``np.tensordot`` forms for ``float_forward`` - evaluated by ``np.matmul`` over
  the stack of images, which calls the same BLAS ``dgemm`` once per image with the same
  operands. (One GEMM over all images happened to give the same bits with the OpenBLAS
  measured, but nothing guarantees it; the transposed im2col product
  ``cols (N*Ho*Wo, C*kh*kw) @ w.T`` of ``archsim.nn.lenet`` differs in the last bit for 3% of
  LeNet's conv2 outputs);
* a dense layer is, per image, the matrix-vector product ``w @ x`` (BLAS ``dgemv``, as
  ``w @ x.ravel()`` in ``float_forward``), again through ``np.matmul`` over the stack
  (the GEMM ``X @ w.T`` sums in another order: 85% of LeNet's fc1 outputs differ in the last
  bits);
* the bias is added after the product; max pooling takes maxima (exact in any order);
  ``tanh`` gets ``z / s`` (a division, not a multiplication by ``1/s``).

**Fixed point** (``fixed_point=True``): values on a known integer grid are tracked as integer
codes and a step: the input pixels (integer dtype: codes p with step 1 for ``raw``, p with
1/255 for ``unipolar``, 2p - 255 with 1/255 for ``bipolar``), the output of ``quantize``
(codes ``round(clip(x, 0, 1) (2^K - 1))``, step ``1 / (2^K - 1)``) and of ``sign`` (+-1,
step 1); max pooling, relu, flatten, ``none`` and the addition of two tensors with the same
step keep the grid. A conv2d or dense op whose input is on a grid and whose weights are
quantized (``model.layers.<op>.bits``) then accumulates the integer products exactly (int64),
as a bit-plane in-memory accelerator does, and outputs ``acc * (step_x * step_w) + b``.
Everything else is computed as in the float mode, which multiplies the same quantized values
as floats (so the two modes differ by float rounding only).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from archsim.workload import ops as O
from archsim.workload.batchnorm import batchnorm
from archsim.workload.quantize import quantize_activation_codes
from archsim.workload.weights import LayerParams, WorkloadWeights
from archsim.workload.workload import INPUT, Workload

__all__ = ["conv2d", "dense", "layer_outputs", "map_input", "pool", "predict",
           "reference_forward"]

#: Codes (int64) and step of a tensor on an integer grid (fixed-point mode).
Grid = tuple[np.ndarray, float]


def map_input(pixels: np.ndarray, mapping: str) -> np.ndarray:
    """Pixels -> float64 network input: ``bipolar`` ``2.0 * p / 255.0 - 1.0``, ``unipolar``
    ``p / 255.0``, ``raw`` ``p``."""
    p = np.asarray(pixels).astype(np.float64)
    if mapping == "bipolar":
        return 2.0 * p / 255.0 - 1.0
    if mapping == "unipolar":
        return p / 255.0
    if mapping == "raw":
        return p
    raise ValueError(f"mapping(={mapping!r}) must be 'bipolar', 'unipolar' or 'raw'")


def _input_grid(pixels: np.ndarray, mapping: str) -> Grid | None:
    if pixels.dtype.kind not in "iub":
        return None
    p = pixels.astype(np.int64)
    if mapping == "raw":
        return p, 1.0
    if mapping == "unipolar":
        return p, 1.0 / 255.0
    return 2 * p - 255, 1.0 / 255.0


def conv2d(op: O.Conv2d, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """The convolution of a batch ``x`` ``(N, C, H, W)`` (float64, or int64 for exact integer
    sums) with ``w`` ``op.weight_shape``, plus ``b``: ``(N, F, Ho, Wo)``. One matrix product
    per image and group (module docstring)."""
    (kh, kw), (sh, sw), (ph, pw) = op.kernel, op.stride, op.padding
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n = x.shape[0]
    f, ho, wo = op.out_shape
    # the (N, C, Ho, Wo, kh, kw) windows as a strided view of x (sliding_window_view's view,
    # without its per-call argument checks: this runs once per image and layer)
    s0, s1, s2, s3 = x.strides
    win = as_strided(x, shape=(n, x.shape[1], ho, wo, kh, kw),
                     strides=(s0, s1, s2 * sh, s3 * sw, s2, s3), writeable=False)
    g = op.groups
    cg, fg = op.in_channels // g, f // g
    parts = []
    for j in range(g):
        wg = w[j * fg:(j + 1) * fg].reshape(fg, cg * kh * kw)
        cols = win[:, j * cg:(j + 1) * cg].transpose(0, 1, 4, 5, 2, 3).reshape(
            n, cg * kh * kw, ho * wo)
        parts.append(np.matmul(wg, cols))
    z: np.ndarray = (parts[0] if g == 1 else np.concatenate(parts, axis=1)).reshape(
        n, f, ho, wo)
    if b is not None:
        z = z + b[:, None, None]
    return z


def dense(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """``w @ x[i] + b`` for each image of ``x`` ``(N, n)``: one matrix-vector product per image
    (module docstring); ``(N, outputs)``."""
    x = np.ascontiguousarray(x)
    z: np.ndarray = np.matmul(w, x[:, :, None])[:, :, 0]
    if b is not None:
        z = z + b
    return z


def pool(op: O.Pool, x: np.ndarray) -> np.ndarray:
    """Max or average pooling of ``x`` ``(N, C, H, W)``: a loop over the kh*kw window offsets
    (each step a strided view of the whole batch), in (ky, kx) row-major order."""
    (kh, kw), (sh, sw) = op.kernel, op.stride
    _, ho, wo = op.out_shape
    acc: np.ndarray | None = None
    for dy in range(kh):
        for dx in range(kw):
            v = x[:, :, dy: dy + (ho - 1) * sh + 1: sh, dx: dx + (wo - 1) * sw + 1: sw]
            if acc is None:
                acc = v.copy()
            elif isinstance(op, O.MaxPool):
                acc = np.maximum(acc, v)
            else:
                acc = acc + v
    assert acc is not None
    return acc if isinstance(op, O.MaxPool) else acc / (kh * kw)


def _weighted(op: O.WeightedOp, params: LayerParams, x: np.ndarray,
              grid: Grid | None) -> np.ndarray:
    if grid is not None and params.codes is not None and params.step is not None:
        codes, step = grid
        if isinstance(op, O.Conv2d):
            acc = conv2d(op, codes, params.codes, None)
        else:
            acc = dense(codes, params.codes, None)
        z = acc.astype(np.float64) * (step * params.step)
        if params.b is None:
            return z
        biased: np.ndarray = z + (params.b[:, None, None] if isinstance(op, O.Conv2d)
                                  else params.b)
        return biased
    if isinstance(op, O.Conv2d):
        return conv2d(op, x, params.w, params.b)
    return dense(x, params.w, params.b)


def _forward_batch(workload: Workload, weights: WorkloadWeights, pixels: np.ndarray,
                   fixed_point: bool) -> list[np.ndarray]:
    values: dict[str, np.ndarray] = {INPUT: map_input(pixels, workload.input.mapping)}
    grids: dict[str, Grid | None] = {
        INPUT: _input_grid(pixels, workload.input.mapping) if fixed_point else None}
    out: list[np.ndarray] = []
    for op in workload.ops:
        x = values[op.input]
        g_in = grids[op.input]
        g_out: Grid | None = None
        if isinstance(op, O.WeightedOp):
            y = _weighted(op, weights.layers[op.name], x, g_in)
        elif isinstance(op, O.Pool):
            y = pool(op, x)
            if isinstance(op, O.MaxPool) and g_in is not None:
                g_out = (pool(op, g_in[0]), g_in[1])
        elif isinstance(op, O.Flatten):
            y = x.reshape(x.shape[0], -1)
            if g_in is not None:
                g_out = (g_in[0].reshape(x.shape[0], -1), g_in[1])
        elif isinstance(op, O.Btanh):
            y = np.tanh(x / op.s)
        elif isinstance(op, O.Sign):
            y = np.where(x >= 0, 1.0, -1.0)
            if fixed_point:
                g_out = (np.where(x >= 0, 1, -1).astype(np.int64), 1.0)
        elif isinstance(op, O.Relu):
            y = np.maximum(x, 0.0)
            if g_in is not None:
                g_out = (np.maximum(g_in[0], 0), g_in[1])
        elif isinstance(op, O.Quantize):
            codes = quantize_activation_codes(x, op.bits)
            y = codes / float(op.levels)
            if fixed_point:
                g_out = (codes, 1.0 / op.levels)
        elif isinstance(op, O.Identity):
            y, g_out = x, g_in
        elif isinstance(op, O.BatchNorm):
            y = batchnorm(x, weights.batchnorm[op.name], image_ndim=len(op.in_shape))
        elif isinstance(op, O.Add):
            y = x + values[op.other]
            g_other = grids[op.other]
            if g_in is not None and g_other is not None and g_in[1] == g_other[1]:
                g_out = (g_in[0] + g_other[0], g_in[1])
        else:  # pragma: no cover - every op kind is handled above
            raise TypeError(f"no reference for op kind {op.kind!r}")
        values[op.name] = y
        grids[op.name] = g_out
        out.append(y)
    return out


def reference_forward(workload: Workload, weights: WorkloadWeights, pixels: np.ndarray, *,
                      fixed_point: bool = False, batch_size: int = 256) -> list[np.ndarray]:
    """Every op's output, in op order, for the images ``pixels``.

    ``pixels``: one image of ``workload.input.shape`` ``(C, H, W)`` (outputs without a batch
    axis) or a batch ``(N, C, H, W)`` (outputs ``(N, *op.out_shape)``), any real dtype (pixel
    values 0..255 for the bipolar and unipolar mappings). Images are computed in chunks of
    ``batch_size`` (the results do not depend on it). ``fixed_point``: see the module
    docstring. Outputs are float64 and must not be modified (an ``op: none`` output is the
    array of its input).
    """
    x = np.asarray(pixels)
    shape = workload.input.shape
    single = x.shape == shape
    if single:
        x = x[None]
    elif x.ndim != 4 or x.shape[1:] != shape:
        raise ValueError(f"pixels shape {x.shape} must be {shape} (one image) or "
                         f"(N, {', '.join(map(str, shape))}) (a batch)")
    if x.dtype.kind not in "iufb":
        raise ValueError(f"pixels dtype {x.dtype} must be a real number type")
    if batch_size < 1:
        raise ValueError(f"batch_size(={batch_size}) must be >= 1")
    if len(x) == 0:
        return [np.empty((0, *op.out_shape)) for op in workload.ops]
    chunks = [_forward_batch(workload, weights, x[lo:lo + batch_size], fixed_point)
              for lo in range(0, len(x), batch_size)]
    outs = [parts[0] if len(chunks) == 1 else np.concatenate(parts)
            for parts in zip(*chunks, strict=True)]
    return [o[0] for o in outs] if single else outs


def layer_outputs(workload: Workload, outputs: list[np.ndarray]) -> list[np.ndarray]:
    """From :func:`reference_forward`'s per-op outputs, the output of each stage (a weighted op
    and the ops after it up to the next weighted op, :meth:`Workload.stages`): for the SC
    LeNet-5 the list the SC fabric's former ``float_forward`` returned (flatten's output is flat
    where
    ``float_forward`` keeps ``(C, H, W)``; the values are the same)."""
    index = {op.name: i for i, op in enumerate(workload.ops)}
    return [outputs[index[stage.output]] for stage in workload.stages()]


def predict(workload: Workload, weights: WorkloadWeights, pixels: np.ndarray) -> np.ndarray:
    """The class of each image (argmax of the last op's output), ``(N,)`` int64 for a batch,
    a 0-d array for one image."""
    last = reference_forward(workload, weights, pixels)[-1]
    if last.ndim == len(workload.output_shape):
        return np.asarray(np.argmax(last.ravel()))
    classes: np.ndarray = np.argmax(last.reshape(len(last), -1), axis=1)
    return classes
