"""Loihi 1 cost model. Constants: Davies et al., "Loihi: a neuromorphic manycore processor with
on-chip learning", IEEE Micro 38(1), 2018, Table 2 — pre-silicon circuit simulation."""
from __future__ import annotations

from nrf_deploy.profile import Constant, HardwareProfile

_SRC = "Davies et al., IEEE Micro 2018, Table 2 (pre-silicon simulation)"
CONSTANTS = {
    "sop_energy_pj": Constant("synaptic op energy (min)", 23.6, "pJ", _SRC, "simulated"),
    "sop_time_ns": Constant("synaptic op time (max)", 3.5, "ns", _SRC, "simulated"),
    "update_inactive_pj": Constant("neuron update, inactive", 52.0, "pJ", _SRC, "simulated"),
    "update_active_pj": Constant("neuron update, active", 81.0, "pJ", _SRC, "simulated"),
    "spike_tile_pj": Constant("spike within tile", 1.7, "pJ", _SRC, "simulated"),
    "barrier_sync_ns": Constant("barrier synchronisation per step", None, "ns",
                                "no published per-step figure; supply one with --energy-constant loihi.barrier_sync_ns=...",
                                "unpublished"),
}


def estimate(counts: dict, resources: dict, c: dict) -> dict:
    """Energy per inference (J) and latency (s) from effective synaptic ops, neuron updates and
    spikes. Latency per step: the slowest core's SOPs x t_sop (+ barrier sync if supplied)."""
    sops, updates, spikes = counts["effective_sops"], counts["neuron_updates"], counts["spikes"]
    active = spikes
    inactive = max(updates - active, 0)
    parts = {"synaptic ops": sops * c["sop_energy_pj"].value * 1e-12,
             "neuron updates (active)": active * c["update_active_pj"].value * 1e-12,
             "neuron updates (inactive)": inactive * c["update_inactive_pj"].value * 1e-12,
             "spike routing": spikes * c["spike_tile_pj"].value * 1e-12}
    cores = max(int(resources.get("cores_used", 1)), 1)
    step = counts["busiest_core_sops_per_step"] * c["sop_time_ns"].value * 1e-9
    sync = c["barrier_sync_ns"].value
    if sync is not None:
        step += sync * 1e-9
    return {"energy_j": sum(parts.values()), "energy_breakdown_j": parts,
            "latency_s": step * counts["timesteps"], "latency_per_step_s": step,
            "latency_note": ("slowest core's synaptic ops x 3.5 ns per step; barrier sync "
                             + ("included" if sync is not None else "not included (unpublished)")),
            "cores": cores}


PROFILE = HardwareProfile("loihi", CONSTANTS, estimate,
                          "Loihi 1 figures; Loihi 2 has no published per-op energy (supply values to use it).")
