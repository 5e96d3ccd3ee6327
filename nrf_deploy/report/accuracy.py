"""Float model vs quantised deployment: how much the chip's number format costs."""
from __future__ import annotations

from typing import Any

import numpy as np

from nrf_deploy.ir.graph import Graph
from nrf_deploy.trace import Trace


def output_agreement(graph: Graph, float_trace: Trace, chip_trace: Trace, sidecar: dict[str, Any],
                     labels: np.ndarray | None = None) -> dict[str, Any]:
    """Compare the graph outputs. Chip outputs are aligned by the population's delay (timesteps)
    and read-out membranes are converted back to model units with ``sidecar["output_scale"]``."""
    out_name = graph.output_names[0]
    source = graph.predecessors(out_name)[0]
    delay = int(sidecar.get("delays", {}).get(source, 0))
    ref = float_trace.outputs[out_name].astype(np.float64)
    chip = chip_trace.outputs.get(out_name, chip_trace.outputs.get(source)).astype(np.float64)
    scale = float(sidecar.get("output_scale", {}).get(source, 1.0))
    steps = ref.shape[0] - delay
    ref, chip = ref[:steps], chip[delay:delay + steps] / scale
    result: dict[str, Any] = {"output": out_name, "delay_steps": delay, "compared_steps": steps}
    if graph.nodes[source].spiking:
        f_counts = ref.sum(axis=0).reshape(ref.shape[1], -1)
        c_counts = chip.sum(axis=0).reshape(chip.shape[1], -1)
        result["kind"] = "spike counts"
        result["prediction_agreement"] = float(np.mean(f_counts.argmax(1) == c_counts.argmax(1)))
        result["count_correlation"] = _corr(f_counts, c_counts)
        result["float_spikes"] = float(f_counts.sum() / f_counts.shape[0])
        result["chip_spikes"] = float(c_counts.sum() / c_counts.shape[0])
        return result
    result["kind"] = "read-out membrane"
    result["relative_rms_error"] = float(np.sqrt(np.mean((ref - chip) ** 2)) / max(np.sqrt(np.mean(ref ** 2)), 1e-12))
    result["correlation"] = _corr(ref, chip)
    if graph.metadata.get("decoder") == "dsnt":
        import torch

        from nrf_deploy.models import dsnt

        size = int(graph.metadata.get("image_size", 64))
        f_xy = dsnt(torch.as_tensor(ref), size).numpy()
        c_xy = dsnt(torch.as_tensor(chip), size).numpy()
        result["decoded_difference_px"] = float(np.median(np.linalg.norm(f_xy - c_xy, axis=-1)))
        if labels is not None:
            y = labels[:steps]
            warm = min(6, steps - 1)
            result["float_median_l2_px"] = float(np.median(np.linalg.norm(f_xy[warm:] - y[warm:], axis=-1)))
            result["chip_median_l2_px"] = float(np.median(np.linalg.norm(c_xy[warm:] - y[warm:], axis=-1)))
    return result


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    a, b = a.reshape(-1), b.reshape(-1)
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])
