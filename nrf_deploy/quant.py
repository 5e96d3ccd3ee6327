"""Shared fixed-point tools used by every target's quantiser, reference and emulator.

Conventions: "mantissa" and "state" values are Python/numpy integers (int64) in chip units;
float values are in the model's units. Nothing here knows about a particular chip.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

import numpy as np
import scipy.sparse as sp

from nrf_deploy.errors import RangeError


def signed_range(bits: int) -> tuple[int, int]:
    """Inclusive range of a two's-complement integer of `bits` bits."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap-around of int64 values to `bits` bits."""
    x = np.asarray(x, dtype=np.int64)
    half = np.int64(1) << (bits - 1)
    return ((x + half) & ((np.int64(1) << bits) - 1)) - half


def saturate(x: np.ndarray, bits: int) -> np.ndarray:
    """Clip int64 values to the signed range of `bits` bits."""
    lo, hi = signed_range(bits)
    return np.clip(np.asarray(x, dtype=np.int64), lo, hi)


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round to nearest, ties away from zero (numpy's ``round`` ties to even), as int64."""
    x = np.asarray(x, dtype=np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def check_range(values: np.ndarray, bits: int, what: str, where: str, hint: str,
                signed: bool = True) -> None:
    """Raise :class:`RangeError` if any value does not fit `bits` bits (no silent clipping)."""
    values = np.asarray(values)
    if values.size == 0:
        return
    lo, hi = signed_range(bits) if signed else (0, (1 << bits) - 1)
    vmin, vmax = int(values.min()), int(values.max())
    if vmin < lo or vmax > hi:
        raise RangeError(f"{what} needs values in [{vmin}, {vmax}], the chip holds {bits}-bit "
                         f"{'signed' if signed else 'unsigned'} [{lo}, {hi}]", where, hint)


def power_of_two_scale(max_abs: float, mantissa_max: int, exp_range: tuple[int, int]) -> int:
    """Largest exponent e in `exp_range` with ``max_abs * 2**e <= mantissa_max`` (finest
    resolution that still fits); values are then stored as ``round(x * 2**e)``. Returns the
    lower end of the range when nothing fits and the upper end for all-zero input."""
    lo, hi = exp_range
    if max_abs <= 0:
        return hi
    e = int(np.floor(np.log2(mantissa_max / max_abs)))
    return int(min(max(e, lo), hi))


def relative_error(reference: np.ndarray, approx: np.ndarray) -> float:
    """RMS error of `approx` relative to the RMS of `reference` (0 when both are zero)."""
    reference = np.asarray(reference, dtype=np.float64)
    approx = np.asarray(approx, dtype=np.float64)
    ref_rms = float(np.sqrt(np.mean(reference ** 2))) if reference.size else 0.0
    err_rms = float(np.sqrt(np.mean((reference - approx) ** 2))) if reference.size else 0.0
    return err_rms / ref_rms if ref_rms > 0 else err_rms


def int_matmul(weights: sp.spmatrix | np.ndarray, x: np.ndarray) -> np.ndarray:
    """Exact integer product ``x @ weights.T`` for int64 `x [B, n_in]` and integer weights
    ``[n_out, n_in]`` (sparse or dense). Computed in int64: no float rounding anywhere."""
    x = np.asarray(x, dtype=np.int64)
    if sp.issparse(weights):
        w = weights.tocsr().astype(np.int64)
        return np.asarray((w @ x.T).T, dtype=np.int64)
    return x @ np.asarray(weights, dtype=np.int64).T


_ALLOW_ZERO_WEIGHTS = contextvars.ContextVar("allow_zero_weights", default=False)


@contextlib.contextmanager
def zero_weight_policy(allow: bool) -> Iterator[None]:
    """Within the block, :func:`check_weights_survive` accepts all-zero projections if `allow`
    (``export --allow-zero-weights``); set by the core around ``Target.build``."""
    token = _ALLOW_ZERO_WEIGHTS.set(bool(allow))
    try:
        yield
    finally:
        _ALLOW_ZERO_WEIGHTS.reset(token)


def check_weights_survive(float_weights, int_weights, where: str) -> None:
    """Refuse a projection whose float weights are not all zero but whose quantised (integer)
    weights are: the chip would carry nothing of it. Dense arrays or scipy sparse matrices."""
    def nonzero(w) -> bool:
        if sp.issparse(w):
            return bool(w.count_nonzero())
        return bool(np.any(np.asarray(w)))

    if _ALLOW_ZERO_WEIGHTS.get() or not nonzero(float_weights) or nonzero(int_weights):
        return
    raise RangeError("quantisation turns every weight of this projection into 0 (the weights are "
                     "too small next to the threshold or the largest weight sharing the scale)",
                     where, "rescale the weights or thresholds, or pass --allow-zero-weights to "
                     "export it anyway")
