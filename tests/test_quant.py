"""The fixed summation order quantisers rest on (nrf_deploy.quant.row_sums, sign_parts): a sum
whose last bit decides a quantised value (SpiNNaker's ring-buffer shift, Xylo's λ cap) must not
change with numpy's or scipy's kernels. The order is written out here in plain Python; the
comparison is exact because both sides add the same numbers in the same order."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from nrf_deploy.quant import canonical, row_sums, sign_parts


def _pairwise(a: list[float]) -> float:
    """numpy's pairwise summation (blocks of 8 partial sums up to 128 values, halves above)."""
    n = len(a)
    if n < 8:
        total = 0.0
        for x in a:
            total += x
        return total
    if n <= 128:
        r = list(a[:8])
        i = 8
        while i < n - n % 8:
            r = [r[j] + a[i + j] for j in range(8)]
            i += 8
        total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for x in a[i:]:
            total += x
        return total
    half = n // 2
    half -= half % 8
    return _pairwise(a[:half]) + _pairwise(a[half:])


def _reference(m: sp.csr_matrix) -> list[float]:
    """Each row's entries by column: the first plus the pairwise sum of the rest."""
    out = []
    for i in range(m.shape[0]):
        row = m.getrow(i)
        values = [float(v) for _, v in sorted(zip(row.indices, row.data))]
        out.append(values[0] + _pairwise(values[1:]) if values else 0.0)
    return out


def test_row_sums_add_in_the_documented_order():
    rng = np.random.default_rng(5)
    lengths = [0, 1, 2, 7, 8, 9, 16, 127, 128, 129, 130, 300, 1000]
    rows = [rng.normal(size=n) * 10.0 ** rng.uniform(-4, 4, n) for n in lengths]
    cols = [rng.permutation(2000)[:n] for n in lengths]  # unsorted within each row
    m = sp.csr_matrix(
        (np.concatenate(rows), np.concatenate(cols), np.cumsum([0, *lengths])),
        shape=(len(lengths), 2000),
    )
    assert not m.has_sorted_indices
    assert row_sums(m).tolist() == _reference(m)


def test_sign_parts_keep_the_pattern_and_sort_rows():
    m = sp.csr_matrix((np.array([-1.5, 2.0, 0.25, -3.0]), np.array([3, 0, 1, 2]), [0, 2, 4]))
    pos, neg = sign_parts(m)
    for part in (pos, neg):
        assert part.nnz == 4 and part.has_sorted_indices  # the other sign: explicit zeros
    np.testing.assert_array_equal(pos.toarray(), np.maximum(m.toarray(), 0))
    np.testing.assert_array_equal(neg.toarray(), np.maximum(-m.toarray(), 0))
    assert m.indices.tolist() == [3, 0, 1, 2]  # the input is left as it was
    assert canonical(m).indices.tolist() == [0, 3, 1, 2]


def test_integer_rows_stay_integers():
    m = sp.csr_matrix(np.array([[1, 0, 65535], [0, 0, 0]], dtype=np.int64))
    sums = row_sums(m)
    assert sums.dtype == np.int64 and sums.tolist() == [65536, 0]
