"""Shared fixed-point tools used by every target's quantiser, reference and emulator.

Conventions: "mantissa" and "state" values are Python/numpy integers (int64) in chip units;
float values are in the model's units. Nothing here knows about a particular chip.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from nrf_deploy.errors import RangeError


def signed_range(bits: int) -> tuple[int, int]:
    """Inclusive range of a two's-complement integer of `bits` bits."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round to nearest, ties away from zero (numpy's ``round`` ties to even), as int64."""
    x = np.asarray(x, dtype=np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def check_range(
    values: np.ndarray, bits: int, what: str, where: str, hint: str, signed: bool = True
) -> None:
    """Raise :class:`RangeError` if any value does not fit `bits` bits (no silent clipping)."""
    values = np.asarray(values)
    if values.size == 0:
        return
    lo, hi = signed_range(bits) if signed else (0, (1 << bits) - 1)
    vmin, vmax = int(values.min()), int(values.max())
    if vmin < lo or vmax > hi:
        raise RangeError(
            f"{what} needs values in [{vmin}, {vmax}], the chip holds {bits}-bit "
            f"{'signed' if signed else 'unsigned'} [{lo}, {hi}]",
            where,
            hint,
        )


def canonical(m: sp.spmatrix) -> sp.csr_matrix:
    """`m` as CSR with each row's column indices sorted (a copy if they were not). scipy >= 1.16
    returns some products (``sp.diags(g) @ m``) with unsorted rows, where older releases sorted
    them; the order of a row's entries is the order :func:`row_sums` adds them in."""
    m = sp.csr_matrix(m)
    return m if m.has_sorted_indices else m.sorted_indices()


def sign_parts(m: sp.spmatrix) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``(max(m, 0), max(-m, 0))`` of a sparse matrix, both with `m`'s stored pattern (rows
    sorted, :func:`canonical`): an entry of the other sign stays as an explicit zero. scipy < 1.16's
    ``m.maximum(0)`` kept those zeros and later releases drop them, which changes the order of
    :func:`row_sums` and so the last bit of a sum that can decide a quantised value; keeping them
    gives every scipy the same result."""
    m = sp.csr_matrix(canonical(m), dtype=np.float64, copy=True)
    negative = m.copy()
    m.data = np.maximum(m.data, 0.0)
    negative.data = np.maximum(-negative.data, 0.0)
    return m, negative


def row_sums(m: sp.spmatrix) -> np.ndarray:
    """The sum of each row's stored entries in one fixed order: by column within the row
    (:func:`canonical`), added as ``np.add.reduceat`` adds a segment (its first entry plus
    numpy's pairwise sum of the rest; the same in numpy 1.26 and 2.x), which is what scipy's
    ``sum(axis=1)`` computes on sorted rows. Written out so that a quantiser whose decisions rest
    on the last bit of a sum does not change with scipy (tests/test_quant.py pins the order)."""
    m = canonical(m)
    out = np.zeros(m.shape[0], dtype=m.dtype)
    rows = np.flatnonzero(np.diff(m.indptr))
    if rows.size:
        out[rows] = np.add.reduceat(m.data[: m.indptr[-1]], m.indptr[rows])
    return out


def relative_error(reference: np.ndarray, approx: np.ndarray) -> float:
    """RMS error of `approx` relative to the RMS of `reference` (0 when both are zero)."""
    reference = np.asarray(reference, dtype=np.float64)
    approx = np.asarray(approx, dtype=np.float64)
    ref_rms = float(np.sqrt(np.mean(reference**2))) if reference.size else 0.0
    err_rms = float(np.sqrt(np.mean((reference - approx) ** 2))) if reference.size else 0.0
    return err_rms / ref_rms if ref_rms > 0 else err_rms


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
    raise RangeError(
        "quantisation turns every weight of this projection into 0 (the weights are "
        "too small next to the threshold or the largest weight sharing the scale)",
        where,
        "rescale the weights or thresholds, or pass --allow-zero-weights to export it anyway",
    )
