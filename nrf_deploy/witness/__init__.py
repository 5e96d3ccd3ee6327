"""Vendor tools as witnesses in environments of their own (never imported by the core).

* :mod:`~nrf_deploy.witness.envs` — what an environment is (:class:`WitnessEnv`) and which exist;
* :mod:`~nrf_deploy.witness.install` — creating, checking and describing them (uv or venv + pip);
* :mod:`~nrf_deploy.witness.run` — asking one: a runner function in a fresh process of the
  environment's interpreter, ``.npz`` in and out;
* :mod:`~nrf_deploy.witness.launch` — the file format of that exchange and the launcher that runs
  inside the environment (standard library and numpy only).

``nrf-deploy witnesses`` lists them; ``nrf-deploy witnesses install NAME|all`` creates them.
"""

from __future__ import annotations

from nrf_deploy.witness.envs import InstallStep, WitnessEnv, environments, get_env
from nrf_deploy.witness.run import (
    WitnessFailed,
    WitnessNotInstalled,
    WitnessRefused,
    call,
    call_many,
    missing,
    provenance,
    ready,
)

__all__ = [
    "InstallStep",
    "WitnessEnv",
    "WitnessFailed",
    "WitnessNotInstalled",
    "WitnessRefused",
    "call",
    "call_many",
    "environments",
    "get_env",
    "missing",
    "provenance",
    "ready",
]
