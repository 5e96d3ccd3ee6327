"""SpiNNaker s16.15 arithmetic: the reference's torch helpers and the emulator's numpy helpers
against a scalar pure-Python reading of the C sources (spinn_common round.h / stdfix-full-iso.h,
sPyNNaker decay.h), on many random values and the edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nrf_deploy.targets.spinnaker import emulator, reference
from nrf_deploy.targets.spinnaker.format import from_accum, ring_buffer_shift, to_accum
from nrf_deploy.targets.spinnaker.pynn import summed_weight_hint

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def c_smul_k_round_nearest(x: int, y: int) -> int:
    """``__stdfix_smul_k_round_nearest(x, y)`` written out with Python integers (arbitrary
    precision, ``>>`` floors like an arithmetic shift)."""
    if x == INT32_MIN and y == INT32_MIN:
        return INT32_MAX
    product = x * y  # __I64(x) * __I64(y)
    carry = (product >> 14) & 0x1  # __stdfix_round_s64: c = (x >> (n-1)) & 1
    rounded = ((product >> 15) + carry) << 15  # r = (x >> n); r = (r + c) << n
    value = rounded >> 15
    return max(INT32_MIN, min(INT32_MAX, value))  # __stdfix_sat_k


def c_decay_s1615(x: int, decay: int) -> int:
    """``decay_s1615``: ``kbits((int_k_t)((int64(bitsk(x)) * int64(bitsulr(decay))) >> 32))``."""
    return (x * decay) >> 32


def c_accum_add(x: int, y: int) -> int:
    """Non-saturating 32-bit accum addition (two's complement wrap)."""
    s = (x + y) & 0xFFFFFFFF
    return s - (1 << 32) if s >= 1 << 31 else s


def _random_pairs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    edges = np.array(
        [INT32_MIN, INT32_MIN + 1, -1, 0, 1, 1 << 14, 1 << 15, INT32_MAX, -(1 << 15), 3 << 13]
    )
    wide = rng.integers(INT32_MIN, INT32_MAX, n, endpoint=True)
    small = rng.integers(-(1 << 17), 1 << 17, n)  # products near the rounding point
    x = np.concatenate([np.repeat(edges, edges.size), wide, small, wide[::-1]])
    y = np.concatenate(
        [np.tile(edges, edges.size), small, rng.integers(-(1 << 16), 1 << 16, n), wide]
    )
    return x.astype(np.int64), y.astype(np.int64)


def test_known_values():
    half, quarter = to_accum(0.5), to_accum(0.25)
    assert c_smul_k_round_nearest(int(half), int(half)) == quarter
    assert c_smul_k_round_nearest(-1, int(half)) == 0  # -0.5 LSB rounds half up, to 0
    assert c_smul_k_round_nearest(1, int(half)) == 1  # +0.5 LSB rounds up, to 1 LSB
    assert c_smul_k_round_nearest(-3, int(half)) == -1  # -1.5 LSB -> -1
    assert c_smul_k_round_nearest(INT32_MAX, 2 << 15) == INT32_MAX  # saturates
    assert c_decay_s1615(-1, 1 << 31) == -1  # floor, not toward zero
    assert from_accum(to_accum(-1.25)) == -1.25


@pytest.mark.parametrize("seed", [0, 1])
def test_multiply_helpers_equal_the_c_semantics(seed):
    x, y = _random_pairs(20_000, seed)
    expected = np.array(
        [c_smul_k_round_nearest(int(a), int(b)) for a, b in zip(x, y)], dtype=np.int64
    )
    got_ref = reference.mul_accum(torch.as_tensor(x), torch.as_tensor(y)).numpy()
    got_emu = emulator._mul_accum(x, y)
    assert np.array_equal(got_ref, expected), np.flatnonzero(got_ref != expected)[:5]
    assert np.array_equal(got_emu, expected), np.flatnonzero(got_emu != expected)[:5]
    ties = (x * y) % (1 << 15) == (1 << 14)
    assert ties.sum() > 10, "the sample must contain exact ties"


def test_decay_and_wrap_helpers_equal_the_c_semantics():
    rng = np.random.default_rng(5)
    x = np.concatenate(
        [
            [INT32_MIN, INT32_MAX, -1, 0, 1],
            rng.integers(INT32_MIN, INT32_MAX, 20_000, endpoint=True),
        ]
    )
    d = np.concatenate([[2**32 - 1, 2**32 - 1, 2**31, 1, 1], rng.integers(0, 2**32, 20_000)])
    expected = np.array([c_decay_s1615(int(a), int(b)) for a, b in zip(x, d)], dtype=np.int64)
    assert np.array_equal(
        reference.decay_s1615(torch.as_tensor(x), torch.as_tensor(d)).numpy(), expected
    )
    assert np.array_equal(emulator._decay_s1615(x, d), expected)
    y = rng.integers(INT32_MIN, INT32_MAX, x.size, endpoint=True)
    wrapped = np.array([c_accum_add(int(a), int(b)) for a, b in zip(x, y)], dtype=np.int64)
    assert np.array_equal(
        reference.wrap32(torch.as_tensor(x) + torch.as_tensor(y)).numpy(), wrapped
    )
    assert np.array_equal(emulator._acc(x + y), wrapped)
    assert np.any(wrapped != x + y), "the sample must overflow"


def test_ring_buffer_shift_rule_and_the_pynn_hint():
    # sPyNNaker: ceil(log2(max)), one more when the max is exactly a power of two
    assert [ring_buffer_shift(m) for m in (0.0, 0.3, 1.0, 1.5, 2.0, 3.9, 4.0, 1000.0)] == [
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        10,
    ]
    for shift in range(16):
        assert ring_buffer_shift(summed_weight_hint(shift)) == shift
