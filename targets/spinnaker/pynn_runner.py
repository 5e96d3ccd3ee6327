"""PyNN runner: executed inside the ``pynn`` witness environment (PyNN 0.13, NEST 3.10, sPyNNaker
7.4.1), never imported by the core for its work; it imports only the standard library, numpy and
the PyNN backends (inside the functions).

The core (``witnesses.py``) sends the PyNN script that nrf-deploy *generates itself* from the
export's chip data (``pynn.py:pynn_script``, the same generator ``export`` uses) together with that
data — ``network.json`` as text and ``connections.npz`` as bytes — and the input spikes. This runner
writes the three files into its working directory (a temporary folder of the core's, which is
also HOME: sPyNNaker reads ``~/.spynnaker.cfg`` and writes report folders there) and runs the
script with ``runpy``; it never runs a file from an export. Only the backend module is adjusted
around the script:

* ``nest``: PyNN 0.13's ``pyNN.nest.IF_curr_delta`` has no ``variable_map``, so recording ``v``
  fails with NEST 3.10's "Cannot connect with unknown recordable v" (and ``initialize(v=...)`` is
  dropped with "NEST does not allow setting an initial value for v"); the map every other
  current-based cell of ``pyNN/nest/standardmodels/cells.py`` has (``v`` -> ``V_m``) is added.
  Populations that record spikes and ``v`` record spikes only (:func:`_spikes_without_v`).
* ``mapping``: ``sim.run`` runs sPyNNaker's whole mapping on the virtual board of the
  ``.spynnaker.cfg`` written here (splitting, placement, routing, tables); when it is done every
  placement (chip, core, vertex, atoms, planned SDRAM bytes) is read and the script stopped before
  data generation and loading: a virtual board has nothing to load and no recordings to read.
"""

from __future__ import annotations

import os
import runpy
import sys
from typing import Any

import numpy as np

SCRIPT, NETWORK, CONNECTIONS = "run_pynn.py", "network.json", "connections.npz"
INPUT, OUTPUT = "x.npy", "pynn_output.npz"
VIRTUAL_BOARD_CFG = """[Machine]
version = 5
virtual_board = True

[Buffers]
use_auto_pause_and_resume = False
"""
"""sPyNNaker's configuration: one virtual SpiNN-5 board (48 chips), no hardware; recording planned
for the run's own timesteps, as nrf-deploy's mapper counts it (by default sPyNNaker plans
``minimum_auto_time_steps`` = 1000 steps of recording for its auto pause-and-resume)."""


def _write_files(request: dict) -> None:
    """The generated script, the network, its connections and the input into the working
    directory."""
    with open(SCRIPT, "w") as f:
        f.write(str(request["script"]))
    with open(NETWORK, "w") as f:
        f.write(str(request["network"]))
    with open(CONNECTIONS, "wb") as f:
        f.write(np.asarray(request["connections"], dtype=np.uint8).tobytes())
    np.save(INPUT, np.asarray(request["x"], dtype=np.uint8))


def _run_script(simulator: str, sample: int) -> None:
    sys.argv = [SCRIPT, "--input", INPUT, "--sample", str(sample), "--output", OUTPUT]
    sys.argv += ["--simulator", simulator]
    runpy.run_path(os.path.abspath(SCRIPT), run_name="__main__")


def _patch_nest() -> None:
    import pyNN.nest as sim

    if not hasattr(sim.IF_curr_delta, "variable_map"):
        sim.IF_curr_delta.variable_map = {"v": "V_m"}


def _spikes_without_v() -> None:
    """A population that records spikes and ``v`` records spikes only: the opinion compares
    spiking populations by their spikes and read-outs (which record ``v`` alone) by ``v``, and
    reading ``v`` of every neuron back from NEST took a third of the run on the RF-SNN (118 of
    350 s for its 32 768 LIF neurons)."""
    import pyNN.nest as sim

    real = sim.Population.record

    def record(self: Any, variables: Any, *args: Any, **kwargs: Any) -> Any:
        names = [variables] if isinstance(variables, str) else list(variables)
        if "spikes" in names and "v" in names:
            names.remove("v")
        return real(self, names, *args, **kwargs)

    sim.Population.record = record


def nest(request: dict) -> dict:
    """One sample of the input through the script on pyNN.nest: ``out/<label>`` spikes ``[T, n]``
    and ``state/<label>/v`` (mV, read-outs) as the script saves them."""
    _write_files(request)
    _patch_nest()
    _spikes_without_v()
    _run_script("nest", int(request.get("sample", 0)))
    with np.load(OUTPUT) as recorded:
        return {**{k: recorded[k] for k in recorded.files}, "peak_rss_bytes": peak_rss_bytes()}


