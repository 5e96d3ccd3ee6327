"""Target registry: a new hardware target is one folder here plus one line in REGISTRY.

Installed as ``nrf_deploy.targets`` (setup.py maps this folder into the nrf_deploy namespace).
Entries are ``"module:Class"`` strings so importing one target never imports another's
simulator (Lava, sinabs, onnxruntime are slow to import).
"""

from __future__ import annotations

import importlib

from nrf_deploy.errors import NrfError

REGISTRY: dict[str, str] = {
    "loihi": "nrf_deploy.targets.loihi:LoihiTarget",
    "speck": "nrf_deploy.targets.speck:SpeckTarget",
    "spinnaker": "nrf_deploy.targets.spinnaker:SpiNNakerTarget",
    "onnx": "nrf_deploy.targets.onnx:OnnxTarget",
    "xylo": "nrf_deploy.targets.xylo:XyloTarget",
}


def target_names() -> list[str]:
    return list(REGISTRY)


def get_target(name: str):
    """Instantiate the target called `name` (raises NrfError for unknown or unavailable ones)."""
    if name not in REGISTRY:
        raise NrfError(
            f"unknown target '{name}'", "--target", f"choose one of: {', '.join(REGISTRY)}"
        )
    module_name, class_name = REGISTRY[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(module_name):
            raise NrfError(
                f"target '{name}' is registered but not installed in this build",
                module_name,
                "reinstall nrf-deploy (make test bootstraps it)",
            ) from exc
        raise
    return getattr(module, class_name)()


def available_targets() -> list:
    """An instance of every registered target that can be imported here, in registry order (one
    whose module or a package it imports is missing is left out)."""
    found = []
    for name in REGISTRY:
        try:
            found.append(get_target(name))
        except (NrfError, ImportError):
            continue
    return found
