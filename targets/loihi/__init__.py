"""Intel Loihi (Lava 0.10 bit-accurate fixed point): quantiser, integer reference, emulator,
core mapper and Lava witness. docs/targets/loihi.md describes the format and the artefacts."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from nrf_deploy.targets.loihi.format import POPULATION_FIELDS, Compartments, LoihiProgram, Synapses
from nrf_deploy.targets.loihi.lava_env import LAVA_ENV
from nrf_deploy.targets.loihi.lava_network import NETWORK_FILES, lava_network, network_files
from nrf_deploy.targets.loihi.mapper import map_cores
from nrf_deploy.targets.loihi.quantize import PinnedScale, quantise, reset_approximations
from nrf_deploy.targets.loihi.sanafe_witness import SANAFE_ENV

from nrf_deploy.deployment import base_sidecar
from nrf_deploy.errors import NrfError
from nrf_deploy.ir import DEFAULT_DT
from nrf_deploy.ir.graph import Graph
from nrf_deploy.opinions import SecondOpinion
from nrf_deploy.qnir import write_annotated_nir
from nrf_deploy.target import Backend, Capabilities, Deployment, Target

PROGRAM_FILE = "program.npz"
_POP_FIELDS = POPULATION_FIELDS


class LoihiTarget(Target):
    name = "loihi"
    summary = (
        "Intel Loihi 1 as Lava 0.10's bit-accurate LIF/Dense models (128 cores x 1024 compartments)"
    )
    backend_table = (
        Backend(
            "reference",
            "reference",
            "nrf_deploy.targets.loihi.reference:run_reference",
            "batched integer PyTorch statement of Lava's bit-accurate LIF/Dense",
        ),
        Backend(
            "emulator",
            "emulator",
            "nrf_deploy.targets.loihi.chip_files:run_emulator",
            "per-core event routing with Dense delay, 24-bit wrap (from lava_network.*)",
            reads="chip_files",
        ),
        Backend(
            "lava",
            "vendor",
            "nrf_deploy.targets.loihi.chip_files:run_lava",
            "Lava 0.10 PyLifModelBitAcc / PyDenseModelBitAcc (fixed_pt) built from lava_network.*",
            reads="chip_files",
            env="lava",
        ),
    )
    second_opinions = (
        SecondOpinion(
            "SANA-FE",
            "nrf_deploy.targets.loihi.sanafe_witness:sanafe_opinion",
            env="sanafe",
            summary="SANA-FE 2.2.9's Loihi description: energy and latency per inference",
        ),
    )
    chip_file_names = NETWORK_FILES
    program_type = LoihiProgram
    witness_envs = (LAVA_ENV, SANAFE_ENV)
    capabilities = Capabilities(
        frozenset({"IF", "LIF", "CubaLIF", "CubaLI", "LI", "I"}),
        recurrence=True,
        reset_rules=frozenset({"zero"}),
    )
    # the small RF-SNN needs 3 Loihi chips (4096 input axons per core); a smaller model maps to
    # fewer
    demo_options = ({"loihi_chips": 4},)

    def add_export_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--loihi-chips", type=int, default=1, help="chips available (128 cores each; default 1)"
        )
        parser.add_argument(
            "--loihi-scale",
            type=float,
            default=None,
            help="pin λ (vth units per model unit, vth = round(λ·θ)) instead of "
            "choosing it; e.g. 256 reproduces Lava's nir_to_lava",
        )
        parser.add_argument(
            "--loihi-weight-exp",
            type=int,
            default=None,
            help="pin every projection's weight exponent (-8..7; needs --loihi-scale)",
        )

    def build(self, graph: Graph, options: dict[str, Any]) -> Deployment:
        dt = float(options.get("dt") or graph.dt or DEFAULT_DT)
        chips = options.get("loihi_chips")
        chips = 1 if chips is None else int(chips)
        if chips < 1:
            raise NrfError(
                f"--loihi-chips must be at least 1, got {chips}",
                "--loihi-chips",
                "e.g. --loihi-chips 2",
            )
        program, report = quantise(graph, dt, _pinned(options))
        resources = map_cores(program, chips)
        sidecar = base_sidecar(self.name, graph, dt, int(options.get("timesteps") or 20), options)
        sidecar.update(
            {
                "number_format": "lava-nc 0.10.0 PyLifModelBitAcc / PyDenseModelBitAcc (Loihi 1)",
                "reset": "zero (Loihi resets v to 0; source graph resets: "
                + ", ".join(
                    sorted(
                        {f"{n.name}={n.reset}" for n in graph.nodes.values() if n.reset != "none"}
                    )
                )
                + ")",
                **(
                    {"approximations": reset_approximations(graph)}
                    if reset_approximations(graph)
                    else {}
                ),
                "populations": {
                    n: _describe_population(c, program) for n, c in program.populations.items()
                },
                "projections": [
                    _describe_projection(i, s) for i, s in enumerate(program.projections)
                ],
                "quantisation": report,
                "resources": {k: v for k, v in resources.items() if k != "per_core"},
                "core_map": resources["per_core"],
                "delays": {n: c.delay for n, c in program.populations.items()},
                "output_scale": {
                    n: 64.0 * c.scale for n, c in program.populations.items() if c.readout
                },
            }
        )
        return Deployment(self.name, sidecar, program, extras={"graph": graph})

    def write(self, deployment: Deployment, out_dir: Path) -> None:
        program: LoihiProgram = deployment.program
        self.write_program(deployment, out_dir)
        self.write_chip_files(deployment, out_dir)
        write_annotated_nir(out_dir, deployment.graph, _annotations(program), _qnir_notes(program))
        (out_dir / "README.md").write_text(_README.format(**deployment.sidecar["resources"]))

    def load(self, out_dir: Path) -> Deployment:
        sidecar, program = self.read_program(out_dir)
        return Deployment(
            self.name, sidecar, program, Path(out_dir), chip_files=self.load_chip_files(out_dir)
        )

    def chip_files(self, deployment: Deployment) -> dict[str, bytes]:
        """``lava_network.json`` + ``lava_network.npz``: the Lava processes (lava_network.py)."""
        return network_files(lava_network(deployment.program))

    def read_chip_files(self, files: Mapping[str, bytes], deployment: Deployment):
        from nrf_deploy.targets.loihi.chip_files import read_chip_files

        return read_chip_files(files)

    def check_input(self, deployment: Deployment, x: np.ndarray) -> np.ndarray:
        from nrf_deploy.targets.loihi.reference import check_binary_input

        return check_binary_input(x)


def _pinned(options: dict[str, Any]) -> PinnedScale | None:
    """The --loihi-scale / --loihi-weight-exp pin, or None (the quantiser chooses)."""
    scale, exp = options.get("loihi_scale"), options.get("loihi_weight_exp")
    if scale is None and exp is not None:
        raise NrfError(
            "--loihi-weight-exp needs --loihi-scale",
            "--loihi-weight-exp",
            "pin the scale too, e.g. --loihi-scale 256 --loihi-weight-exp 0",
        )
    return None if scale is None else PinnedScale(float(scale), None if exp is None else int(exp))


def _compact(values: np.ndarray) -> Any:
    values = np.asarray(values)
    return (
        int(values.flat[0])
        if values.size and np.all(values == values.flat[0])
        else values.astype(int).tolist()
    )


def _describe_population(comp: Compartments, program: LoihiProgram) -> dict:
    return {
        "kind": comp.kind,
        "shape": list(comp.shape),
        "scale": comp.scale,
        "readout": comp.readout,
        "delay": comp.delay,
        **{f: _compact(getattr(comp, f)) for f in _POP_FIELDS},
        "cores": [list(c) for c in program.cores.get(comp.name, [])],
    }


def _describe_projection(i: int, syn: Synapses) -> dict:
    return {
        "index": i,
        "source": syn.source,
        "target": syn.target,
        "weight_exp": syn.weight_exp,
        "sign_mode": syn.sign_mode,
        "nnz": int(syn.weights.nnz),
        "error": syn.error,
        "shape": list(syn.weights.shape),
    }


def _annotations(program: LoihiProgram) -> dict[str, dict[str, Any]]:
    """model.q.nir: each population's Loihi integers (keys 'loihi_*'); the exact integer weights
    are in program.npz."""
    return {
        name: {
            **{f"loihi_{f}": np.asarray(getattr(comp, f)).reshape(comp.shape) for f in _POP_FIELDS},
            "loihi_scale": comp.scale,
        }
        for name, comp in program.populations.items()
    }


def _qnir_notes(program: LoihiProgram) -> dict[str, Any]:
    return {"target": "loihi", "dt": program.dt, "weights": "exact integer weights in program.npz"}


_README = """# Loihi export

* `deploy.json` — every decision: integer neuron parameters per population, weight exponents,
  scales, delays, core map ({cores_used} cores on {chips} chip(s)), package versions.
* `program.npz` — exact integers: `pop/<name>/{{du,dv,vth,bias_mant,bias_exp}}` and each
  projection's 8-bit weights as CSR (`proj/<i>/{{data,indices,indptr,shape}}`).
* `lava_network.json` + `lava_network.npz` — the Lava network: LIF processes (du, dv, vth, biases)
  and Dense/Sparse connections (8-bit weights, weight_exp); the emulator and Lava run these files.
* `model.q.nir` — the source graph, each population annotated with its Loihi integers.

Run on Lava (bit-accurate fixed point): `nrf-deploy run THIS_DIR --backend lava --input x.npy -o
out.npz` (Lava runs in its own environment: `nrf-deploy witnesses install lava`),
or build the processes in your own Lava code with `build_network` of nrf-deploy's
`targets/loihi/lava_runner.py`.
Check: `nrf-deploy verify THIS_DIR`.
"""
