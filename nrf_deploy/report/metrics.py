"""NeuroBench-style counts (Yik et al., Nat. Commun. 16:1545, 2025) from one run of a deployment.

All counts are per inference (one sample of T timesteps), averaged over the samples run. They are
taken from the target's reference backend, i.e. from what the chip would compute, in chip units:

* **synapses** of a projection: the nonzero entries of its composed *float* matrix (a pooling +
  conv chain is one matrix), from :func:`nrf_deploy.lowering.lower`. A quantiser may drop weights
  that round to zero, so the chip can store fewer; the targets' resource records count those;
* **dense SOPs**: every synapse evaluated every step (synapses x T) — hardware without sparsity;
* **effective SOPs**: only synapses addressed by a nonzero input: sum over source events of the
  source neuron's fan-out. A spike count k (multi-spike outputs, input event counts) is k events;
* **ACs vs MACs**: effective ops whose source emits events (Input, IF/LIF/CubaLIF/Threshold) are
  accumulates; ops whose source emits graded values (LI/I read-outs) are multiply-accumulates
  (nonzero values x fan-out);
* **neuron updates**: every neuron of every population every step; *active* updates are those of
  neurons that received a synaptic event or fired in that step;
* **activation sparsity**: 1 - spikes / neuron updates; **connection sparsity**: 1 - synapses /
  (n_source x n_target), over all projections;
* **footprint**: parameters of the float model (weights, biases, neuron constants; not layer
  geometry) and their float32 bytes.

``counts["cores"]`` (not written to JSON) holds synaptic events per core and step, for the
time-stepped latency model; the core of each neuron comes from the export's record (core slices).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp

from nrf_deploy.deployment import DeploymentRecord
from nrf_deploy.ir.graph import Graph
from nrf_deploy.ir.spec import SPIKING_KINDS
from nrf_deploy.lowering import lower
from nrf_deploy.trace import Trace

EVENT_KINDS = SPIKING_KINDS | {"Input"}


def activity(graph: Graph, trace: Trace, x: np.ndarray, name: str) -> np.ndarray | None:
    """A population's output ``[T, B, n]`` as float64 (the input events for the Input node)."""
    arr = x if graph.nodes[name].kind == "Input" else trace.outputs.get(name)
    if arr is None:
        return None
    arr = np.asarray(arr)
    return arr.reshape(arr.shape[0], arr.shape[1], -1).astype(np.float64)


