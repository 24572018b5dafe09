"""Batch normalisation at inference, and the two ways accelerators fold it away.

A ``batchnorm`` op computes, per channel c (axis 0 of ``(C, H, W)``, or each element of a
flat ``(n,)`` vector),

    y = (x - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c]

(:func:`batchnorm`, the definition the reference forward uses). Accelerators do not compute
it as written:

* :func:`scale_shift` folds it into a per-channel affine ``y = scale * x + shift``, and
  :func:`fold_into_layer` pushes that into the preceding conv2d/dense weights and bias
  (``w' = scale * w`` per output channel, ``b' = scale * b + shift``);
* before a ``sign`` (binarized nets) only the sign of y matters, so for an **integer**
  pre-activation x (an XNOR-popcount sum) it is a per-neuron integer comparison:
  :func:`sign_thresholds` gives ``threshold`` and ``negate`` per channel such that
  ``sign(batchnorm(x)) == +1`` exactly when ``x >= threshold`` (``negate`` false) or
  ``x <= threshold`` (``negate`` true, for gamma < 0). The thresholds are fixed against the
  float expression of :func:`batchnorm` itself, so the equivalence holds bit for bit for
  every integer x (the float expression is monotone in x), not only up to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "BatchNormParams",
    "SignThresholds",
    "apply_sign_thresholds",
    "batchnorm",
    "fold_into_layer",
    "scale_shift",
    "sign_thresholds",
]

_BIG = np.iinfo(np.int64).max
_SMALL = np.iinfo(np.int64).min


@dataclass(frozen=True)
class BatchNormParams:
    """The parameters of one batchnorm op: ``gamma``, ``beta``, ``mean``, ``var`` (float64,
    shape ``(C,)``, ``var >= 0``) and ``eps`` (> 0)."""

    gamma: np.ndarray
    beta: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    eps: float = 1e-5

    @staticmethod
    def neutral(channels: int, eps: float = 1e-5) -> BatchNormParams:
        """gamma 1, beta 0, mean 0, var 1: ``y = x / sqrt(1 + eps)`` (what a freshly
        initialised batch-norm layer computes; used with random weights)."""
        ones = np.ones(channels)
        return BatchNormParams(ones, np.zeros(channels), np.zeros(channels), ones.copy(), eps)


def _per_channel(p: np.ndarray, ndim: int) -> np.ndarray:
    """``(C,)`` parameters broadcast over a ``(..., C, H, W)`` or ``(..., n)`` array of
    ``ndim`` per-image dimensions."""
    return p.reshape((-1,) + (1,) * (ndim - 1))


def batchnorm(x: np.ndarray, p: BatchNormParams, image_ndim: int | None = None) -> np.ndarray:
    """``(x - mean) / sqrt(var + eps) * gamma + beta`` per channel. ``image_ndim`` is the
    number of per-image axes of ``x`` (3 for ``(N, C, H, W)``, 1 for ``(N, n)``); default:
    all of them (no batch axis)."""
    nd = x.ndim if image_ndim is None else image_ndim
    mean, gamma, beta = (_per_channel(a, nd) for a in (p.mean, p.gamma, p.beta))
    denom = _per_channel(np.sqrt(p.var + p.eps), nd)
    y: np.ndarray = (x - mean) / denom * gamma + beta
    return y


def scale_shift(p: BatchNormParams) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(scale, shift)`` with ``batchnorm(x) = scale * x + shift`` (up to
    rounding): ``scale = gamma / sqrt(var + eps)``, ``shift = beta - mean * scale``."""
    scale = p.gamma / np.sqrt(p.var + p.eps)
    return scale, p.beta - p.mean * scale


def fold_into_layer(w: np.ndarray, b: np.ndarray | None, scale: np.ndarray,
                    shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights and bias of a conv2d (``w`` ``(F, C, kh, kw)``) or dense (``(F, n)``) layer
    followed by the affine ``scale * z + shift`` per output channel, as one layer:
    ``w' = scale[f] * w[f]``, ``b' = scale * b + shift`` (``b`` None: no bias)."""
    w2 = w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
    b2 = (scale * b if b is not None else np.zeros_like(scale)) + shift
    return w2, b2


@dataclass(frozen=True)
class SignThresholds:
    """Per-channel integer comparison replacing ``sign(batchnorm(x))`` for integer x:
    output +1 where ``x >= threshold`` (``negate`` false) or ``x <= threshold`` (``negate``
    true), else -1. A constant channel (gamma 0) has threshold ``int64 min`` (always +1) or
    ``int64 max`` with ``negate`` false (always -1, for any realistic x)."""

    threshold: np.ndarray
    negate: np.ndarray


def sign_thresholds(p: BatchNormParams, divisor: float = 1.0) -> SignThresholds:
    """The integer thresholds of ``sign(batchnorm(x / divisor))`` (sign(0) = +1) for integer
    x; exact against :func:`batchnorm`'s float expression (see the module docstring).
    ``divisor`` > 0 is the scale of the integer (a binarized net's first layer: the pixel
    range 255, or the number of stochastic presentations); 1 divides by nothing."""
    c = p.gamma.shape[0]
    if not divisor > 0:
        raise ValueError(f"divisor(={divisor}) must be > 0")

    def positive(x: np.ndarray) -> np.ndarray:
        xf = x.astype(np.float64)
        return batchnorm(xf if divisor == 1.0 else xf / divisor, p) >= 0

    scale, shift = scale_shift(p)
    scale = scale / divisor
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(scale != 0, -shift / scale, 0.0)
    rising = scale > 0
    falling = scale < 0
    # candidate: smallest x with y >= 0 (rising) / largest x with y >= 0 (falling)
    cand = np.where(rising, np.ceil(t), np.floor(t))
    cand = np.clip(cand, -(2.0**62), 2.0**62).astype(np.int64)
    for _ in range(3):  # at most one step off after rounding; adjust with the float expression
        ok = positive(cand)
        nxt = np.where(rising, cand - 1, cand + 1)
        ok_next = positive(nxt)
        cand = np.where((rising | falling) & ok & ok_next, nxt, cand)
        cand = np.where((rising | falling) & ~ok, np.where(rising, cand + 1, cand - 1), cand)
    const = ~(rising | falling)
    beta_pos = p.beta >= 0
    threshold = np.where(const, np.where(beta_pos, _SMALL, _BIG), cand).astype(np.int64)
    negate = falling & ~const
    assert threshold.shape == (c,)
    return SignThresholds(threshold=threshold, negate=negate)


def apply_sign_thresholds(x: np.ndarray, t: SignThresholds,
                          image_ndim: int | None = None) -> np.ndarray:
    """``+1.0`` / ``-1.0`` from integer pre-activations ``x`` and the thresholds (channels on
    the first per-image axis; ``image_ndim`` as in :func:`batchnorm`)."""
    nd = x.ndim if image_ndim is None else image_ndim
    th = _per_channel(t.threshold, nd)
    neg = _per_channel(t.negate, nd)
    up = np.where(neg, x <= th, x >= th)
    return np.where(up, 1.0, -1.0)
