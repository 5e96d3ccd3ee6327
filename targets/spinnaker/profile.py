"""SpiNNaker cost models: SpiNNaker 1 from its published system-level figures, SpiNNaker 2 from
user-supplied ones.

SpiNNaker 1 (18 ARM968 cores per chip, 1 W peak per chip, sPyNNaker's 1 ms timestep run in real
time): Rhodes et al., "Real-time cortical simulation on neuromorphic hardware", Phil. Trans. R.
Soc. A 378, 2019, measured 0.6 uJ per synaptic event for the whole machine running in real time.
That figure is all-in (idle and neuron-update power included): nothing else is added to it.
SpiNNaker 2: no published per-operation energy; every constant is ``unpublished`` until the user
supplies it (``--energy-constant spinnaker2.sop_pj=...``).
"""

from __future__ import annotations

from typing import Any

from nrf_deploy.profile import Constant, HardwareProfile, Ledger

_RHODES = "Rhodes et al., Phil. Trans. R. Soc. A 378, 2019 (measured, whole system, real time)"
_FURBER = "Furber et al., 'The SpiNNaker project', Proc. IEEE 102(5), 2014 (chip specification)"
_SPYNNAKER = "sPyNNaker default: 1 ms machine timestep run in real time (Rhodes et al. 2019)"
_S2 = (
    "no published per-operation figure for SpiNNaker 2; supply one with "
    "--energy-constant spinnaker2.{key}=VALUE"
)

SPINNAKER1 = {
    "synaptic_event_uj": Constant(
        0.6, "uJ", "energy per synaptic event, all-in (system level)", _RHODES, "measured"
    ),
    "timestep_ms": Constant(
        1.0, "ms", "wall-clock time per timestep (real time)", _SPYNNAKER, "derived"
    ),
    "chip_peak_w": Constant(1.0, "W", "peak power per chip (18 ARM968 cores)", _FURBER, "measured"),
}

SPINNAKER2 = {
    "sop_pj": Constant(
        None, "pJ", "energy per synaptic op", _S2.format(key="sop_pj"), "unpublished"
    ),
    "update_pj": Constant(
        None, "pJ", "energy per neuron update", _S2.format(key="update_pj"), "unpublished"
    ),
    "timestep_ms": Constant(
        None, "ms", "wall-clock time per timestep", _S2.format(key="timestep_ms"), "unpublished"
    ),
}


def _machine_timestep(ledger: Ledger, counts: dict[str, Any]) -> None:
    """The export's PyNN script sets the machine timestep to the model's dt
    (``sim.setup(timestep=dt)``) and the machine runs it in real time: one dt of wall clock per
    timestep. sPyNNaker's 1 ms default stands only when the export records no dt; a user value
    (``--energy-constant spinnaker1.timestep_ms=...``) always wins."""
    dt = counts.get("dt")
    if ledger.constants["timestep_ms"].kind == "user" or not dt:
        return
    ledger.add_constant(
        "timestep_ms",
        Constant(
            float(dt) * 1e3,
            "ms",
            "wall-clock time per timestep: the export's machine timestep run in real time",
            "the export's dt, which its PyNN script passes to sim.setup(timestep=...); real "
            "time as in Rhodes et al. 2019",
            "derived",
        ),
    )


def spinnaker1_model(ledger: Ledger, counts: dict[str, Any], resources: dict[str, Any]) -> None:
    """Energy: synaptic events x 0.6 uJ (all-in; no other term). Latency: T x the export's
    machine timestep (its dt, real time). Info only: the peak-power bound chips x 1 W x T x dt."""
    _machine_timestep(ledger, counts)
    ledger.energy(
        "synaptic events (all-in system figure)",
        "effective_sops",
        counts["effective_sops"],
        "synaptic_event_uj",
    )
    ledger.latency("timesteps in real time", "timesteps", counts["timesteps"], "timestep_ms")
    ledger.latency_model = "real time: one timestep of wall-clock time per simulated timestep"
    ledger.latency_basis = "real time"
    chips = resources.get("chips")
    if isinstance(chips, (int, float)) and chips > 0:
        bound = ledger.term(
            "peak power x chips x T x timestep (upper bound, not added)",
            "chip_seconds",
            chips * counts["timesteps"] * (ledger.value("timestep_ms") or 0.0),
            "chip_peak_w",
        )
        ledger.info["peak_power_bound"] = bound
        energy = ledger.energy_terms[0]["value"]
        if energy is not None and bound["value"] is not None and energy > bound["value"]:
            ledger.notes.append(
                "the all-in 0.6 uJ/event figure exceeds what the chips can draw in real time "
                "at this event rate: the machine would fall behind real time, so both "
                "figures are optimistic for this network"
            )


def spinnaker2_model(ledger: Ledger, counts: dict[str, Any], resources: dict[str, Any]) -> None:
    """Energy: SOPs x sop_pj + neuron updates x update_pj; latency: T x timestep (all
    user-supplied)."""
    ledger.energy("synaptic ops", "effective_sops", counts["effective_sops"], "sop_pj")
    ledger.energy("neuron updates", "neuron_updates", counts["neuron_updates"], "update_pj")
    ledger.latency("timesteps", "timesteps", counts["timesteps"], "timestep_ms")
    ledger.latency_model = "time-stepped, one timestep per supplied wall-clock interval"
    ledger.latency_basis = "T x supplied timestep"


PROFILES = (
    HardwareProfile(
        "spinnaker1",
        "SpiNNaker 1",
        SPINNAKER1,
        spinnaker1_model,
        "system-level figure: 0.6 uJ per synaptic event includes everything the machine draws",
    ),
    HardwareProfile(
        "spinnaker2",
        "SpiNNaker 2",
        SPINNAKER2,
        spinnaker2_model,
        "no published per-operation energy: supply values to cost SpiNNaker 2",
    ),
)
