"""SynSense Xylo Audio 2 (SYNS61201): 16 inputs -> up to 1000 recurrent hidden CubaLIF neurons ->
8 read-out neurons, 8-bit weights, 16-bit saturating state, bit-shift decays.

format.py (number format, limits, program), mapper.py (structure and placement), quantize.py
(float NIR -> rockpool's Xylo specification), reference.py (batched torch, runs program.npz),
chip_files.py (the specification files and their reader), emulator.py (event by event, neuron by
neuron) and xylosim_witness.py (SynSense's C++ simulator ``xylosim.v2``), both running the
specification files, profile.py (published figures). docs/targets/xylo.md describes the format,
what bit-exact means here, the artefacts and which files each implementation reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from nrf_deploy.targets.xylo.chip_files import CHIP_FILES
from nrf_deploy.targets.xylo.format import (
    WEIGHT_SHIFTS,
    XyloProgram,
    check_program,
    describe_group,
)
from nrf_deploy.targets.xylo.quantize import quantise
from nrf_deploy.targets.xylo.xylosim_env import XYLOSIM_ENV

from nrf_deploy.deployment import base_sidecar
from nrf_deploy.errors import DoesNotFitError, NrfError
from nrf_deploy.ir import DEFAULT_DT
from nrf_deploy.ir.graph import Graph
from nrf_deploy.target import Backend, Capabilities, Deployment, Target


class XyloTarget(Target):
    name = "xylo"
    summary = (
        "SynSense Xylo Audio 2: 16 inputs, 1000 recurrent hidden + 8 read-out CubaLIF neurons, "
        "8-bit weights, 16-bit state, bit-shift decays"
    )
    backend_table = (
        Backend(
            "reference",
            "reference",
            "nrf_deploy.targets.xylo.reference:run_reference",
            "batched integer PyTorch statement of Xylo's timestep",
        ),
        Backend(
            "emulator",
            "emulator",
            "nrf_deploy.targets.xylo.emulator:run_emulator",
            "event by event through fan-out lists, neuron by neuron, as XyloLayer::evolve "
            "(from xylo_spec.npz + xylo_spec.json)",
            reads="chip_files",
        ),
        Backend(
            "xylosim",
            "vendor",
            "nrf_deploy.targets.xylo.xylosim_witness:run_xylosim",
            "SynSense's bit-exact C++ simulator xylosim 0.1.3 (xylosim.v2.XyloLayer) "
            "configured from xylo_spec.npz + xylo_spec.json",
            reads="chip_files",
            env="xylosim",
        ),
    )
    capabilities = Capabilities(
        frozenset({"IF", "LIF", "CubaLIF", "LI", "I"}),
        recurrence=True,
        reset_rules=frozenset({"subtract"}),
    )
    demo_options = ({},)
    witness_envs = (XYLOSIM_ENV,)
    chip_file_names = CHIP_FILES
    program_type = XyloProgram

    def build(self, graph: Graph, options: dict[str, Any]) -> Deployment:
        dt = float(options.get("dt") or graph.dt or DEFAULT_DT)
        program, report, problems, approximations = quantise(graph, dt)
        problems = problems + (check_program(program) if not problems else [])
        if problems:
            name = graph.metadata.get("name") or "the graph"
            raise DoesNotFitError(
                f"{name} cannot run on Xylo Audio 2 ({len(problems)} problem"
                f"{'s' if len(problems) > 1 else ''})",
                problems,
                "nrf-deploy export --target xylo",
                "fix every line; limits and mapping rules: docs/targets/xylo.md",
            )
        sidecar = base_sidecar(self.name, graph, dt, int(options.get("timesteps") or 20), options)
        sidecar.update(
            {
                "number_format": "int8 weights with per-layer left shifts (input/recurrent/"
                "output), int16 "
                "saturating synaptic currents and membranes, bit-shift decays 1 - 2^-dash, "
                "int16 thresholds (fire on >=, subtract) and biases",
                "chip": "Xylo Audio 2 (SYNS61201), as xylosim.v2 simulates it",
                "approximations": approximations,
                "quantisation": report,
                "groups": [describe_group(g) for g in program.groups],
                "resources": _resources(program),
                "delays": {g.name: g.lag for g in program.groups},
                "output_scale": {g.name: g.scale for g in program.groups if g.readout},
            }
        )
        return Deployment(self.name, sidecar, program, extras={"graph": graph})

    def write(self, deployment: Deployment, out_dir: Path) -> None:
        """deploy.json + program.npz (the reference's), the specification (the chip's), README."""
        self.write_program(deployment, out_dir)
        self.write_chip_files(deployment, out_dir)
        (out_dir / "README.md").write_text(_readme(deployment.sidecar))

    def load(self, out_dir: Path) -> Deployment:
        sidecar, program = self.read_program(out_dir)
        problems = check_program(program)
        if problems:
            raise NrfError(
                f"{self.program_file} is not a valid Xylo Audio 2 program: {'; '.join(problems)}",
                str(Path(out_dir) / self.program_file),
                "re-run nrf-deploy export",
            )
        return Deployment(
            self.name, sidecar, program, Path(out_dir), chip_files=self.load_chip_files(out_dir)
        )

    def chip_files(self, deployment: Deployment) -> dict[str, bytes]:
        """``xylo_spec.npz`` + ``xylo_spec.json``: rockpool's specification (chip_files.py)."""
        from nrf_deploy.targets.xylo.chip_files import chip_files

        return chip_files(deployment.program)

    def read_chip_files(self, files: Mapping[str, bytes], deployment: Deployment) -> XyloProgram:
        from nrf_deploy.targets.xylo.chip_files import read_chip_files

        return read_chip_files(files, deployment.sidecar)

    def check_input(self, deployment: Deployment, x: np.ndarray) -> np.ndarray:
        from nrf_deploy.targets.xylo.reference import check_binary_input

        return check_binary_input(x)


