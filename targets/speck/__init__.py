"""SynSense Speck / DYNAP-CNN: 9 convolutional IAF cores. Quantiser, core mapper, integer
reference, event-scatter emulator, sinabs witness, samna-style chip configuration.
docs/targets/speck.md describes the format, what bit-exact means here and the artefacts."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from nrf_deploy.deployment import base_sidecar
from nrf_deploy.errors import NrfError
from nrf_deploy.fileio import dumps_json
from nrf_deploy.ir import DEFAULT_DT
from nrf_deploy.ir.graph import Graph
from nrf_deploy.target import Deployment, Target
from nrf_deploy.trace import Trace
from nrf_deploy.targets.speck.format import SpeckLayer, SpeckProgram
from nrf_deploy.targets.speck.mapper import assign_cores
from nrf_deploy.targets.speck.quantize import quantise

PROGRAM_FILE = "program.npz"
_SCALARS = ("name", "source", "in_shape", "stride", "padding", "threshold_high", "threshold_low",
            "return_to_zero", "pool", "destinations", "scale", "weight_error", "core", "input_pool")


class SpeckTarget(Target):
    name = "speck"
    summary = "SynSense Speck / DYNAP-CNN: 9 conv cores of IAF neurons, 8-bit weights, 16-bit state"
    backends = ("reference", "emulator", "sinabs")
    witness = "sinabs"

    def add_export_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--speck-lif-as-if", action="store_true",
                            help="approximate LIF neurons by IF (drops the leak; the report states the cost)")
        parser.add_argument("--speck-threshold-low", type=int, default=None,
                            help="lower membrane bound in chip units (default: -threshold, as sinabs.from_nir)")

    def build(self, graph: Graph, options: dict[str, Any]) -> Deployment:
        program, report = quantise(graph, bool(options.get("speck_lif_as_if")), options.get("speck_threshold_low"))
        resources = assign_cores(program)
        dt = float(options.get("dt") or graph.dt or DEFAULT_DT)
        sidecar = base_sidecar(self.name, graph, dt, int(options.get("timesteps") or 20), options)
        sidecar.update({
            "number_format": "8-bit weights, 16-bit saturating state, MultiSpike, one scale per conv+IAF",
            "approximations": (["LIF leak dropped (--speck-lif-as-if)"] if options.get("speck_lif_as_if") else []),
            "layers": [{**_describe(L), "shape": list(graph.nodes[L.name].out_shape)} for L in program.layers],
            "quantisation": report,
            "resources": {k: v for k, v in resources.items() if k != "per_core"},
            "core_map": resources["per_core"], "delays": {L.name: 0 for L in program.layers}})
        return Deployment(self.name, sidecar, program, extras={"graph": graph})

    def write(self, deployment: Deployment, out_dir: Path) -> None:
        from nrf_deploy.exporters.speck_config import chip_config

        program: SpeckProgram = deployment.program
        (out_dir / "deploy.json").write_text(dumps_json(deployment.sidecar))
        arrays = {}
        for i, L in enumerate(program.layers):
            arrays[f"layer/{i}/weight"] = L.weight.astype(np.int64)
            arrays[f"layer/{i}/bias"] = L.bias.astype(np.int64)
        with open(out_dir / PROGRAM_FILE, "wb") as fh:
            np.savez(fh, **arrays)
        (out_dir / "chip_config.json").write_text(dumps_json(chip_config(program)))
        (out_dir / "resources.md").write_text(_resource_table(deployment.sidecar))

    def load(self, out_dir: Path) -> Deployment:
        sidecar = self.read_own_sidecar(out_dir)
        try:
            data = np.load(Path(out_dir) / PROGRAM_FILE)
            layers = [SpeckLayer(**{**{k: d[k] for k in _SCALARS}, "in_shape": tuple(d["in_shape"]),
                                    "weight": data[f"layer/{i}/weight"], "bias": data[f"layer/{i}/bias"]})
                      for i, d in enumerate(sidecar["layers"])]
        except (OSError, KeyError, ValueError) as exc:
            raise NrfError(f"{PROGRAM_FILE} is missing or corrupt ({type(exc).__name__})",
                           str(Path(out_dir) / PROGRAM_FILE), "re-run nrf-deploy export") from None
        program = SpeckProgram(sidecar["input_name"], tuple(sidecar["input_shape"]), layers)
        return Deployment(self.name, sidecar, program, Path(out_dir))

    def run(self, deployment: Deployment, backend: str, x: np.ndarray, record_states: bool = True) -> Trace:
        x = np.asarray(x)
        if x.size and (x.min() < 0 or not np.all(np.mod(x, 1) == 0)):
            raise NrfError("Speck inputs are event counts (non-negative integers)", "input array",
                           "pass event counts per pixel and timestep")
        if backend == "reference":
            from nrf_deploy.targets.speck.reference import run_reference as fn
        elif backend == "emulator":
            from nrf_deploy.targets.speck.emulator import run_emulator as fn
        elif backend == "sinabs":
            from nrf_deploy.targets.speck.sinabs_witness import run_sinabs as fn
        else:
            raise NrfError(f"unknown backend '{backend}'", "--backend", f"choose one of {', '.join(self.backends)}")
        trace = fn(deployment.program, x.astype(np.int64), record_states)
        program = deployment.program
        shapes = {L.name: L.out_shape for L in program.layers}
        graph_shapes = {n["name"]: tuple(n["shape"]) for n in deployment.sidecar["layers"]}
        for name in shapes:   # back to the graph's shapes (e.g. (256,) for a linear layer)
            trace.outputs[name] = trace.outputs[name].reshape(trace.outputs[name].shape[:2] + graph_shapes[name])
            for var in trace.states.get(name, {}):
                trace.states[name][var] = trace.states[name][var].reshape(trace.outputs[name].shape)
        return self.alias_outputs(trace, deployment.sidecar)


def _describe(L: SpeckLayer) -> dict:
    d = {k: getattr(L, k) for k in _SCALARS}
    d["in_shape"] = list(L.in_shape)
    d["out_shape"] = list(L.out_shape)
    d["kernel"] = int(L.weight.shape[-1])
    return d


def _resource_table(sidecar: dict) -> str:
    lines = ["| core | layer | kernel memory used / available | neuron memory used / available |", "|---|---|---|---|"]
    lines += [f"| {r['core']} | {r['layer']} | {r['kernel_memory']} / {r['kernel_memory_available']} | "
              f"{r['neuron_memory']} / {r['neuron_memory_available']} |" for r in sidecar["core_map"]]
    return "# Speck resources (entries)\n\n" + "\n".join(lines) + "\n"
