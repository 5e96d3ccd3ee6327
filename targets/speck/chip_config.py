"""Speck chip configuration as JSON, field for field what samna's DYNAP-CNN configuration holds.

nrf-deploy never imports samna (the registry's package is a stub that reaches the network). The
fields and conventions follow sinabs 3.1.3 ``backend/dynapcnn/chips/dynapcnn.py``
(``get_dynapcnn_layer_config_dict`` / ``write_dynapcnn_layer_config`` / ``build_config``), which
copies them onto ``samna.<chip>.configuration.<Chip>Configuration``:

``cnn_layers[core]`` (samna ``CNNLayerConfig``; ``null`` for an unused core)
    ``dimensions``: ``input_shape{size{x, y}, feature_count}``, ``output_shape{...}``,
    ``padding{x, y}``, ``stride{x, y}``, ``kernel_size``;
    ``weights`` ``[out][in][x][y]`` (sinabs transposes torch's ``[out][in][y][x]`` "to match
    samna");
    ``biases`` ``[out]``; ``leak_enable`` (true when any bias is non-zero: biases are added on the
    leak clock); ``neurons_initial_value`` ``[out][x][y]`` (zeros); ``return_to_zero``;
    ``threshold_high``; ``threshold_low``; ``monitor_enable`` (true for the layers the graph
    outputs); ``destinations`` (samna's two slots) ``[{layer, enable, pooling}]``.
``dvs_layer`` (samna ``DVSLayerConfig``)
    ``pass_sensor_events`` false (inputs come from the host), ``merge``, ``pooling{x, y}`` and
    ``destinations`` — used only when the input must be pooled (only the DVS layer pools input).

Keys outside samna's (``input``, ``outputs``, ``core_of_layer``, ``host_readout``,
``leak_clock_period_s``) say how to feed and read the chip. To apply in samna::

    cfg = samna.speck2f.configuration.SpeckConfiguration()
    for core, layer in enumerate(js["cnn_layers"]):
        if layer is None: continue
        c = cfg.cnn_layers[core]; c.dimensions = <CNNLayerDimensions from layer["dimensions"]>
        for i, d in enumerate(layer["destinations"]): (c.destinations[i].layer, .enable, .pooling)
        = d.values()
        for key in ("weights", "biases", "leak_enable", "neurons_initial_value", "return_to_zero",
                    "threshold_high", "threshold_low", "monitor_enable"): setattr(c, key,
                    layer[key])
"""

from __future__ import annotations

from typing import Any

import numpy as np
from nrf_deploy.targets.speck.format import CORES, MAX_DESTINATIONS, SpeckLayer, SpeckProgram

FORMAT = "nrf-deploy speck chip configuration 1 (samna DYNAP-CNN field names)"


def _xy(pair: tuple[int, int]) -> dict[str, int]:
    """(y, x) -> samna's {x, y}."""
    return {"x": int(pair[1]), "y": int(pair[0])}


def _shape(chw: tuple[int, int, int]) -> dict[str, Any]:
    return {"size": {"x": int(chw[2]), "y": int(chw[1])}, "feature_count": int(chw[0])}


def _destinations(L: SpeckLayer, program: SpeckProgram) -> list[dict[str, Any]]:
    slots = []
    for name in L.destinations:
        dest = program.layer(name)
        pool = next(s.pool for s in dest.sources if s.name == L.name)
        slots.append({"layer": int(dest.core), "enable": True, "pooling": int(pool)})
    while len(slots) < MAX_DESTINATIONS:
        slots.append({"layer": 0, "enable": False, "pooling": 1})
    return slots


def cnn_layer_config(L: SpeckLayer, program: SpeckProgram, monitored: bool) -> dict[str, Any]:
    """One core's ``CNNLayerConfig`` fields."""
    f, oh, ow = L.out_shape
    return {
        "dimensions": {
            "input_shape": _shape(L.in_shape),
            "output_shape": _shape(L.out_shape),
            "padding": _xy(L.padding),
            "stride": _xy(L.stride),
            "kernel_size": int(L.kernel),
        },
        "weights": np.asarray(L.weight, dtype=np.int64).transpose(0, 1, 3, 2).tolist(),
        "biases": np.asarray(L.bias, dtype=np.int64).tolist(),
        "leak_enable": bool(np.any(L.bias)),
        "neurons_initial_value": np.zeros((f, ow, oh), dtype=np.int64).tolist(),
        "return_to_zero": bool(L.return_to_zero),
        "threshold_high": int(L.threshold_high),
        "threshold_low": int(L.threshold_low),
        "monitor_enable": bool(monitored),
        "destinations": _destinations(L, program),
    }


def chip_config(
    program: SpeckProgram,
    outputs: dict[str, str],
    dt: float,
    host_readout: list[dict] | None = None,
) -> dict[str, Any]:
    """samna-shaped configuration of `program` (layers already placed on cores).

    `outputs`: graph Output node -> layer whose spikes leave the chip for it (monitored cores);
    `dt` in seconds (the period of the leak clock that adds the biases); `host_readout`: the
    sidecar's read-outs computed on the host from monitored spikes."""
    monitored = set(outputs.values())
    cnn_layers: list[dict[str, Any] | None] = [None] * CORES
    for L in program.layers:
        cnn_layers[L.core] = cnn_layer_config(L, program, L.name in monitored)
    targets = program.input_destinations()
    pooled = [(name, pool) for name, pool in targets if pool > 1]
    dvs: dict[str, Any] = {
        "pass_sensor_events": False,
        "merge": False,
        "pooling": {"x": 1, "y": 1},
        "destinations": [{"layer": 0, "enable": False}] * MAX_DESTINATIONS,
    }
    if pooled:
        pool = pooled[0][1]
        slots = [{"layer": int(program.layer(name).core), "enable": True} for name, _ in targets]
        dvs.update(
            {
                "pooling": {"x": int(pool), "y": int(pool)},
                "destinations": (slots + [{"layer": 0, "enable": False}] * MAX_DESTINATIONS)[
                    :MAX_DESTINATIONS
                ],
            }
        )
    c, h, w = program.input_chw
    return {
        "format": FORMAT,
        "dvs_layer": dvs,
        "cnn_layers": cnn_layers,
        "input": {
            "shape": [c, h, w],
            "events": "one event per count: (feature c, x, y)",
            "via_dvs_layer": bool(pooled),
            "cores": sorted({int(program.layer(name).core) for name, _ in targets}),
            "note": (
                f"write DVS input events to the DVS layer (it pools by {pooled[0][1]} and forwards)"
                if pooled
                else "write Spike events (layer = core, feature, x, y) straight to these cores"
            ),
        },
        "outputs": {
            out: {"layer": name, "core": int(program.layer(name).core)}
            for out, name in outputs.items()
        },
        "core_of_layer": {L.name: int(L.core) for L in program.layers},
        "host_readout": [
            {**d, "core": int(program.layer(d["source"]).core)} for d in host_readout or []
        ],
        "leak_clock_period_s": float(dt),
    }
