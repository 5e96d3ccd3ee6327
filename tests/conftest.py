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


# --- vendor tools: witnesses in environments of their own (nrf_deploy.witness) -------------------


def in_ci() -> bool:
    """True when the environment variable CI is set (GitHub, GitLab and .ci/run set CI=true)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def need_witness(name: str) -> None:
    """Return when witness environment `name` is installed and current. Otherwise skip the test
    with the install command — or, in CI, fail it: CI must really run the witnesses."""
    from nrf_deploy.witness.run import missing

    reason = missing(name)
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"CI needs witness environment '{name}' ({reason}; 'make witnesses')")
    pytest.skip(f"witness environment '{name}' {reason}")


@pytest.fixture(scope="session")
def lava_env() -> None:
    """The ``lava`` witness environment (skip locally, fail in CI when it is missing)."""
    need_witness("lava")


@pytest.fixture(scope="session")
def sinabs_env() -> None:
    """The ``sinabs`` witness environment (skip locally, fail in CI when it is missing)."""
    need_witness("sinabs")


@pytest.fixture(scope="session")
def xylosim_env() -> None:
    """The ``xylosim`` witness environment (skip locally, fail in CI when it is missing)."""
    need_witness("xylosim")
