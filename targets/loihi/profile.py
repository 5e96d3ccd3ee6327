"""Loihi cost models: Loihi 1 from published pre-silicon figures, Loihi 2 from user-supplied ones.

Loihi 1: Davies et al., "Loihi: a neuromorphic manycore processor with on-chip learning",
IEEE Micro 38(1):82-99, 2018, Table 2 — figures from pre-silicon circuit simulation, hence
``simulated``. Loihi 2: Intel has published no per-operation energy or timing, so every Loihi 2
constant is ``unpublished`` and the report shows "not available" until
the user supplies values (``--energy-constant loihi2.sop_pj=...``).

Counts (per inference, NeuroBench definitions, see nrf_deploy/report/metrics.py):
effective synaptic ops, neuron updates split into active (the neuron received a synaptic event or
spiked in that step) and inactive ones, spikes sent. Assumption stated in docs/energy.md: Davies et
al.'s "active"/"inactive" neuron update is read as "had input or fired this step" / "did not".

Loihi 1's time per neuron update and barrier synchronisation, which Davies et al. do not give, are
taken from SANA-FE's Loihi description (``sanafe/examples/loihi.yaml`` in sanafe 2.2.9, Boyle et
al., IEEE TCAD 2025; the file credits Davies et al. 2018, "from SPICE simulations"), hence
``derived``: ``latency_access_neuron`` (6.0 ns, charged for every compartment every step, which is
what the latency model's per-core neuron count counts; SANA-FE adds ``latency_update_neuron``
3.7 ns for an active one, which the per-core counts do not split) and the ``latency_sync`` table
(seconds per step by number of tiles of 4 cores in use: 1: 0.6 us, 2: 1.0, 4: 1.4, 29: 1.8; the
largest key not above the tile count applies).
"""

from __future__ import annotations

import math
from typing import Any

from nrf_deploy.profile import Constant, HardwareProfile, Ledger, timestepped_latency

_SANAFE = (
    "sanafe/examples/loihi.yaml, sanafe 2.2.9 (SANA-FE, Boyle et al., IEEE TCAD 2025; the file "
    "credits Davies et al. 2018, SPICE simulations)"
)
SANAFE_SYNC_NS = {1: 600.0, 2: 1000.0, 4: 1400.0, 29: 1800.0}
"""SANA-FE's ``latency_sync`` table: barrier time per step (ns) by tiles in use (largest key <=)."""
CORES_PER_TILE = 4
"""Loihi cores per mesh tile (``loihi_core[0..3]`` in SANA-FE's description)."""

_DAVIES = "Davies et al., IEEE Micro 38(1), 2018, Table 2 (pre-silicon circuit simulation)"
_LOIHI2 = (
    "Intel has published no per-operation figure for Loihi 2; "
    "supply one with --energy-constant loihi2.{key}=VALUE"
)

LOIHI1 = {
    "sop_pj": Constant(23.6, "pJ", "energy per synaptic op (minimum)", _DAVIES, "simulated"),
    "sop_ns": Constant(3.5, "ns", "time per synaptic op (at most)", _DAVIES, "simulated"),
    "update_active_pj": Constant(81.0, "pJ", "neuron update, active", _DAVIES, "simulated"),
    "update_inactive_pj": Constant(52.0, "pJ", "neuron update, inactive", _DAVIES, "simulated"),
    "spike_pj": Constant(1.7, "pJ", "spike delivered within a tile", _DAVIES, "simulated"),
    "update_ns": Constant(
        6.0, "ns", "time per neuron update (latency_access_neuron)", _SANAFE, "derived"
    ),
    "barrier_ns": Constant(
        SANAFE_SYNC_NS[29],
        "ns",
        "barrier synchronisation per timestep (latency_sync; 29+ tiles: the table entry for the "
        "tiles in use replaces it)",
        _SANAFE,
        "derived",
    ),
}

