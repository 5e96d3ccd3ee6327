"""Speck chip configuration as JSON, mirroring samna's DYNAP-CNN configuration fields.

Field mapping (samna ``speck2f.configuration.SpeckConfiguration`` / ``dynapcnn`` CNNLayerConfig):
``cnn_layers[core].dimensions`` {input_shape{size{x,y}, feature_count}, output_shape, kernel_size,
stride{x,y}, padding{x,y}}, ``weights`` [out][in][ky][kx] (int8), ``biases`` (int16),
``leak_enable`` (false: IAF only), ``return_to_zero``, ``threshold_high``, ``threshold_low``,
``destinations`` [{layer, enable, pooling}] (at most 2), ``monitor_enable``. Load it in samna by
copying these fields onto a ``SpeckConfiguration`` (nrf-deploy never imports samna).
"""
from __future__ import annotations

from typing import Any

from nrf_deploy.targets.speck.format import SpeckProgram


def chip_config(program: SpeckProgram) -> dict[str, Any]:
    """samna-shaped configuration: one entry per used core, keyed by core id."""
    core_of = {L.name: L.core for L in program.layers}
    layers = {}
    for L in program.layers:
        c, h, w = L.in_shape
        f, oh, ow = L.out_shape
        k = int(L.weight.shape[-1])
        layers[str(L.core)] = {
            "nrf_layer": L.name,
            "dimensions": {"input_shape": {"feature_count": c, "size": {"x": w, "y": h}},
                           "output_shape": {"feature_count": f, "size": {"x": ow, "y": oh}},
                           "kernel_size": k, "stride": {"x": L.stride, "y": L.stride},
                           "padding": {"x": L.padding, "y": L.padding}},
            "weights": L.weight.astype(int).tolist(),
            "biases": L.bias.astype(int).tolist(),
            "leak_enable": False,
            "return_to_zero": bool(L.return_to_zero),
            "threshold_high": int(L.threshold_high),
            "threshold_low": int(L.threshold_low),
            "destinations": [{"layer": core_of[d], "enable": True, "pooling": int(L.pool)} for d in L.destinations],
            "monitor_enable": not L.destinations,
        }
    first = program.layers[0]
    return {"format": "samna DYNAP-CNN configuration fields (see docs/targets/speck.md)",
            "dvs_layer": {"destinations": [{"layer": first.core, "enable": True, "pooling": int(first.input_pool)}],
                          "input_shape": list(program.input_shape)},
            "cnn_layers": layers}
