"""SpiNNaker 1 as sPyNNaker runs it: s16.15 quantiser, core partitioning, integer reference,
per-core emulator and a PyNN description. docs/targets/spinnaker.md describes the format, what
bit-exact means here and the artefacts."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from nrf_deploy.targets.spinnaker.format import (
    DEFAULT_CHIPS,
    DEFAULT_NEURONS_PER_CORE,
    ONE,
    SYNAPSE_WORDS,
    WORDS,
    Population,
    Projection,
    SpiNNakerProgram,
)
from nrf_deploy.targets.spinnaker.mapper import partition
from nrf_deploy.targets.spinnaker.quantize import quantise
from nrf_deploy.targets.spinnaker.witnesses import PYNN_ENV

from nrf_deploy.deployment import base_sidecar
from nrf_deploy.fileio import dumps_json, npz_bytes
from nrf_deploy.ir import DEFAULT_DT
from nrf_deploy.ir.graph import Graph
from nrf_deploy.opinions import SecondOpinion
from nrf_deploy.qnir import write_annotated_nir
from nrf_deploy.target import Backend, Capabilities, Deployment, Target

PROGRAM_FILE = "program.npz"
PARTITION_FILE = "partition.json"
_WORDS, _SYN_WORDS = WORDS, SYNAPSE_WORDS


class SpiNNakerTarget(Target):
    name = "spinnaker"
    summary = (
        "SpiNNaker 1 as sPyNNaker runs it: s16.15 LIF (IF_curr_delta/IF_curr_exp) on ARM cores, "
        "16 per chip, 16-bit ring buffers"
    )
    backend_table = (
        Backend(
            "reference",
            "reference",
            "nrf_deploy.targets.spinnaker.reference:run_reference",
            "batched integer PyTorch statement of sPyNNaker's s16.15 LIF",
        ),
        Backend(
            "emulator",
            "emulator",
            "nrf_deploy.targets.spinnaker.emulator:run_emulator",
            "per-core event-driven ring buffers, as the ARM cores run it (from network.json + "
            "connections.npz)",
            reads="chip_files",
        ),
    )
    second_opinions = (
        SecondOpinion(
            "PyNN on NEST",
            "nrf_deploy.targets.spinnaker.witnesses:nest_opinion",
            env="pynn",
            summary="nrf-deploy's PyNN script for the export's network under pyNN.nest: spike "
            "agreement with the reference and the float model",
        ),
        SecondOpinion(
            "sPyNNaker mapping",
            "nrf_deploy.targets.spinnaker.witnesses:spynnaker_mapping_opinion",
            env="pynn",
            summary="the same script through sPyNNaker's mapper on a virtual SpiNN-5 board: "
            "cores, chips, SDRAM",
        ),
    )
    witness_envs = (PYNN_ENV,)
    chip_file_names = ("network.json", "connections.npz")
    program_type = SpiNNakerProgram
    capabilities = Capabilities(
        frozenset({"IF", "LIF", "CubaLIF", "CubaLI", "LI", "I"}),
        recurrence=True,
        reset_rules=frozenset({"zero", "value"}),
    )

    def add_export_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--spinnaker-neurons-per-core",
            type=int,
            default=DEFAULT_NEURONS_PER_CORE,
            help=f"neurons per core (1-256; default {DEFAULT_NEURONS_PER_CORE}, as sPyNNaker)",
        )
        parser.add_argument(
            "--spinnaker-chips",
            type=int,
            default=DEFAULT_CHIPS,
            help=f"chips available (16 application cores each; default {DEFAULT_CHIPS}, a SpiNN-5 "
            "board)",
        )
        parser.add_argument(
            "--spinnaker-t-refrac",
            type=float,
            default=0.0,
            help="refractory period of spiking neurons in seconds (default 0: NIR has none)",
        )
        parser.add_argument(
            "--spinnaker-scale",
            type=float,
            default=None,
            help="pin λ (accum value per model unit) instead of choosing the "
            "largest that fits; e.g. 1 to match a PyNN script in mV",
        )

    def build(self, graph: Graph, options: dict[str, Any]) -> Deployment:
        dt = float(options.get("dt") or graph.dt or DEFAULT_DT)
        timesteps = int(options.get("timesteps") or 20)
        program, report = quantise(
            graph,
            dt,
            float(_option(options, "spinnaker_t_refrac", 0.0)),
            options.get("spinnaker_scale"),
        )
        resources = partition(
            program,
            int(_option(options, "spinnaker_neurons_per_core", DEFAULT_NEURONS_PER_CORE)),
            int(_option(options, "spinnaker_chips", DEFAULT_CHIPS)),
            timesteps,
        )
        sidecar = base_sidecar(self.name, graph, dt, timesteps, options)
        resets = sorted({f"{n.name}={n.reset}" for n in graph.nodes.values() if n.reset != "none"})
        sidecar.update(
            {
                "number_format": "s16.15 accum (sPyNNaker REAL), round-to-nearest multiplication, "
                "16-bit ring buffers",
                "reset": "to V_reset (λ v_reset for reset-to-value nodes, else 0; source graph "
                "resets: " + ", ".join(resets) + ")",
                "approximations": _approximations(program, graph),
                "neurons_per_core": program.neurons_per_core,
                "populations": {
                    n: _describe_population(p, program) for n, p in program.populations.items()
                },
                "projections": [
                    _describe_projection(i, p) for i, p in enumerate(program.projections)
                ],
                "input_cores": [list(c) for c in program.cores[program.input_name]],
                "quantisation": report,
                "resources": {k: v for k, v in resources.items() if k != "per_core"},
                "core_map": resources["per_core"],
                "delays": {n: p.lag for n, p in program.populations.items()},
                "output_scale": {
                    n: p.scale * ONE for n, p in program.populations.items() if p.readout
                },
            }
        )
        return Deployment(self.name, sidecar, program, extras={"graph": graph})

    def write(self, deployment: Deployment, out_dir: Path) -> None:
        from nrf_deploy.targets.spinnaker.pynn import NETWORK_FILE, SCRIPT_FILE, pynn_script

        program: SpiNNakerProgram = deployment.program
        sidecar = deployment.sidecar
        self.write_program(deployment, out_dir)
        self.write_chip_files(deployment, out_dir)
        description = json.loads(self.chip_files_of(deployment)[NETWORK_FILE])
        (out_dir / SCRIPT_FILE).write_text(pynn_script(description))
        (out_dir / PARTITION_FILE).write_text(
            dumps_json({"resources": sidecar["resources"], "cores": sidecar["core_map"]})
        )
        write_annotated_nir(out_dir, deployment.graph, _annotations(program), _qnir_notes(program))
        (out_dir / "README.md").write_text(_readme(sidecar))

    def load(self, out_dir: Path) -> Deployment:
        sidecar, program = self.read_program(out_dir)
        return Deployment(
            self.name, sidecar, program, Path(out_dir), chip_files=self.load_chip_files(out_dir)
        )

    def chip_files(self, deployment: Deployment) -> dict[str, bytes]:
        """``network.json`` + ``connections.npz``: the PyNN network run_pynn.py loads (pynn.py)."""
        from nrf_deploy.targets.spinnaker.pynn import (
            CONNECTIONS_FILE,
            NETWORK_FILE,
            connection_arrays,
            network_description,
        )

        program, sidecar = deployment.program, deployment.sidecar
        description = network_description(
            program, sidecar.get("timesteps", 20), sidecar.get("source", {}).get("name", "")
        )
        return {
            NETWORK_FILE: dumps_json(description).encode(),
            CONNECTIONS_FILE: npz_bytes(connection_arrays(program)),
        }

    def read_chip_files(
        self, files: Mapping[str, bytes], deployment: Deployment
    ) -> SpiNNakerProgram:
        from nrf_deploy.targets.spinnaker.chip_files import read_chip_files

        return read_chip_files(files)

    def check_input(self, deployment: Deployment, x: np.ndarray) -> np.ndarray:
        from nrf_deploy.targets.spinnaker.reference import check_binary_input

        return check_binary_input(x)


def _option(options: dict[str, Any], key: str, default: Any) -> Any:
    value = options.get(key)
    return default if value is None else value


def _approximations(program: SpiNNakerProgram, graph: Graph) -> list[str]:
    notes = [
        (
            "every synapse delays by >= 1 timestep: population p lags the float model by delays[p] "
            "steps"
        )
    ]
    subtract = sorted(n.name for n in graph.nodes.values() if n.reset == "subtract")
    if subtract:
        notes.append(
            "the reset is to V_reset = 0 (a NIR 'subtract' reset is not available in sPyNNaker's "
            f"LIF): {', '.join(subtract)}"
        )
    kinds = {p.kind for p in program.populations.values()}
    if kinds & {"IF", "I"}:
        notes.append(
            "IF/Integrator run as a LIF with exp_TC = 1 - 2^-15 and R = 2^15: the membrane leaks "
            "2^-15 of its value per step"
        )
    if kinds & {"CubaLIF", "CubaLI"}:
        notes.append(
            "a CubaLIF's/CubaLI's constant (bias) input enters as I_offset, i.e. at its steady "
            "state"
        )
    return notes


def _compact(values: np.ndarray) -> Any:
    values = np.asarray(values)
    return (
        int(values.flat[0])
        if values.size and np.all(values == values.flat[0])
        else "per neuron (program.npz)"
    )


def _describe_population(pop: Population, program: SpiNNakerProgram) -> dict:
    words = {k: _compact(getattr(pop, k)) for k in _WORDS}
    if pop.exponential:
        words |= {k: _compact(getattr(pop, k)) for k in _SYN_WORDS}
    return {
        "kind": pop.kind,
        "model": pop.model,
        "shape": list(pop.shape),
        "scale": pop.scale,
        "shifts": list(pop.shifts),
        "readout": pop.readout,
        "lag": pop.lag,
        "words": words,
        "cores": [list(c) for c in program.cores.get(pop.name, [])],
    }


def _describe_projection(i: int, proj: Projection) -> dict:
    return {
        "index": i,
        "source": proj.source,
        "target": proj.target,
        "delay": proj.delay,
        "excitatory": int(proj.excitatory.nnz),
        "inhibitory": int(proj.inhibitory.nnz),
        "shape": list(proj.excitatory.shape),
    }


def _annotations(program: SpiNNakerProgram) -> dict[str, dict[str, Any]]:
    """model.q.nir: each population's s16.15 words (keys 'spinnaker_*'); the exact uint16
    weights are in program.npz."""
    return {
        name: {
            **{
                f"spinnaker_{k}": np.asarray(getattr(pop, k)).reshape(pop.shape)
                for k in _WORDS + (_SYN_WORDS if pop.exponential else ())
            },
            "spinnaker_model": pop.model,
            "spinnaker_scale": pop.scale,
            "spinnaker_shifts": np.asarray(pop.shifts),
        }
        for name, pop in program.populations.items()
    }


def _qnir_notes(program: SpiNNakerProgram) -> dict[str, Any]:
    return {
        "target": "spinnaker",
        "dt": program.dt,
        "weights": "exact uint16 ring-buffer weights in program.npz",
    }


def _readme(sidecar: dict) -> str:
    r = sidecar["resources"]
    return f"""# SpiNNaker export

* `deploy.json` — every decision: s16.15 words per population, scales, ring-buffer shifts, delays,
  quantisation losses, the core map ({r["cores_used"]} cores on {r["chips"]} chip(s)), package
  versions.
* `program.npz` — exact integers: `pop/<name>/<word>` (accum bit patterns; `syn_decay`/`syn_init`
  unsigned 0.32) and each projection's uint16 weights per synapse type as CSR.
* `network.json` + `connections.npz` — the PyNN network (units ms, mV, nA; connection rows
  `(pre, post, weight, delay)`), `run_pynn.py` — a PyNN script for sPyNNaker:
  `python run_pynn.py --input x.npy` on a machine with sPyNNaker and a SpiNNaker board.
* `partition.json` — per core: chip, population slice, synaptic rows, DTCM and SDRAM bytes.
* `model.q.nir` — the source graph annotated with each population's s16.15 words; `source.nir`.

Check: `nrf-deploy verify THIS_DIR`; run one backend: `nrf-deploy run THIS_DIR --backend emulator
--input x.npy -o out.npz`.
"""