LOIHI2 = {
    "sop_pj": Constant(
        None, "pJ", "energy per synaptic op", _LOIHI2.format(key="sop_pj"), "unpublished"
    ),
    "update_pj": Constant(
        None, "pJ", "energy per neuron update", _LOIHI2.format(key="update_pj"), "unpublished"
    ),
    "sop_ns": Constant(
        None, "ns", "time per synaptic op", _LOIHI2.format(key="sop_ns"), "unpublished"
    ),
    "update_ns": Constant(
        None, "ns", "time per neuron update", _LOIHI2.format(key="update_ns"), "unpublished"
    ),
    "barrier_ns": Constant(
        None,
        "ns",
        "barrier synchronisation per timestep",
        _LOIHI2.format(key="barrier_ns"),
        "unpublished",
    ),
}


def loihi1_model(ledger: Ledger, counts: dict[str, Any], resources: dict[str, Any]) -> None:
    """Energy: SOPs x 23.6 pJ + active/inactive neuron updates x 81/52 pJ + spikes x 1.7 pJ.
    Latency: per step, the busiest core's SOPs x 3.5 ns + its neurons x 6 ns, + the barrier
    synchronisation of the tiles in use (SANA-FE's table, unless the user supplied one)."""
    _sync_for_tiles(ledger, resources)
    updates, active = counts["neuron_updates"], counts["active_updates"]
    ledger.energy("synaptic ops", "effective_sops", counts["effective_sops"], "sop_pj")
    ledger.energy("neuron updates, active", "active_updates", active, "update_active_pj")
    ledger.energy(
        "neuron updates, inactive", "inactive_updates", updates - active, "update_inactive_pj"
    )
    ledger.energy(
        "spikes (within-tile delivery; hops between tiles cost more)",
        "spikes",
        counts["spikes"],
        "spike_pj",
    )
    timestepped_latency(ledger, counts, "sop_ns", "update_ns", "barrier_ns")


def _sync_for_tiles(ledger: Ledger, resources: dict[str, Any]) -> None:
    """Replace the derived barrier time by SANA-FE's table entry for the tiles the export uses."""
    barrier = ledger.constants["barrier_ns"]
    cores = resources.get("cores_used")
    if barrier.kind != "derived" or not cores:
        return
    tiles = math.ceil(int(cores) / CORES_PER_TILE)
    key = max((k for k in SANAFE_SYNC_NS if k <= tiles), default=min(SANAFE_SYNC_NS))
    ledger.add_constant(
        "barrier_ns",
        Constant(
            SANAFE_SYNC_NS[key],
            "ns",
            f"barrier synchronisation per timestep ({tiles} tiles of {CORES_PER_TILE} cores in "
            f"use; latency_sync entry {key})",
            barrier.source,
            "derived",
        ),
    )


def loihi2_model(ledger: Ledger, counts: dict[str, Any], resources: dict[str, Any]) -> None:
    """Same counts as Loihi 1, costed with user-supplied Loihi 2 figures (none are published)."""
    ledger.energy("synaptic ops", "effective_sops", counts["effective_sops"], "sop_pj")
    ledger.energy("neuron updates", "neuron_updates", counts["neuron_updates"], "update_pj")
    timestepped_latency(ledger, counts, "sop_ns", "update_ns", "barrier_ns")
    ledger.notes.append(
        "the deployment's number format is Loihi 1's (Lava 0.10 bit-accurate models); "
        "Loihi 2 costs assume the same operations"
    )


PROFILES = (
    HardwareProfile(
        "loihi1",
        "Intel Loihi (1)",
        LOIHI1,
        loihi1_model,
        "Loihi 1 figures are pre-silicon simulation (Davies et al. 2018)",
    ),
    HardwareProfile(
        "loihi2",
        "Intel Loihi 2",
        LOIHI2,
        loihi2_model,
        "no published per-operation energy or timing: supply values to cost Loihi 2",
    ),
)
