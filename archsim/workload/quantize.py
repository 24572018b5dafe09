"""Uniform quantization: of activations (the ``quantize`` op) and of a layer's weights.

Activations (DoReFa-Net, Zhou et al. 2016, "quantize_k" of a value in [0, 1]): with
``L = 2^K - 1``, the code is ``q = round(clip(x, 0, 1) * L)`` (an integer 0..L) and the value
``q / L``. ``round`` halves to even (NumPy, PyTorch).

Weights (``model.layers.<op>.bits`` = K): symmetric uniform quantization with a per-layer
step, so that every weight is ``code * step`` with an integer code, which is what a bit-plane
in-memory accelerator stores:

* K >= 2: ``step = max|w| / (2^(K-1) - 1)``, ``code = round(w / step)`` in
  ``-(2^(K-1) - 1) .. 2^(K-1) - 1`` (two's-complement K-bit words without the most negative
  one, so the levels are symmetric around 0);
* K = 1: ``code = +1`` where ``w >= 0`` else ``-1`` and ``step = mean|w|`` (the scaled sign of
  binarized / XNOR networks);
* pruned weights (mask 0) keep code 0 (for K = 1 the codes are then ternary);
* a layer whose weights are all 0 gets step 1.

DoReFa weights (``model.layers.<op>.quantizer: dorefa``; Zhou et al., "DoReFa-Net", arXiv
1606.06160, 2016): the 2^K levels ``(2u - L) / L``, ``u = 0..L``, ``L = 2^K - 1``, scaled by
``s = max|w|`` of the kept weights: ``u = clip(round((w / s + 1) L / 2), 0, L)`` (halves to
even), ``code = 2u - L`` (odd, -L..L), ``step = s / L``. A model exported as
``(2u - L) / L`` (times any positive scale) so keeps its codes exactly. Pruned weights get
code 0, which is not a DoReFa level: a bit-plane accelerator leaves them out through its mask
(docs/pim-bitplane.md).
"""

from __future__ import annotations

import numpy as np

__all__ = ["dequantize_weights", "quantize_activation", "quantize_activation_codes",
           "quantize_weights"]


def quantize_activation_codes(x: np.ndarray, bits: int) -> np.ndarray:
    """Integer codes ``round(clip(x, 0, 1) * (2^bits - 1))`` as int64."""
    levels = (1 << bits) - 1
    codes: np.ndarray = np.round(np.clip(x, 0.0, 1.0) * levels).astype(np.int64)
    return codes


def quantize_activation(x: np.ndarray, bits: int) -> np.ndarray:
    """The quantized values ``round(clip(x, 0, 1) * L) / L``, float64, ``L = 2^bits - 1``."""
    levels = (1 << bits) - 1
    return np.round(np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0) * levels) / levels


def quantize_weights(w: np.ndarray, bits: int, mask: np.ndarray | None = None,
                     quantizer: str = "symmetric") -> tuple[np.ndarray, float]:
    """Integer codes (int64, the shape of ``w``) and the step of ``w`` quantized to ``bits``
    (see the module docstring). ``mask`` (bool, same shape) marks the weights kept;
    ``quantizer`` is ``symmetric`` or ``dorefa``."""
    w = np.asarray(w, dtype=np.float64)
    keep = np.ones(w.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    kept = np.abs(w[keep])
    if quantizer == "dorefa":
        levels = (1 << bits) - 1
        scale = float(kept.max()) if kept.size and kept.max() > 0 else 1.0
        u = np.clip(np.round((w / scale + 1.0) * (levels / 2.0)), 0, levels).astype(np.int64)
        codes = 2 * u - levels
        codes[~keep] = 0
        return codes, scale / levels
    if bits == 1:
        step = float(kept.mean()) if kept.size and kept.max() > 0 else 1.0
        codes = np.where(w >= 0, 1, -1).astype(np.int64)
    else:
        top = (1 << (bits - 1)) - 1
        biggest = float(kept.max()) if kept.size else 0.0
        step = biggest / top if biggest > 0 else 1.0
        codes = np.clip(np.round(w / step), -top, top).astype(np.int64)
    codes[~keep] = 0
    return codes, step


def dequantize_weights(codes: np.ndarray, step: float) -> np.ndarray:
    """The float weights ``codes * step`` (float64)."""
    return np.asarray(codes, dtype=np.float64) * step
