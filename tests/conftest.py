"""Shared fixtures: paths to the external NIR graphs and small graph builders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("NRF_FIXTURES", REPO.parent / "shared" / "fixtures"))
CLI = [sys.executable, "-m", "nrf_deploy"]


@pytest.fixture(scope="session")
def fixture_path() -> Path:
    path = FIXTURES / "cnn_sinabs.nir"
    if not path.exists():
        pytest.fail(
            f"fixture {path} missing: CI expects ../shared/fixtures beside the clone "
            "(set NRF_FIXTURES to point elsewhere)"
        )
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


# Property tests draw the same examples on every machine and run (no example database), so CI
# verdicts do not depend on what an earlier run happened to find; explicit @example cases pin
# regressions.
from hypothesis import settings as _hypothesis_settings

_hypothesis_settings.register_profile("nrf", derandomize=True, database=None)
_hypothesis_settings.load_profile("nrf")
