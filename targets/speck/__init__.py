"""SynSense Speck / DYNAP-CNN: 9 convolutional cores of integrate-and-fire neurons.

format.py (number format, limits, program), quantize.py (float NIR -> integer layers), mapper.py
(limits, memory formulas, core matching), reference.py (batched torch), emulator.py (per core,
event by event), sinabs_witness.py (sinabs layers), qnir.py (quantised NIR) and
``nrf_deploy.targets.speck.chip_config`` (samna-shaped chip configuration). docs/targets/speck.md
describes the format, what bit-exact means here and the artefacts.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from nrf_deploy.targets.speck.format import SpeckLayer, SpeckProgram, Violation
from nrf_deploy.targets.speck.mapper import assign_cores
from nrf_deploy.targets.speck.quantize import THRESHOLD_LOW_MODES, QuantOptions, quantise
from nrf_deploy.targets.speck.sinabs_env import SINABS_ENV

from nrf_deploy.deployment import base_sidecar
from nrf_deploy.errors import DoesNotFitError, GraphError, NrfError
from nrf_deploy.fileio import dumps_json
from nrf_deploy.ir import DEFAULT_DT
from nrf_deploy.ir.graph import Graph
from nrf_deploy.qnir import QNIR_FILE
from nrf_deploy.target import Backend, Capabilities, Deployment, Target
from nrf_deploy.trace import Trace

PROGRAM_FILE = "program.npz"
CONFIG_FILE = "chip_config.json"
RESOURCES_FILE = "resources.md"
COST_SAMPLES = 8


class SpeckTarget(Target):
    name = "speck"
    summary = "SynSense Speck / DYNAP-CNN: 9 conv cores of IAF neurons, 8-bit weights, 16-bit state"
    backend_table = (
        Backend(
            "reference",
            "reference",
            "nrf_deploy.targets.speck.reference:run_reference",
            "batched integer convolutions, 16-bit saturation, MultiSpike",
        ),
        Backend(
            "emulator",
            "emulator",
            "nrf_deploy.targets.speck.emulator:run_emulator",
            "event-by-event scatter through the 9 cores' address map (from chip_config.json)",
            reads="chip_files",
        ),
        Backend(
            "sinabs",
            "vendor",
            "nrf_deploy.targets.speck.sinabs_witness:run_sinabs",
            "sinabs 3.1.3 IAF layers with chip_config.json's integer weights",
            reads="chip_files",
            env="sinabs",
        ),
    )
    chip_file_names = (CONFIG_FILE,)
    program_type = SpeckProgram
    witness_envs = (SINABS_ENV,)
    capabilities = Capabilities(frozenset({"IF"}), recurrence=False)
    # documented opt-ins for leaky models, least approximate first; the report states the cost
    demo_options = (
        {},
        {"speck_host_readout": True},
        {"speck_lif_as_if": True},
        {"speck_lif_as_if": True, "speck_host_readout": True},
    )

    def add_export_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--speck-lif-as-if",
            action="store_true",
            help="approximate LIF neurons by IF: drop the leak, keep dt/tau as input gain "
            "(the export records the accuracy cost; verify and report state it)",
        )
        parser.add_argument(
            "--speck-threshold-low",
            choices=THRESHOLD_LOW_MODES,
            default="threshold",
            help="lower membrane bound: 'threshold' = -threshold_high (sinabs.from_nir, "
            "default) or 'min' = -2**15 (the chip's default)",
        )
        parser.add_argument(
            "--speck-host-readout",
            action="store_true",
            help="compute terminal LI/Integrator read-outs (and the conv/pooling into them) "
            "on the host, in float, from the spikes of the chip layer feeding them",
        )

    def build(self, graph: Graph, options: dict[str, Any]) -> Deployment:
        dt = float(options.get("dt") or graph.dt or DEFAULT_DT)
        qopts = QuantOptions(
            dt,
            bool(options.get("speck_lif_as_if")),
            options.get("speck_threshold_low") or "threshold",
            bool(options.get("speck_host_readout")),
        )
        program, report, problems, approximations = quantise(graph, qopts)
        resources, limits = assign_cores(program)
        _raise_all(graph, problems + limits, resources)
        timesteps = int(options.get("timesteps") or 20)
        sidecar = base_sidecar(self.name, graph, dt, timesteps, options)
        sidecar.update(
            {
                "number_format": "8-bit signed weights and biases, 16-bit saturating state, one "
                "scale per "
                "conv + IAF pair; MultiSpike (v > 0) * trunc(v / threshold_high)",
                "semantics": "sinabs (MultiSpike, spike when v >= threshold, clamp at "
                "threshold_low); "
                "time-stepped model of the event-driven chip (docs/targets/speck.md)",
                # Semantics.named(...) of the float executor the chip follows
                "executor_semantics": "sinabs",
                "layers": [_describe(L, graph.nodes[L.name].out_shape) for L in program.layers],
                "quantisation": report,
                "approximations": [],
                "resources": {k: v for k, v in resources.items() if k != "per_core"},
                "core_map": resources["per_core"],
                "delays": {L.name: 0 for L in program.layers},
                "host_readout": [
                    {"node": h.name, "source": h.source, "file": f"host_{i}.nir"}
                    for i, h in enumerate(program.host)
                ],
            }
        )
        sidecar["outputs"] = _output_layers(sidecar)
        deployment = Deployment(self.name, sidecar, program, extras={"graph": graph})
        if approximations:
            cost = approximation_cost(self, deployment, graph, dt)
            sidecar["approximation_cost"] = cost
            sidecar["approximations"] = [_approximation_text(a, cost) for a in approximations]
        return deployment

    def write(self, deployment: Deployment, out_dir: Path) -> None:
        from nrf_deploy.targets.speck.qnir import quantised_nir

        from nrf_deploy.ir.write import write_nir

        program: SpeckProgram = deployment.program
        sidecar = deployment.sidecar
        self.write_program(deployment, out_dir)
        for h, d in zip(program.host, sidecar["host_readout"]):
            write_nir(out_dir / d["file"], h.nir_graph)
        outputs = sidecar["outputs"]
        self.write_chip_files(deployment, out_dir)
        shapes = {d["name"]: tuple(d["shape"]) for d in sidecar["layers"]}
        write_nir(
            out_dir / QNIR_FILE,
            quantised_nir(
                program, shapes, outputs, {"target": "speck", "dt": sidecar["dt"], "units": "chip"}
            ),
        )
        (out_dir / RESOURCES_FILE).write_text(resource_table_md(sidecar))

    def load(self, out_dir: Path) -> Deployment:
        sidecar, program = self.read_program(out_dir)
        try:
            program.host = [_host_from(Path(out_dir), d) for d in sidecar.get("host_readout", [])]
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise NrfError(
                f"a host_*.nir or deploy.json is missing or corrupt ({type(exc).__name__}: {exc})",
                str(out_dir),
                "re-run nrf-deploy export",
            ) from None
        return Deployment(
            self.name, sidecar, program, Path(out_dir), chip_files=self.load_chip_files(out_dir)
        )

    def chip_files(self, deployment: Deployment) -> dict[str, bytes]:
        """``chip_config.json``: samna's configuration of every core (chip_config.py)."""
        from nrf_deploy.targets.speck.chip_config import chip_config

        sidecar = deployment.sidecar
        config = chip_config(
            deployment.program, sidecar["outputs"], sidecar["dt"], sidecar["host_readout"]
        )
        return {CONFIG_FILE: dumps_json(config).encode()}

    def read_chip_files(self, files: Mapping[str, bytes], deployment: Deployment) -> SpeckProgram:
        from nrf_deploy.targets.speck.chip_files import read_chip_files

        return read_chip_files(files, deployment.sidecar["input_name"])

    def check_input(self, deployment: Deployment, x: np.ndarray) -> np.ndarray:
        return _check_events(x)

    def finish_trace(self, deployment: Deployment, trace: Trace, record_states: bool) -> Trace:
        shapes = {d["name"]: tuple(d["shape"]) for d in deployment.sidecar["layers"]}
        for (
            name,
            shape,
        ) in shapes.items():  # back to the graph's shapes, e.g. (256,) for a linear layer
            lead = trace.outputs[name].shape[:2]
            trace.outputs[name] = trace.outputs[name].reshape(lead + shape)
            for var in trace.states.get(name, {}):
                trace.states[name][var] = trace.states[name][var].reshape(lead + shape)
        for h in deployment.program.host:  # read-outs on the host, from this backend's spikes
            from nrf_deploy.targets.speck.host import run_host

            part = run_host(h, trace.outputs[h.source], deployment.sidecar["dt"], record_states)
            trace.outputs[h.name] = part.outputs[h.name]
            if record_states and h.name in part.states:
                trace.states[h.name] = part.states[h.name]
        return self.alias_outputs(trace, deployment.sidecar)


