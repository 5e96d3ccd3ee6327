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
    "event_latency_us": Constant(
        3.36, "us", "latency of one event through the 9-layer pipeline", _SRC, "measured"
    ),
    "resting_mw": Constant(0.42, "mW", "resting power", _SRC, "measured"),
    "sop_pj": Constant(
        None,
        "pJ",
        "energy per synaptic op",
        "no published per-operation figure; supply one with --energy-constant speck.sop_pj=VALUE",
        "unpublished",
    ),
}


def speck_model(ledger: Ledger, counts: dict[str, Any], resources: dict[str, Any]) -> None:
    """Energy: resting power over the input's real-time duration T x dt (derived) + SOPs x a
    user-supplied per-op energy. Latency per inference, comparable with the time-stepped chips:
    the input's events arrive in real time over T x dt, and the output follows the last of them by
    the 3.36 us pipeline latency; the per-event pipeline latency is also kept as a detail
    (``info["event_latency_s"]``)."""
    duration = counts["timesteps"] * counts["dt"]
    ledger.energy(
        "resting power x input duration (T x dt, s)", "input_duration_s", duration, "resting_mw"
    )
    ledger.energy(
        "synaptic ops", "effective_sops", counts["effective_sops"], "sop_pj", required=False
    )
    ledger.add_constant(
        "input_step_s",
        Constant(
            float(counts["dt"]),
            "s",
            "wall-clock duration of one input timestep: events arrive in real time",
            "the export's dt (deploy.json): the sensor delivers the input over T x dt",
            "derived",
        ),
    )
    ledger.latency(
        "input duration: events arrive in real time",
        "timesteps",
        counts["timesteps"],
        "input_step_s",
    )
    ledger.latency(
        "pipeline latency of the last input event", "pipeline_passes", 1, "event_latency_us"
    )
    ledger.latency_model = (
        "event-driven: the input lasts T x dt = "
        f"{duration:g} s in real time and the output follows its last event by the "
        "pipeline latency (3.36 us per event)"
    )
    ledger.info["input_duration_s"] = duration
    ledger.info["event_latency_s"] = ledger.value("event_latency_us")
    ledger.latency_basis = "input duration + pipeline delay of the last event"


PROFILES = (
    HardwareProfile(
        "speck",
        "SynSense Speck",
        SPECK,
        speck_model,
        "bit-exact against the discretised model; the chip itself has stochastic elements "
        "and may drop events",
    ),
)
