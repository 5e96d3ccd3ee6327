"""Float model vs quantised reference vs emulator: what the chip's number format costs.

Every backend's graph output is compared with the float executor's on the same inputs. Chip
outputs lag the float model by the population delay the export records (``record.delays``,
in timesteps, e.g. one per Loihi Dense block) and read-out membranes are in chip units: they are
shifted back and divided by ``record.output_scale`` before comparing. The comparison window is
the float model's first ``T - delay`` steps, the same for every backend.

* spiking outputs: spike-count correlation with the float model, fraction of samples whose
  most active output neuron (the predicted class) agrees, relative L1 error of the counts, and the
  accuracy when class labels are given;
* read-out outputs: relative RMS error and correlation; for a graph whose metadata names the
  ``dsnt`` decoder (the RF-SNN) also the decoded coordinates: median distance to the float model's
  and, with labels (true centres), the task metric — median l2 error in pixels over frames after
  the warm-up.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from nrf_deploy.deployment import DeploymentRecord
from nrf_deploy.ir.graph import Graph
from nrf_deploy.trace import Trace

FLOAT = "float model"


def output_agreement(graph: Graph, float_trace: Trace, traces: dict[str, Trace], record: DeploymentRecord,
                     labels: np.ndarray | None = None, warmup: int | None = None,
                     reference: str | None = None, window: int | None = None) -> dict[str, Any]:
    """Agreement of each backend in `traces` with the float model (see the module docstring).

    With `reference` (a key of `traces`), every other backend also reports how many output values
    differ from the reference's on the samples both ran (0 for a bit-exact emulator). `window`
    caps the compared steps, so that reports of several targets compare the same float steps."""
    out_name = graph.output_names[0]
    source = graph.predecessors(out_name)[0]
    delay = int(record.delays.get(source, 0))
    ref = np.asarray(float_trace.outputs[out_name], dtype=np.float64)
    steps = ref.shape[0] - delay if window is None else min(ref.shape[0] - delay, window)
    result: dict[str, Any] = {"output": out_name, "source": source, "delay_steps": delay, "compared_steps": steps,
                              "kind": "spike counts" if graph.nodes[source].spiking else "read-out values",
                              "backends": {}}
    if steps <= 0:
        result["error"] = f"the output lags by {delay} steps: give inputs longer than that"
        return result
    ref = ref[:steps]
    scale = float(record.output_scale.get(source, 1.0))
    decoder = graph.metadata.get("decoder")
    if warmup is None:
        warmup = int(graph.metadata.get("warmup", 6))
    warmup = max(0, min(warmup, steps - 1))
    result["warmup_steps"] = warmup if decoder == "dsnt" else 0
    result["backends"][FLOAT] = _metrics(graph, ref, ref, labels, decoder, warmup)
    for name, trace in traces.items():
        arr = trace.outputs.get(out_name, trace.outputs.get(source))
        if arr is None:
            result["backends"][name] = {"error": f"backend recorded no output for '{out_name}'"}
            continue
        arr = np.asarray(arr, dtype=np.float64)
        chip = arr[delay:delay + steps] / scale
        result["backends"][name] = _metrics(graph, ref, chip, labels, decoder, warmup)
        result["backends"][name]["samples"] = int(chip.shape[1])
        if reference is not None and name != reference:
            first = np.asarray(traces[reference].outputs.get(out_name, traces[reference].outputs.get(source)))
            n = min(first.shape[1], arr.shape[1])
            result["backends"][name]["output_mismatches_vs_reference"] = int(
                np.count_nonzero(first[:, :n] != arr[:, :n]))
    result["backends"][FLOAT]["samples"] = int(ref.shape[1])
    result["headline"] = _headline(result)
    return result


def _metrics(graph: Graph, ref: np.ndarray, out: np.ndarray, labels: np.ndarray | None, decoder: Any,
             warmup: int) -> dict[str, Any]:
    ref = ref[:, :out.shape[1]]
    source = graph.predecessors(graph.output_names[0])[0]
    if graph.nodes[source].spiking:
        f = ref.sum(axis=0).reshape(ref.shape[1], -1)
        c = out.sum(axis=0).reshape(out.shape[1], -1)
        m: dict[str, Any] = {"spikes_per_inference": float(c.sum() / c.shape[0]),
                             "count_correlation": _corr(f, c),
                             "prediction_agreement": float(np.mean(f.argmax(1) == c.argmax(1))),
                             "count_relative_l1": float(np.abs(f - c).sum() / max(np.abs(f).sum(), 1e-12))}
        if labels is not None and np.asarray(labels).ndim == 1:
            m["accuracy"] = float(np.mean(c.argmax(1) == np.asarray(labels)[:c.shape[0]]))
        return m
    m = {"relative_rms_error": float(np.sqrt(np.mean((ref - out) ** 2)) / max(np.sqrt(np.mean(ref ** 2)), 1e-12)),
         "correlation": _corr(ref, out)}
    if decoder == "dsnt":
        import torch

        from nrf_deploy.models import dsnt

        size = int(graph.metadata.get("image_size", 64))
        f_xy = dsnt(torch.as_tensor(ref), size).numpy()[warmup:]
        c_xy = dsnt(torch.as_tensor(out), size).numpy()[warmup:]
        m["decoded_difference_px"] = float(np.median(np.linalg.norm(f_xy - c_xy, axis=-1)))
        if labels is not None and np.asarray(labels).ndim >= 3:
            y = np.asarray(labels, dtype=np.float64)[:ref.shape[0]][warmup:, :out.shape[1]]
            m["median_l2_px"] = float(np.median(np.linalg.norm(c_xy - y, axis=-1)))
    return m


def _headline(result: dict[str, Any]) -> dict[str, str]:
    """The one error metric the summary and the plot show, with a readable name."""
    metrics = next(iter(result["backends"].values()))
    for key, label in (("median_l2_px", "median l2 error vs true centres (px)"),
                       ("accuracy", "accuracy vs labels"),
                       ("decoded_difference_px", "decoded distance to the float model (px)"),
                       ("count_correlation", "spike-count correlation with the float model"),
                       ("relative_rms_error", "relative RMS error vs the float model")):
        if key in metrics:
            return {"key": key, "label": label}
    return {"key": "", "label": ""}


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    a, b = a.reshape(-1), b.reshape(-1)
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])
