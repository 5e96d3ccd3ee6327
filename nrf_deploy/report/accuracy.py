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

FLOAT = "float"
"""Key of the float model among the backends (report.json keys have no spaces)."""


def output_agreement(
    graph: Graph,
    float_trace: Trace,
    traces: dict[str, Trace],
    record: DeploymentRecord,
    labels: np.ndarray | None = None,
    warmup: int | None = None,
    reference: str | None = None,
    window: int | None = None,
    tolerance: float = 0.0,
) -> dict[str, Any]:
    """Agreement of each backend in `traces` with the float model (see the module docstring).

    With `reference` (a key of `traces`), every other backend also reports how many output values
    differ from the reference's on the samples both ran (0 for a bit-exact emulator; float
    outputs by more than the target's `tolerance`, as verification counts them). `window`
    caps the compared steps, so that reports of several targets compare the same float steps."""
    out_name = graph.output_names[0]
    source = graph.predecessors(out_name)[0]
    delay = int(record.delays.get(source, 0))
    ref = np.asarray(float_trace.outputs[out_name], dtype=np.float64)
    steps = ref.shape[0] - delay if window is None else min(ref.shape[0] - delay, window)
    result: dict[str, Any] = {
        "output": out_name,
        "source": source,
        "delay_steps": delay,
        "compared_steps": steps,
        "kind": "spike counts" if graph.nodes[source].spiking else "read-out values",
        "backends": {},
    }
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
        chip = arr[delay : delay + steps] / scale
        result["backends"][name] = _metrics(graph, ref, chip, labels, decoder, warmup)
        result["backends"][name]["samples"] = int(chip.shape[1])
        if reference is not None and name != reference:
            first = np.asarray(
                traces[reference].outputs.get(out_name, traces[reference].outputs.get(source))
            )
            n = min(first.shape[1], arr.shape[1])
            a, b = first[:, :n], arr[:, :n]
            floating = np.issubdtype(np.asarray(a).dtype, np.floating) or np.issubdtype(
                b.dtype, np.floating
            )
            limit = tolerance if floating and not graph.nodes[source].spiking else 0.0
            result["backends"][name]["output_mismatches_vs_reference"] = int(
                np.count_nonzero(np.abs(np.asarray(a, dtype=np.float64) - b) > limit)
            )
    result["backends"][FLOAT]["samples"] = int(ref.shape[1])
    result["headline"] = _headline(result)
    if decoder == "dsnt":
        chips = {
            name: np.asarray(t.outputs.get(out_name, t.outputs.get(source)), dtype=np.float64)[
                delay : delay + steps
            ]
            / scale
            for name, t in traces.items()
        }
        result["trajectory"] = _trajectory(graph, ref, chips, labels, warmup)
    return result


def _trajectory(
    graph: Graph,
    ref: np.ndarray,
    chips: dict[str, np.ndarray],
    labels: np.ndarray | None,
    warmup: int,
    sample: int = 0,
) -> dict[str, Any]:
    """Decoded (x, y) per step of one sample, in input pixels: the float model, each backend and
    the true centres when known; ``[steps][objects][2]`` lists (DSNT runs on the host)."""
    import torch

    from nrf_deploy.models import dsnt

    size = int(graph.metadata.get("image_size", 64))

    def decode(arr: np.ndarray) -> list:
        return dsnt(torch.as_tensor(arr[:, sample]), size).numpy().round(3).tolist()

    out: dict[str, Any] = {
        "sample": sample,
        "warmup_steps": warmup,
        "image_size": size,
        "decoded": {FLOAT: decode(ref)},
    }
    out["decoded"].update(
        {name: decode(arr) for name, arr in chips.items() if arr.shape[1] > sample}
    )
    if labels is not None and np.asarray(labels).ndim >= 3:
        out["truth"] = (
            np.asarray(labels, dtype=np.float64)[: ref.shape[0], sample].round(3).tolist()
        )
    return out


def _metrics(
    graph: Graph,
    ref: np.ndarray,
    out: np.ndarray,
    labels: np.ndarray | None,
    decoder: Any,
    warmup: int,
) -> dict[str, Any]:
    ref = ref[:, : out.shape[1]]
    source = graph.predecessors(graph.output_names[0])[0]
    if graph.nodes[source].spiking:
        f = ref.sum(axis=0).reshape(ref.shape[1], -1)
        c = out.sum(axis=0).reshape(out.shape[1], -1)
        m: dict[str, Any] = {
            "spikes_per_inference": float(c.sum() / c.shape[0]),
            "count_correlation": _corr(f, c),
            "prediction_agreement": float(np.mean(f.argmax(1) == c.argmax(1))),
            "count_relative_l1": float(np.abs(f - c).sum() / max(np.abs(f).sum(), 1e-12)),
        }
        if labels is not None and np.asarray(labels).ndim == 1:
            m["accuracy"] = float(np.mean(c.argmax(1) == np.asarray(labels)[: c.shape[0]]))
        return m
    m = {
        "relative_rms_error": float(
            np.sqrt(np.mean((ref - out) ** 2)) / max(np.sqrt(np.mean(ref**2)), 1e-12)
        ),
        "correlation": _corr(ref, out),
    }
    if decoder == "dsnt":
        import torch

        from nrf_deploy.models import dsnt

        size = int(graph.metadata.get("image_size", 64))
        f_xy = dsnt(torch.as_tensor(ref), size).numpy()[warmup:]
        c_xy = dsnt(torch.as_tensor(out), size).numpy()[warmup:]
        m["decoded_difference_px"] = float(np.median(np.linalg.norm(f_xy - c_xy, axis=-1)))
        if labels is not None and np.asarray(labels).ndim >= 3:
            y = np.asarray(labels, dtype=np.float64)[: ref.shape[0]][warmup:, : out.shape[1]]
            m["median_l2_px"] = float(np.median(np.linalg.norm(c_xy - y, axis=-1)))
    return m


def _headline(result: dict[str, Any]) -> dict[str, str]:
    """The one error metric the summary and the plot show, with a readable name."""
    metrics = next(iter(result["backends"].values()))
    from nrf_deploy.report.fmt import label

    for key in (
        "median_l2_px",
        "accuracy",
        "decoded_difference_px",
        "count_correlation",
        "relative_rms_error",
    ):
        if key in metrics:
            return {
                "key": key,
                "label": label(key),
                "better": "higher" if key in ("accuracy", "count_correlation") else "lower",
            }
    return {"key": "", "label": "", "better": ""}


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    a, b = a.reshape(-1), b.reshape(-1)
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])
