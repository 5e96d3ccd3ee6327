"""Speck cost model. Published: 3.36 us per event through 9 layers and 0.42 mW resting power
(Richter et al. 2023; Yao et al., Nat. Commun. 15:4464, 2024). No per-synaptic-op energy is
published: that constant stays unset unless the user supplies it."""
from __future__ import annotations

from nrf_deploy.profile import Constant, HardwareProfile

_SRC = "Richter et al. 2023; Yao et al., Nat. Commun. 2024"
CONSTANTS = {
    "event_latency_us": Constant("latency per event through 9 layers", 3.36, "us", _SRC, "measured"),
    "resting_power_mw": Constant("resting power", 0.42, "mW", _SRC, "measured"),
    "sop_energy_pj": Constant("energy per synaptic op", None, "pJ",
                              "no published figure; supply with --energy-constant speck.sop_energy_pj=...",
                              "unpublished"),
}


def estimate(counts: dict, resources: dict, c: dict) -> dict:
    """Event-driven chip running in real time: inference lasts T x dt; energy is resting power over
    that time (derived) plus synaptic ops only if the user supplied a per-op figure."""
    duration = counts["timesteps"] * counts.get("dt", 1e-3)
    parts = {"resting power x duration (derived)": c["resting_power_mw"].value * 1e-3 * duration}
    if c["sop_energy_pj"].value is not None:
        parts["synaptic ops"] = counts["effective_sops"] * c["sop_energy_pj"].value * 1e-12
    return {"energy_j": sum(parts.values()), "energy_breakdown_j": parts, "latency_s": duration,
            "first_output_latency_s": c["event_latency_us"].value * 1e-6,
            "latency_note": "real-time event processing: T x dt per inference; 3.36 us pipeline latency per event"}


PROFILE = HardwareProfile("speck", CONSTANTS, estimate, "bit-exact against the discretised model; the chip "
                          "itself has stochastic elements and may drop events")