def event_activities(graph: Graph, trace: Trace, x: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """(name, activity ``[T, B, n]``) of the input and every spiking node, in schedule order
    (nodes without a recorded output skipped)."""
    for name in graph.schedule:
        if graph.nodes[name].kind in EVENT_KINDS:
            act = activity(graph, trace, x, name)
            if act is not None:
                yield name, act


def activity_counts(
    graph: Graph, trace: Trace, x: np.ndarray, record: DeploymentRecord
) -> dict[str, Any]:
    """Counts per population, per projection and in total (see the module docstring)."""
    lowered = lower(graph)
    steps, batch = int(x.shape[0]), int(x.shape[1])
    acts = {p.name: activity(graph, trace, x, p.name) for p in lowered.populations}
    layers: dict[str, dict[str, Any]] = {}
    incoming: dict[str, np.ndarray] = {}  # target -> [T, B, n] synaptic events arriving per neuron
    projections = []
    for proj in lowered.projections:
        if graph.nodes[proj.target].kind == "Output":
            continue
        src = acts.get(proj.source)
        binary = graph.nodes[proj.source].kind in EVENT_KINDS
        connected = _connectivity(proj, record.source_fingerprint)
        synapses = int(connected.nnz)
        entry = {
            "name": proj.name,
            "source": proj.source,
            "target": proj.target,
            "ops": list(proj.kinds),
            "synapses": synapses,
            "dense_sops": float(synapses * steps),
            "op": "AC" if binary else "MAC",
            "connection_sparsity": 1 - synapses / float(np.prod(connected.shape)),
            "effective_sops": None,
        }
        projections.append(entry)
        if src is None:
            continue
        events = np.abs(src) if binary else (src != 0).astype(np.float64)
        arriving = np.asarray(events.reshape(steps * batch, -1) @ connected.T).reshape(
            steps, batch, -1
        )
        entry["effective_sops"] = float(arriving.sum() / batch)
        incoming[proj.target] = incoming.get(proj.target, 0.0) + arriving
    for node in lowered.populations:
        layers[node.name] = _layer(node, acts.get(node.name), incoming.get(node.name), steps, batch)
    neurons = [v for k, v in layers.items() if v["kind"] != "Input"]
    effective = [p for p in projections if p["effective_sops"] is not None]
    spikes = sum(v["spikes"] or 0.0 for v in neurons)
    updates = sum(v["updates"] for v in neurons)
    possible = sum(p["synapses"] / max(1 - p["connection_sparsity"], 1e-300) for p in projections)
    params, floats = _parameters(graph)
    return {
        "timesteps": steps,
        "samples": batch,
        "dt": float(record.dt or graph.dt or 1e-3),
        "layers": layers,
        "projections": projections,
        "dense_sops": float(sum(p["dense_sops"] for p in projections)),
        "effective_sops": float(sum(p["effective_sops"] for p in effective)),
        "acs": float(sum(p["effective_sops"] for p in effective if p["op"] == "AC")),
        "macs": float(sum(p["effective_sops"] for p in effective if p["op"] == "MAC")),
        "missing_activity": sorted(
            {p["source"] for p in projections if p["effective_sops"] is None}
        ),
        "input_events": layers[lowered.populations[0].name]["spikes"]
        if lowered.populations
        else 0.0,
        "spikes": float(spikes),
        "neuron_updates": float(updates),
        "active_updates": float(sum(v["active_updates"] for v in neurons)),
        "activation_sparsity": (1 - spikes / updates) if updates else None,
        "connection_sparsity": (1 - sum(p["synapses"] for p in projections) / possible)
        if possible
        else None,
        "parameters": params,
        "footprint_bytes": 4 * floats,
        "cores": core_loads(layers, incoming, record, steps, batch, acts),
    }


_CONNECTIVITY: dict[tuple[str, str], sp.csr_matrix] = {}


def _connectivity(proj, fingerprint: str | None) -> sp.csr_matrix:
    """The projection's nonzero pattern as a 0/1 CSR matrix [n_target, n_source]. Cached per
    source-graph fingerprint: several exports of one model (a side-by-side report) share it."""
    key = (str(fingerprint), proj.name)
    if fingerprint and key in _CONNECTIVITY:
        return _CONNECTIVITY[key]
    connected = (proj.matrix != 0).astype(np.float64).tocsr()
    if fingerprint:
        if len(_CONNECTIVITY) > 64:
            _CONNECTIVITY.clear()
        _CONNECTIVITY[key] = connected
    return connected


def _layer(
    node, act: np.ndarray | None, arriving: np.ndarray | None, steps: int, batch: int
) -> dict[str, Any]:
    neurons = int(np.prod(node.out_shape))
    events = node.kind in EVENT_KINDS
    out: dict[str, Any] = {
        "kind": node.kind,
        "neurons": neurons,
        "emits": "events" if events else "values",
        "updates": float(neurons * steps) if node.kind != "Input" else 0.0,
        "spikes": None,
        "spikes_per_step": None,
        "activation_sparsity": None,
        "sops_in": float(arriving.sum() / batch) if arriving is not None else 0.0,
        "active_updates": 0.0,
    }
    if act is not None and events:
        spikes = np.abs(act)
        out["spikes"] = float(spikes.sum() / batch)
        out["spikes_per_step"] = (spikes.sum(axis=2).mean(axis=1)).tolist()
        out["activation_sparsity"] = 1 - out["spikes"] / (neurons * steps)
    if node.kind != "Input":
        busy = act != 0 if (act is not None and events) else np.zeros((steps, batch, neurons), bool)
        if arriving is not None:
            busy = busy | (arriving > 0)
        out["active_updates"] = float(busy.sum() / batch)
    return out


def core_loads(
    layers: dict[str, dict[str, Any]],
    incoming: dict[str, np.ndarray],
    record: DeploymentRecord,
    steps: int,
    batch: int,
    acts: dict[str, np.ndarray | None] | None = None,
) -> dict[str, Any]:
    """Synaptic events arriving at each core per step (``sops`` [T, B, C]) and neurons per core;
    with the populations' activity `acts`, also the spikes sent (``spikes``) and the active neuron
    updates (``active``: received an event or fired, as ``_layer`` counts them) per core and step
    ([T, B, C] each), so that a cost model can be evaluated on a subset of cores.

    The core of each neuron comes from ``record.core_slices`` (``[core, first, stop)`` neuron
    slices, e.g. Loihi; or one population per core, e.g. Speck), else one core per population
    (stated in ``mapping``)."""
    names = [n for n, v in layers.items() if v["kind"] != "Input"]
    mapped = {n: record.slices_of(n) for n in names}
    texts = {
        "neuron slices": "per-core neuron slices from the export's mapping",
        "core map": "one population per core, from the export's core map",
    }
    if names and all(mapped.values()) and record.core_mapping in texts:
        mapping = texts[record.core_mapping]
        slices = [(s.population, s.core, s.first, s.stop) for n in names for s in mapped[n]]
    else:
        mapping = "no per-core mapping in the export: one core per population assumed"
        slices = [(n, i, 0, layers[n]["neurons"]) for i, n in enumerate(names)]
    core_ids = sorted({s[1] for s in slices})
    index = {c: i for i, c in enumerate(core_ids)}
    sops = np.zeros((steps, batch, len(core_ids)))
    neurons = np.zeros(len(core_ids))
    spikes, active = np.zeros_like(sops), np.zeros_like(sops)
    for pop, core, first, stop in slices:
        c = index[core]
        neurons[c] += stop - first
        arriving = incoming[pop][:, :, first:stop] if pop in incoming else None
        if arriving is not None:
            sops[:, :, c] += arriving.sum(axis=2)
        act = (acts or {}).get(pop) if layers[pop]["spikes"] is not None else None
        fired = act[:, :, first:stop] if act is not None else None
        if fired is not None:
            spikes[:, :, c] += np.abs(fired).sum(axis=2)
        busy = fired != 0 if fired is not None else np.zeros((steps, batch, stop - first), bool)
        if arriving is not None:
            busy = busy | (arriving > 0)
        active[:, :, c] += busy.sum(axis=2)
    out = {"sops": sops, "neurons": neurons, "ids": core_ids, "mapping": mapping}
    return out | ({"spikes": spikes, "active": active} if acts is not None else {})


NOT_PARAMETERS = (
    "input_type",
    "output_type",
    "metadata",
    "input_shape",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
)
"""NIR fields that are shapes or layer geometry, not stored numbers of the model."""


def _parameters(graph: Graph) -> tuple[int, int]:
    """(weights + biases, every array-valued parameter) of the float model; geometry (kernel
    size, stride, padding, dilation, input shape) is not a parameter (NeuroBench's footprint
    counts the bytes of a module's parameters and buffers only)."""
    weights = floats = 0
    for node in graph.nodes.values():
        for name, value in vars(node.nir_node).items():
            if name in NOT_PARAMETERS or not isinstance(value, np.ndarray):
                continue
            floats += int(value.size)
            if name in ("weight", "bias"):
                weights += int(value.size)
    return weights, floats


def json_counts(counts: dict[str, Any]) -> dict[str, Any]:
    """The counts as plain JSON (per-core arrays summarised: mean events per core and step)."""
    out = {k: v for k, v in counts.items() if k != "cores"}
    cores = counts.get("cores") or {}
    if "sops" in cores:
        out["cores"] = {
            "mapping": cores["mapping"],
            "ids": list(cores["ids"]),
            "neurons": cores["neurons"].astype(int).tolist(),
            "mean_sops_per_step": cores["sops"].mean(axis=(0, 1)).tolist(),
            "sops_per_core_and_step": cores["sops"].mean(axis=1).T.round(3).tolist(),
        }
    return out