def _resources(program: XyloProgram) -> dict:
    from nrf_deploy.targets.xylo.format import MAX_HIDDEN, MAX_INPUTS, MAX_OUTPUTS, fanout

    fo = fanout(program)
    return {
        "input_channels": program.n_in,
        "input_channels_available": MAX_INPUTS,
        "hidden_neurons": program.n_hidden,
        "hidden_neurons_available": MAX_HIDDEN,
        "output_neurons": program.n_out,
        "output_neurons_available": MAX_OUTPUTS,
        "synapses_per_hidden_neuron": program.n_syn,
        "input_weights": int(np.count_nonzero(program.weights_in)),
        "recurrent_weights": int(np.count_nonzero(program.weights_rec)),
        "output_weights": int(np.count_nonzero(program.weights_out)),
        "max_fanout": int(fo.max()) if fo.size else 0,
        "mean_recurrent_fanout": float(fo.mean()) if fo.size else 0.0,
        "groups": {
            layer: [g.name for g in program.groups if g.layer == layer]
            for layer in ("hidden", "output")
        },
        "weight_shifts": {k: int(getattr(program, k)) for k in WEIGHT_SHIFTS},
    }


def _readme(sidecar: dict) -> str:
    r = sidecar["resources"]
    return f"""# Xylo Audio 2 export

* `xylo_spec.npz` — rockpool's Xylo specification, its arrays in exact integers:
  `weights_in [Nin, Nhid, Nsyn]`, `weights_rec [Nhid, Nhid, Nsyn]`, `weights_out [Nhid, Nout]`
  (source, target), `dash_mem`, `dash_syn`, `dash_syn_2`, `threshold`, `bias` (hidden) and their
  `_out` twins.
* `xylo_spec.json` — the rest of the specification: `weight_shift_in/rec/out`, `aliases` (none),
  plus `dt` and where each NIR population sits. With rockpool on a machine with a Xylo dev kit:
  `config_from_specification(**npz_arrays, **{{k: spec[k] for k in ("weight_shift_in",
  "weight_shift_rec", "weight_shift_out", "aliases")}})`. The emulator and xylosim run these two
  files.
* `program.npz` — the quantised program the integer reference runs.
* `deploy.json` — every decision: scales, dashes, decay errors, lags, approximations.

Uses {r["input_channels"]}/{r["input_channels_available"]} input channels,
{r["hidden_neurons"]}/{r["hidden_neurons_available"]} hidden and
{r["output_neurons"]}/{r["output_neurons_available"]} read-out neurons.
Check: `nrf-deploy verify THIS_DIR` (reference vs emulator vs xylosim).
"""
