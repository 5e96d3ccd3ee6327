"""Run an export's ``run_pynn.py`` unmodified under a real PyNN backend, in this process.

    python -m nrf_deploy.targets.spinnaker.pynn_run nest SCRIPT --input x.npy ...
    python -m nrf_deploy.targets.spinnaker.pynn_run spinnaker-mapping SCRIPT PLACEMENTS --input ...

The witnesses (``witnesses.py``) start this module in a fresh interpreter inside a temporary folder
(NEST's kernel and sPyNNaker's data view are process-wide; sPyNNaker writes report folders under
the working directory). The script itself is executed as written (``runpy``); only the backend
module is adjusted around it:

* ``nest``: PyNN 0.13's ``pyNN.nest.IF_curr_delta`` has no ``variable_map``, so recording ``v``
  fails with NEST 3.10's "Cannot connect with unknown recordable v" (and ``initialize(v=...)`` is
  dropped with "NEST does not allow setting an initial value for v"); the map every other
  current-based cell of ``pyNN/nest/standardmodels/cells.py`` has (``v`` -> ``V_m``) is added.
* ``spinnaker-mapping``: ``sim.run`` runs sPyNNaker's whole mapping on the virtual board named
  in the ``.spynnaker.cfg`` the caller wrote, then writes every placement (chip, core, vertex,
  atoms, planned SDRAM bytes) to PLACEMENTS as JSON and stops the script: a virtual board has no
  recordings to read back.
"""

from __future__ import annotations

import json
import runpy
import sys
from typing import Any


def _patch_nest() -> None:
    import pyNN.nest as sim

    if not hasattr(sim.IF_curr_delta, "variable_map"):
        sim.IF_curr_delta.variable_map = {"v": "V_m"}


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


def _stop_after_mapping(path: str) -> None:
    import pyNN.spiNNaker as sim

    real_run = sim.run

    def run_mapping_only(*args: Any, **kwargs: Any) -> None:
        real_run(*args, **kwargs)
        with open(path, "w") as fh:
            json.dump(placements(), fh)
        raise SystemExit(0)

    sim.run = run_mapping_only


def main(argv: list[str]) -> None:
    mode, script, rest = argv[0], argv[1], argv[2:]
    if mode == "nest":
        _patch_nest()
        rest = [*rest, "--simulator", "nest"]
    elif mode == "spinnaker-mapping":
        _stop_after_mapping(rest[0])
        rest = [*rest[1:], "--simulator", "spiNNaker"]
    else:
        raise SystemExit(f"unknown mode {mode!r}: nest or spinnaker-mapping")
    sys.argv = [script, *rest]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
