"""The integer arithmetic of a computational SOT-MRAM sub-array: bit-planes, dual-row AND,
bit-count and shift-add (docs/pim-bitplane.md, "the PIM contract").

For unsigned M-bit weight codes u and K-bit activation codes a of one fan-in window,

    P = sum_{m<M} sum_{k<K} 2^(m+k) bitcount(AND(C_m(U), C_k(A)))      (weight planes)
    S = sum_{k<K} 2^k bitcount(AND(Q, C_k(A)))                          (mask plane Q)
    acc = alpha P - beta S = sum over kept weights of c a,  c = alpha u - beta

(DoReFa-Net's bit-plane identity, Zhou et al. 2016, with the affine correction for signed
codes). Three implementations that must agree exactly:

* :func:`accumulate_bitplanes` on packed uint64 words: NumPy (``np.bitwise_count``) or the
  compiled kernel ``archsim._kernels_pim_bitplane`` (``cython_kernels/pim_bitplane.pyx``);
* :func:`accumulate_python`: plain Python integers, one window at a time (the per-cycle
  model's arithmetic);
* :func:`accumulate_gemm`: one GEMM of the signed codes (the fast engine's path; float32 when
  every partial sum is an integer below 2^24, float64 otherwise, so it is exact).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import numpy as np

__all__ = ["BACKEND", "accumulate_bitplanes", "accumulate_gemm", "accumulate_python",
           "affine", "gemm_dtype", "im2col", "pack_planes", "unsigned_codes"]


def _compiled() -> ModuleType | None:
    if os.environ.get("ARCHSIM_KERNELS") == "numpy":
        return None
    try:
        return importlib.import_module("archsim._kernels_pim_bitplane")
    except ImportError:  # pragma: no cover - a build without a C compiler
        if os.environ.get("ARCHSIM_KERNELS") == "cython":
            raise
        return None


_CY = _compiled()
#: the back end of :func:`accumulate_bitplanes` by default: ``cython`` or ``numpy``
BACKEND = "cython" if _CY is not None else "numpy"


def affine(quantizer: str, bits: int) -> tuple[int, int]:
    """(alpha, beta) with ``code = alpha u - beta`` for the weight quantizer (contract §2)."""
    levels = (1 << bits) - 1
    if quantizer == "dorefa":
        return 2, levels
    if bits == 1:
        return 2, 1
    return 1, (1 << (bits - 1)) - 1


def unsigned_codes(codes: np.ndarray, keep: np.ndarray, quantizer: str,
                   bits: int) -> np.ndarray:
    """The stored unsigned codes u (int64, 0 where pruned) of signed codes ``codes``."""
    alpha, beta = affine(quantizer, bits)
    u = np.where(keep, (codes + beta) // alpha, 0).astype(np.int64)
    if np.any((u < 0) | (u >= (1 << bits))) or np.any(np.where(keep, alpha * u - beta,
                                                                 0) != codes):
        raise ValueError(f"codes are not {bits}-bit {quantizer} codes")
    return u


def im2col(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
           padding: tuple[int, int], groups: int) -> np.ndarray:
    """Windows of a (C, H, W) code map as (groups, C/groups kh kw, Ho Wo), the fan-in in
    (c, ky, kx) order (the workload's weight order), zero padding."""
    c, h, w = x.shape
    kh, kw = kernel
    sh, sw = stride
    ph, pw = padding
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    cols = np.empty((c, kh, kw, ho, wo), dtype=x.dtype)
    for ky in range(kh):
        for kx in range(kw):
            cols[:, ky, kx] = xp[:, ky:ky + sh * (ho - 1) + 1:sh, kx:kx + sw * (wo - 1) + 1:sw]
    return cols.reshape(groups, (c // groups) * kh * kw, ho * wo)


def pack_planes(x: np.ndarray, bits: int) -> np.ndarray:
    """Bit-planes of unsigned codes ``x`` (rows, n) packed along n: uint64 (bits, rows, words),
    bit j of word i holds element 64 i + j (little-endian bit order)."""
    rows, n = x.shape
    words = (n + 63) // 64
    out = np.zeros((bits, rows, words * 64), dtype=np.uint8)
    for b in range(bits):
        out[b, :, :n] = (x >> b) & 1
    packed = np.packbits(out.reshape(bits, rows, words, 8, 8)[..., ::-1], axis=-1)
    return np.ascontiguousarray(packed.reshape(bits, rows, words * 8)).view("<u8")


def _accumulate_numpy(wp: np.ndarray, qp: np.ndarray | None, ap: np.ndarray, alpha: int,
                      beta: int, nonzero_rows: int | None = None) -> np.ndarray:
    m_bits, f, _ = wp.shape
    k_bits, p, _ = ap.shape
    acc = np.zeros((f, p), dtype=np.int64)
    for m in range(m_bits):
        for k in range(k_bits):
            cnt = np.bitwise_count(wp[m][:, None, :] & ap[k][None, :, :]).sum(
                axis=-1, dtype=np.int64)
            acc += alpha * (cnt << (m + k))
    for k in range(k_bits):
        if qp is None:  # no mask: every weight is kept, S is the activation count
            cnt = np.broadcast_to(np.bitwise_count(ap[k]).sum(axis=-1, dtype=np.int64),
                                  (f, p))
        else:
            cnt = np.bitwise_count(qp[:, None, :] & ap[k][None, :, :]).sum(axis=-1,
                                                                            dtype=np.int64)
        acc -= beta * (cnt << k)
    return acc


def accumulate_bitplanes(wp: np.ndarray, qp: np.ndarray | None, ap: np.ndarray, alpha: int,
                         beta: int, backend: str | None = None) -> np.ndarray:
    """acc (F, P) int64 from packed weight planes ``wp`` (M, F, words), the mask plane ``qp``
    (F, words, or None: nothing pruned) and activation planes ``ap`` (K, P, words)."""
    use = backend or BACKEND
    if use == "cython":
        if _CY is None:
            raise RuntimeError("the compiled kernel archsim._kernels_pim_bitplane is not built")
        q = qp if qp is not None else np.zeros((0, wp.shape[2]), dtype=np.uint64)
        out: np.ndarray = _CY.accumulate(np.ascontiguousarray(wp), np.ascontiguousarray(q),
                                         np.ascontiguousarray(ap), alpha, beta,
                                         qp is not None)
        return out
    return _accumulate_numpy(wp, qp, ap, alpha, beta)


def accumulate_python(u_rows: list[list[int]], keep_rows: list[list[bool]] | None,
                      window: list[int], m_bits: int, k_bits: int, alpha: int,
                      beta: int) -> list[int]:
    """acc of one window for every filter, in plain Python integers: each bit-plane is an
    int whose bit j is column j; AND is ``&``, the bit-counter ``int.bit_count``."""
    n = len(window)
    a_planes = [sum(((window[j] >> k) & 1) << j for j in range(n)) for k in range(k_bits)]
    out = []
    for f, row in enumerate(u_rows):
        w_planes = [sum(((row[j] >> m) & 1) << j for j in range(n)) for m in range(m_bits)]
        q = (sum(int(bool(keep_rows[f][j])) << j for j in range(n)) if keep_rows is not None
             else (1 << n) - 1)
        p_sum = 0
        for m in range(m_bits):
            for k in range(k_bits):
                p_sum += (w_planes[m] & a_planes[k]).bit_count() << (m + k)
        s_sum = sum((q & a_planes[k]).bit_count() << k for k in range(k_bits))
        out.append(alpha * p_sum - beta * s_sum)
    return out


def gemm_dtype(n: int, code_max: int, act_max: int) -> type:
    """float32 if ``n code_max act_max < 2^24`` (every partial sum of a length-n dot product
    of such integers is then an exact float32 integer, in any summation order), else float64
    (exact below 2^53, which 8-bit codes cannot reach)."""
    return np.float32 if n * code_max * act_max < (1 << 24) else np.float64


def accumulate_gemm(codes: np.ndarray, cols: np.ndarray, code_max: int,
                    act_max: int) -> np.ndarray:
    """acc = codes (F, N) @ cols (N, P) of integers, exactly (int64 result), as one BLAS GEMM
    in :func:`gemm_dtype`."""
    dtype = gemm_dtype(codes.shape[1], code_max, act_max)
    prod = np.matmul(codes.astype(dtype, copy=False), cols.astype(dtype, copy=False))
    return prod.astype(np.int64)
