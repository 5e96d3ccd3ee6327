"""Speck cost model: an event-driven chip, costed from its two published system figures.

Published (measured on the chip): 3.36 us latency for an event through the 9-layer pipeline and
0.42 mW resting power (Richter et al., "Speck: a smart event-based vision sensor with a low
latency 327K neuron convolutional neuronal network processing pipeline", 2023; Yao et al.,
Nat. Commun. 15:4464, 2024). No energy per synaptic operation is published: that constant stays
unset unless the user supplies it, and the energy is then marked partial (resting power only).
"""
from __future__ import annotations

from typing import Any

from nrf_deploy.profile import Constant, HardwareProfile, Ledger

_SRC = "Richter et al. 2023 (Speck); Yao et al., Nat. Commun. 15:4464, 2024 — measured on the chip"
SPECK = {
    "event_latency_us": Constant(3.36, "us", "latency of one event through the 9-layer pipeline", _SRC, "measured"),
    "resting_mw": Constant(0.42, "mW", "resting power", _SRC, "measured"),
    "sop_pj": Constant(None, "pJ", "energy per synaptic op",
                       "no published per-operation figure; supply one with --energy-constant speck.sop_pj=VALUE",
                       "unpublished"),
}


def speck_model(ledger: Ledger, counts: dict[str, Any], resources: dict[str, Any]) -> None:
    """Energy: resting power over the input's real-time duration T x dt (derived) + SOPs x a
    user-supplied per-op energy. Latency: per-event pipeline latency (the output follows the last
    input event by 3.36 us); events arrive in real time over T x dt, reported separately."""
    duration = counts["timesteps"] * counts["dt"]
    ledger.energy("resting power x input duration (T x dt, s)", "input_duration_s", duration, "resting_mw")
    ledger.energy("synaptic ops", "effective_sops", counts["effective_sops"], "sop_pj", required=False)
    ledger.latency("pipeline latency of the last input event", "pipeline_passes", 1, "event_latency_us")
    ledger.latency_model = ("event-driven: output follows each input event by the pipeline latency; "
                            f"the input itself lasts T x dt = {duration:g} s in real time")
    ledger.info["input_duration_s"] = duration
    ledger.latency_basis = f"per-event pipeline (input lasts {duration:g} s)"


PROFILES = (HardwareProfile("speck", "SynSense Speck", SPECK, speck_model,
                            "bit-exact against the discretised model; the chip itself has stochastic elements "
                            "and may drop events"),)
