"""Tests that need a witness environment (``nrf-deploy witnesses install NAME``): skipped with the
install command on a developer's machine, failed when the environment variable ``CI`` is set
(``true``), where every environment must be installed."""

from __future__ import annotations

import os

import pytest

from nrf_deploy.witness import WitnessNotInstalled, ready


def in_ci() -> bool:
    """Whether this run is CI's (``CI=true``, as GitHub Actions and most CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_env(name: str) -> None:
    """Skip the calling test (fail it in CI) unless witness environment `name` is installed."""
    try:
        ready(name)
    except WitnessNotInstalled as exc:
        if in_ci():
            pytest.fail(f"witness environment '{name}' {exc.short} (CI needs every environment)")
        pytest.skip(exc.short)
