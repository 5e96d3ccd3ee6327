"""Speck's chip file read back: ``chip_config.json`` -> the :class:`SpeckProgram` the chip runs.

The inverse of :mod:`nrf_deploy.targets.speck.chip_config`, reading what samna would load: each
used core's ``CNNLayerConfig`` (dimensions, weights ``[out][in][x][y]``, biases — added only when
``leak_enable`` is set, as the chip's leak clock does —, thresholds, ``return_to_zero``, the two
destination slots with their pooling) and the input's route (the DVS layer's pooling and
destinations, or ``input.cores``). Layer names come from ``core_of_layer``; the order the cores
run in is derived from the destinations (a topological order of the data flow, as on the chip,
where events flow downstream). Nothing is taken from ``program.npz``: the emulator and the
sinabs witness run this program, the integer reference the quantised one, so an edit to either
file is a mismatch in ``verify``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
from nrf_deploy.targets.speck.format import Source, SpeckLayer, SpeckProgram

from nrf_deploy.errors import NrfError

CONFIG_FILE = "chip_config.json"


def read_chip_files(files: Mapping[str, bytes], input_name: str) -> SpeckProgram:
    """The program ``chip_config.json`` configures; `input_name` names the graph input (the
    chip's input has no name). NrfError for a configuration the chip could not run."""
    try:
        config = json.loads(files[CONFIG_FILE])
        return _program(config, input_name)
    except NrfError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise NrfError(
            f"{CONFIG_FILE} is not a valid Speck configuration ({type(exc).__name__}: {exc})",
            CONFIG_FILE,
            "re-run nrf-deploy export --target speck",
        ) from None


def _program(config: dict[str, Any], input_name: str) -> SpeckProgram:
    name_of = {int(core): name for name, core in config["core_of_layer"].items()}
    cores = {core: layer for core, layer in enumerate(config["cnn_layers"]) if layer is not None}
    if set(cores) != set(name_of):
        raise NrfError(
            f"{CONFIG_FILE}: configured cores {sorted(cores)} differ from core_of_layer "
            f"{sorted(name_of)}",
            CONFIG_FILE,
            "re-run nrf-deploy export --target speck",
        )
    sources: dict[int, list[Source]] = {core: [] for core in cores}
    for core in _input_cores(config):
        sources[core].append(Source(input_name, _input_pool(config)))
    for core, layer in cores.items():
        for slot in layer["destinations"]:
            if slot["enable"]:
                sources[int(slot["layer"])].append(Source(name_of[core], int(slot["pooling"])))
    layers = [
        _layer(name_of[core], cores[core], sources[core], core, name_of)
        for core in _flow_order(cores, sources, name_of)
    ]
    c, h, w = (int(v) for v in config["input"]["shape"])
    return SpeckProgram(input_name, (c, h, w), layers)


def _input_cores(config: dict[str, Any]) -> list[int]:
    if config["input"]["via_dvs_layer"]:
        return [int(d["layer"]) for d in config["dvs_layer"]["destinations"] if d["enable"]]
    return [int(core) for core in config["input"]["cores"]]


def _input_pool(config: dict[str, Any]) -> int:
    if not config["input"]["via_dvs_layer"]:
        return 1
    pool = config["dvs_layer"]["pooling"]
    if int(pool["x"]) != int(pool["y"]):
        raise NrfError(
            f"{CONFIG_FILE}: DVS pooling {pool} differs in x and y",
            CONFIG_FILE,
            "nrf-deploy pools square windows only; re-export",
        )
    return int(pool["x"])


def _yx(pair: dict[str, int]) -> tuple[int, int]:
    """samna's {x, y} -> (y, x)."""
    return int(pair["y"]), int(pair["x"])


def _layer(
    name: str, layer: dict[str, Any], sources: list[Source], core: int, name_of: dict[int, str]
) -> SpeckLayer:
    dims = layer["dimensions"]
    shape = dims["input_shape"]
    in_shape = (int(shape["feature_count"]), int(shape["size"]["y"]), int(shape["size"]["x"]))
    weight = np.asarray(layer["weights"], dtype=np.int64).transpose(0, 1, 3, 2)  # [out][in][x][y]
    where = f"{CONFIG_FILE}, cnn_layers[{core}] ('{name}')"
    if (
        weight.ndim != 4
        or weight.shape[1] != in_shape[0]
        or weight.shape[-1] != int(dims["kernel_size"])
    ):
        raise NrfError(
            f"weights of shape {list(weight.shape)} do not fit the dimensions",
            where,
            "re-run nrf-deploy export --target speck",
        )
    if np.any(np.asarray(layer["neurons_initial_value"])):
        raise NrfError(
            "non-zero neurons_initial_value: nrf-deploy runs from a zero state",
            where,
            "set neurons_initial_value to zeros or re-export",
        )
    bias = np.asarray(layer["biases"], dtype=np.int64).reshape(-1)
    if not layer["leak_enable"]:  # biases enter on the leak clock only
        bias = np.zeros_like(bias)
    destinations = [name_of[int(d["layer"])] for d in layer["destinations"] if d["enable"]]
    return SpeckLayer(
        name,
        tuple(sources),
        in_shape,
        weight,
        bias,
        _yx(dims["stride"]),
        _yx(dims["padding"]),
        int(layer["threshold_high"]),
        int(layer["threshold_low"]),
        bool(layer["return_to_zero"]),
        destinations,
        core,
    )


def _flow_order(
    cores: dict[int, Any], sources: dict[int, list[Source]], name_of: dict[int, str]
) -> list[int]:
    """Cores in an order where every core comes after the cores sending to it (lowest core first
    among those ready); NrfError if the destinations form a loop."""
    core_of = {name: core for core, name in name_of.items()}
    waiting = {
        core: {core_of[s.name] for s in sources[core] if s.name in core_of} for core in cores
    }
    order: list[int] = []
    while waiting:
        ready = sorted(core for core, needs in waiting.items() if not needs)
        if not ready:
            raise NrfError(
                f"{CONFIG_FILE}: the destinations of cores {sorted(waiting)} form a loop",
                CONFIG_FILE,
                "the chip's layers must form a feed-forward pipeline; re-export",
            )
        for core in ready:
            order.append(core)
            del waiting[core]
        for needs in waiting.values():
            needs.difference_update(ready)
    return order
