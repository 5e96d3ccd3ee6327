"""NeuroBench-style counts (Yik et al., Nat. Commun. 2025) from one run of a deployment.

All counts are per inference (one sample of T timesteps), averaged over the samples run:
* dense SOPs: every synapse evaluated every step (nnz x T);
* effective SOPs: only synapses addressed by a nonzero input (spikes x fan-out);
* ACs when the presynaptic activity is binary spikes, MACs when it is graded (read-outs, ANNs);
* activation sparsity: 1 - spikes / (neurons x T); connection sparsity: 1 - nnz / (n_in x n_out).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from nrf_deploy.ir.graph import Graph
from nrf_deploy.lowering import lower
from nrf_deploy.trace import Trace


def activity_counts(graph: Graph, trace: Trace, sidecar: dict[str, Any]) -> dict[str, Any]:
    """Counts per population and in total from a target's reference trace (chip units)."""
    lowered = lower(graph)
    steps, batch = trace.timesteps, next(iter(trace.outputs.values())).shape[1]
    layers, projections = {}, []
    spikes_total = updates = 0.0
    for node in lowered.populations:
        out = trace.outputs.get(node.name)
        if out is None:
            continue
        neurons = int(np.prod(node.out_shape))
        spiking = node.kind in ("IF", "LIF", "CubaLIF", "Threshold", "Input")
        spikes = float(np.abs(out).sum()) / batch if spiking else 0.0
        per_step = (np.abs(out).reshape(steps, batch, -1).sum(axis=2).mean(axis=1).tolist() if spiking
                    else [0.0] * steps)
        layers[node.name] = {"kind": node.kind, "neurons": neurons, "spikes": spikes,
                             "spikes_per_step": per_step,
                             "activation_sparsity": 1 - spikes / (neurons * steps) if spiking else None}
        if node.kind != "Input":
            spikes_total += spikes
            updates += neurons * steps
    dense = effective = acs = macs = 0.0
    sops_into: dict[str, float] = {}
    for proj in lowered.projections:
        if graph.nodes[proj.target].kind == "Output" or proj.source not in trace.outputs:
            continue
        fan_out = np.diff(proj.matrix.tocsc().indptr)
        activity = np.abs(trace.outputs[proj.source]).reshape(steps, batch, -1).sum(axis=0).mean(axis=0)
        eff = float(activity @ fan_out)
        binary = graph.nodes[proj.source].kind in ("IF", "LIF", "CubaLIF", "Threshold", "Input")
        nnz = int(proj.matrix.nnz)
        projections.append({"name": proj.name, "synapses": nnz, "dense_sops": nnz * steps, "effective_sops": eff,
                            "connection_sparsity": 1 - nnz / float(np.prod(proj.matrix.shape)),
                            "op": "AC" if binary else "MAC"})
        dense += nnz * steps
        effective += eff
        acs, macs = (acs + eff, macs) if binary else (acs, macs + nnz * steps)
        sops_into[proj.target] = sops_into.get(proj.target, 0.0) + eff
    cores = {n: len(d.get("cores", [])) or 1 for n, d in sidecar.get("populations", {}).items()}
    busiest = max((sops_into[n] / steps / cores.get(n, 1) for n in sops_into), default=0.0)
    params = sum(int(np.asarray(getattr(n.nir_node, f)).size) for n in graph.nodes.values()
                 for f in ("weight", "bias") if hasattr(n.nir_node, f))
    return {"timesteps": steps, "samples": batch, "layers": layers, "projections": projections,
            "dense_sops": dense, "effective_sops": effective, "acs": acs, "macs": macs,
            "spikes": spikes_total, "neuron_updates": updates,
            "activation_sparsity": 1 - spikes_total / updates if updates else None,
            "connection_sparsity": 1 - sum(p["synapses"] for p in projections) / max(
                sum(p["synapses"] / max(1 - p["connection_sparsity"], 1e-12) for p in projections), 1),
            "busiest_core_sops_per_step": busiest, "footprint_parameters": params}
