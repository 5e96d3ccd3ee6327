"""The shared input checks of nrf_deploy.inputs."""

import numpy as np
import pytest

from nrf_deploy.errors import NrfError
from nrf_deploy.inputs import check_binary_spikes


@pytest.mark.parametrize(
    "x",
    [
        np.array([0, 1, 1], np.int8),
        np.array([0.0, 1.0], np.float32),
        np.array([True, False]),
        np.zeros((0, 3), np.int64),
    ],
)
def test_binary_spikes_pass_as_int64(x):
    out = check_binary_spikes(x, "Chip", "why")
    assert out.dtype == np.int64 and np.array_equal(out, x.astype(np.int64))


@pytest.mark.parametrize(
    "x",
    [
        np.array([0, 2]),
        np.array([-1, 0], np.int16),
        np.array([0.0, 0.5]),
        np.array([1.0, np.nan]),
        np.array([3], np.uint8),
    ],
)
def test_anything_but_zero_or_one_is_refused(x):
    with pytest.raises(NrfError, match="Chip inputs are binary spikes"):
        check_binary_spikes(x, "Chip", "why")