# --- helpers ----------------------------------------------------------------------------------


def _raise_all(graph: Graph, problems: list[Violation], resources: dict) -> None:
    """One error listing every problem, unsupported features first."""
    if not problems:
        return
    order = {"unsupported": 0, "range": 1, "limit": 2}
    problems = sorted(dict.fromkeys(problems), key=lambda v: order.get(v.kind, 3))
    name = graph.metadata.get("name") or "the graph"
    what = f"{name} cannot run on Speck ({len(problems)} problem{'s' if len(problems) > 1 else ''})"
    hint = "fix every line (each ends with what to change); limits: docs/targets/speck.md"
    if all(v.kind == "unsupported" for v in problems) and resources["cores_used"]:
        hint += (
            f". Apart from these, the layers fit: {resources['cores_used']} of "
            f"{resources['cores_available']} cores"
        )
    if any(v.kind == "limit" for v in problems):
        raise DoesNotFitError(what, [str(v) for v in problems], "speck mapper", hint)
    raise GraphError(what + "".join(f"\n    - {v}" for v in problems), "speck quantiser", hint)


def _check_events(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == np.bool_:
        return x.astype(np.int64)
    if not np.issubdtype(x.dtype, np.number) or (
        x.size and (not np.all(np.isfinite(x)) or x.min() < 0 or not np.all(np.mod(x, 1) == 0))
    ):
        raise NrfError(
            "Speck inputs are event counts: non-negative integers per pixel and timestep",
            "input array",
            "pass event counts (e.g. binned DVS events), not normalised frames",
        )
    if x.size and x.max() > 2**31:
        raise NrfError(
            f"an input count of {x.max():g} events in one pixel and step is not plausible",
            "input array",
            "bin the events over shorter timesteps",
        )
    return x.astype(np.int64)


def _describe(L: SpeckLayer, graph_shape: tuple[int, ...]) -> dict:
    return {
        "name": L.name,
        "sources": [{"name": s.name, "pool": s.pool} for s in L.sources],
        "in_shape": list(L.in_shape),
        "out_shape": list(L.out_shape),
        "shape": list(graph_shape),
        "kernel": L.kernel,
        "stride": list(L.stride),
        "padding": list(L.padding),
        "threshold_high": L.threshold_high,
        "threshold_low": L.threshold_low,
        "return_to_zero": L.return_to_zero,
        "destinations": list(L.destinations),
        "core": L.core,
        "scale": L.scale,
        "weight_error": L.weight_error,
    }


def _output_layers(sidecar: dict) -> dict[str, str]:
    """Output node -> the chip layer whose spikes leave the chip for it (the latest layer or host
    read-out before it in the schedule; a host read-out stands for its source layer)."""
    names = {d["name"] for d in sidecar["layers"]}
    host = {d["node"]: d["source"] for d in sidecar.get("host_readout", [])}
    schedule = sidecar["schedule"]
    found = {
        out: next(n for n in reversed(schedule[: schedule.index(out)]) if n in names or n in host)
        for out in sidecar["output_names"]
    }
    return {out: host.get(n, n) for out, n in found.items()}


def _host_from(out_dir: Path, d: dict):
    from nrf_deploy.targets.speck.host import HostReadout

    from nrf_deploy.ir.load import read_nir_file
    from nrf_deploy.seal import file_in_export

    path = file_in_export(out_dir, d.get("file"), f"deploy.json host_readout of '{d.get('node')}'")
    return HostReadout(d["node"], d["source"], read_nir_file(path))


def resource_table_md(sidecar: dict) -> str:
    """Markdown table: kernel/neuron/bias memory used vs available per core, pooling,
    destinations."""
    layers = {d["name"]: d for d in sidecar["layers"]}
    core_of = {d["name"]: d["core"] for d in sidecar["layers"]}
    header = (
        "| core | layer | kernel memory | neuron memory | bias memory | neurons (f x h x w) | "
        "destinations (core, pooling) |"
    )
    lines = [header, "|---|---|---|---|---|---|---|"]
    for r in sidecar["core_map"]:
        d = layers.get(r["layer"])
        if d is None:
            lines.append(
                f"| {r['core']} | (free) | 0 / {r['kernel_memory_available']} | 0 / "
                f"{r['neuron_memory_available']} | 0 / {r['bias_memory_available']} | | |"
            )
            continue
        dests = (
            ", ".join(
                f"{core_of[n]} "
                f"(x{next(s['pool'] for s in layers[n]['sources'] if s['name'] == d['name'])})"
                for n in d["destinations"]
            )
            or "monitor (output)"
        )
        lines.append(
            f"| {r['core']} | {d['name']} | {r['kernel_memory']} / {r['kernel_memory_available']} "
            "| "
            f"{r['neuron_memory']} / {r['neuron_memory_available']} | {r['bias_memory']} / "
            f"{r['bias_memory_available']} | {' x '.join(map(str, d['out_shape']))} | {dests} |"
        )
    res = sidecar["resources"]
    return (
        "# Speck resources (memory in entries)\n\n"
        + "\n".join(lines)
        + f"\n\nCores used: {res['cores_used']} of {res['cores_available']}. Kernel memory "
        f"{res['kernel_memory_used']} / {res['kernel_memory_available']}, neuron memory "
        f"{res['neuron_memory_used']} / {res['neuron_memory_available']} (formulas: "
        "docs/targets/speck.md).\n"
    )


def _approximation_text(approximation: dict, cost: dict) -> str:
    """One line for deploy.json / verify / report: what was approximated and what it costs."""

    def summary(m: dict) -> str:
        keys = (
            "prediction_agreement",
            "count_correlation",
            "relative_rms_error",
            "correlation",
            "decoded_difference_px",
        )
        return ", ".join(
            f"{k.replace('_', ' ')} {m[k]:.3g}" for k in keys if isinstance(m.get(k), float)
        )

    nodes = ", ".join(repr(n) for n in approximation["nodes"])
    parts = [f"float model vs chip {summary(cost['float_model_vs_chip'])}"]
    if "float_model_vs_float_if" in cost:
        parts.append(f"approximation alone (float) {summary(cost['float_model_vs_float_if'])}")
    return f"{approximation['detail']} on {nodes}; measured on {cost['inputs']}: " + "; ".join(
        parts
    )


def output_agreement(a: Trace, b: Trace, output: str) -> dict:
    """How far trace `b`'s output is from `a`'s. Spikes (integer outputs): how often the most active
    neuron over the run (the prediction) agrees and the correlation of spike counts; a read-out
    membrane (host read-out): relative RMS error and correlation over every step."""
    xa, xb = a.outputs[output].astype(np.float64), b.outputs[output].astype(np.float64)

    def corr(p: np.ndarray, q: np.ndarray) -> float | None:
        return (
            float(np.corrcoef(p.ravel(), q.ravel())[0, 1]) if p.std() > 0 and q.std() > 0 else None
        )

    if np.all(np.mod(xa, 1) == 0) and np.all(np.mod(xb, 1) == 0):
        ca, cb = xa.sum(axis=0).reshape(xa.shape[1], -1), xb.sum(axis=0).reshape(xb.shape[1], -1)
        return {
            "prediction_agreement": float(np.mean(ca.argmax(1) == cb.argmax(1))),
            "count_correlation": corr(ca, cb),
            "spikes_per_sample": [float(ca.sum() / len(ca)), float(cb.sum() / len(cb))],
        }
    rms = float(np.sqrt(np.mean((xa - xb) ** 2)) / max(float(np.sqrt(np.mean(xa**2))), 1e-12))
    return {"relative_rms_error": rms, "correlation": corr(xa, xb)}


def approximation_cost(
    target: SpeckTarget, deployment: Deployment, graph: Graph, dt: float
) -> dict:
    """Output agreement on random events: float model as given (NIR semantics) vs the deployed
    integer reference (approximation + quantisation + the chip's MultiSpike), and vs the float
    model with the approximation alone (when LIF has no v_leak)."""
    from nrf_deploy.inputs import random_events
    from nrf_deploy.ir import load_graph, run_float
    from nrf_deploy.ir.nodes import IF, NIRGraph

    x = random_events(graph.input_shape, deployment.timesteps, COST_SAMPLES, 0.1, seed=0)
    out = graph.output_names[0]
    floating = run_float(graph, x, dt=dt)
    chip = target.run(deployment, "reference", x, record_states=False)
    cost = {
        "inputs": f"{COST_SAMPLES} random event samples x {deployment.timesteps} steps, rate 0.1",
        "output": out,
        "float_model_vs_chip": output_agreement(floating, chip, out),
    }
    if all(not np.any(n.param("v_leak")) for n in graph.nodes.values() if n.kind == "LIF"):
        nodes = {n: node.nir_node for n, node in graph.nodes.items()}
        for name, node in graph.nodes.items():
            if node.kind == "LIF":
                nodes[name] = IF(
                    r=node.param("r") * dt / node.param("tau"),
                    v_threshold=node.param("v_threshold"),
                )
                nodes[name].metadata = {"reset": node.reset}
        as_if = load_graph(
            NIRGraph(nodes=nodes, edges=list(graph.edges), metadata=dict(graph.metadata))
        )
        cost["float_model_vs_float_if"] = output_agreement(
            floating, run_float(as_if, x, dt=dt), out
        )
    return cost