def mapping(request: dict) -> dict:
    """sPyNNaker's placements of the script's network on a virtual SpiNN-5 board: ``placements``
    (one row per machine vertex, system cores too), read when its mapping is done."""
    _write_files(request)
    with open(os.path.join(os.environ.get("HOME", "."), ".spynnaker.cfg"), "w") as f:
        f.write(VIRTUAL_BOARD_CFG)
    found: list[dict[str, Any]] = []
    _stop_after_mapping(found)
    try:
        _run_script("spiNNaker", 0)
    except SystemExit as stop:
        if stop.code not in (0, None) or not found:
            raise
    return {"placements": found, "peak_rss_bytes": peak_rss_bytes()}


def peak_rss_bytes() -> int:
    """This process's peak resident memory (``VmHWM`` of its own address space)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _stop_after_mapping(found: list) -> None:
    """Read the placements once sPyNNaker's mapping is done and stop there: its next stage,
    loading (data generation: every synaptic row written out, then loading onto a board, skipped
    on a virtual one), changes no placement and no planned SDRAM, and took 4 of the 4.3 minutes
    on the RF-SNN's 3.8 M synapses."""
    from spinn_front_end_common.interface.abstract_spinnaker_base import AbstractSpinnakerBase

    def stop_before_loading(self: Any) -> None:
        found.extend(placements())
        raise SystemExit(0)

    AbstractSpinnakerBase._do_load = stop_before_loading


def placements() -> list[dict[str, Any]]:
    """sPyNNaker's placements after mapping: one row per machine vertex (system cores too)."""
    from spynnaker.pyNN.data import SpynnakerDataView

    steps = SpynnakerDataView.get_plan_n_timestep()
    rows = []
    for placement in SpynnakerDataView.iterate_placemements():
        vertex = placement.vertex
        app = vertex.app_vertex
        atoms = vertex.vertex_slice.n_atoms if app is not None else 0
        rows.append(
            {
                "chip": [placement.x, placement.y],
                "core": placement.p,
                "vertex": type(vertex).__name__,
                "population": app.label if app is not None else None,
                "atoms": int(atoms),
                "sdram_bytes": int(vertex.sdram_required.get_total_sdram(steps)),
                "sdram_regions": _regions(vertex.sdram_required, steps),
            }
        )
    return rows


def _regions(sdram: Any, steps: int) -> dict[str, int]:
    """Planned bytes per memory region of a vertex (pacman's MultiRegionSDRAM), by name."""
    regions = getattr(sdram, "regions", None) or {}
    return {
        str(getattr(key, "name", f"region_{key}")): int(value.get_total_sdram(steps))
        for key, value in regions.items()
    }


CHECK_STEPS = 12


def check(request: dict) -> dict:
    """NEST: one spike source (spikes at 2, 5 and 8 ms) drives one ``IF_curr_delta`` neuron
    (threshold 1 mV, weight 2 mV, no leak to speak of) through a 1 ms delay: it must fire at 3, 6
    and 9 ms, and its ``v`` must be recordable (the patch above): 13 values, 0 to 12 ms. The
    sPyNNaker mapping is checked by the witness tests on a real export (it takes ~10 s)."""
    import pyNN.nest as sim

    _patch_nest()
    sim.setup(timestep=1.0, min_delay=1.0, spike_precision="on_grid")
    source = sim.Population(1, sim.SpikeSourceArray(spike_times=[[2.0, 5.0, 8.0]]))
    cell = sim.IF_curr_delta(tau_m=1e6, cm=1.0, v_rest=0.0, v_reset=0.0, v_thresh=1.0)
    neuron = sim.Population(1, cell)
    neuron.initialize(v=0.0)
    neuron.record(["spikes", "v"])
    sim.Projection(
        source, neuron, sim.AllToAllConnector(), sim.StaticSynapse(weight=2.0, delay=1.0)
    )
    sim.run(CHECK_STEPS)
    segment = neuron.get_data().segments[0]
    times = [float(t) for t in segment.spiketrains[0].magnitude]
    v = segment.filter(name="v")
    sim.end()
    ok = times == [3.0, 6.0, 9.0] and bool(v) and len(v[0]) == CHECK_STEPS + 1
    return {
        "ok": ok,
        "reason": f"spike times {times} ms, expected [3.0, 6.0, 9.0]; v recorded: {bool(v)}",
        "spikes": times,
    }
