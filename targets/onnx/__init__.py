"""ONNX on a CPU: the conventional-hardware baseline. The float NIR graph as an ONNX step model
(exporters/onnx.py) run by onnxruntime, checked against the float executor (|error| <= 1e-5,
identical spikes), and timed for the report's CPU baseline."""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from nrf_deploy.deployment import base_sidecar
from nrf_deploy.errors import NrfError
from nrf_deploy.fileio import dumps_json
from nrf_deploy.ir import DEFAULT_DT, load_graph, run_float
from nrf_deploy.ir.graph import Graph
from nrf_deploy.target import Deployment, Target
from nrf_deploy.trace import Trace

MODEL_FILE = "model.onnx"


class OnnxTarget(Target):
    name = "onnx"
    summary = "ONNX step model on onnxruntime (CPU): the conventional-hardware baseline"
    backends = ("float", "onnxruntime")
    tolerance = 1e-5

    def add_export_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--onnx-unroll", type=int, default=None,
                            help="also write model_unrolled.onnx covering this many timesteps")

    def build(self, graph: Graph, options: dict[str, Any]) -> Deployment:
        from nrf_deploy.exporters.onnx import OPSET, export_onnx, reported_nodes, state_layout

        dt = float(options.get("dt") or graph.dt or DEFAULT_DT)
        model = export_onnx(graph, dt)
        unrolled = export_onnx(graph, dt, int(options["onnx_unroll"])) if options.get("onnx_unroll") else None
        sidecar = base_sidecar(self.name, graph, dt, int(options.get("timesteps") or 20), options)
        sidecar.update({"opset": OPSET, "outputs": [f"out.{n}" for n in reported_nodes(graph)],
                        "state_layout": [{"name": k, "shape": list(s)} for k, s in state_layout(graph)],
                        "dense_macs_per_step": int(sum(n.synapses for n in graph.nodes.values())),
                        "resources": {"dense_macs_per_step": int(sum(n.synapses for n in graph.nodes.values()))}})
        return Deployment(self.name, sidecar, {"graph": graph, "model": model, "unrolled": unrolled},
                          extras={"graph": graph})

    def write(self, deployment: Deployment, out_dir: Path) -> None:
        (out_dir / "deploy.json").write_text(dumps_json(deployment.sidecar))
        (out_dir / MODEL_FILE).write_bytes(deployment.program["model"].SerializeToString())
        if deployment.program.get("unrolled") is not None:
            (out_dir / "model_unrolled.onnx").write_bytes(deployment.program["unrolled"].SerializeToString())

    def load(self, out_dir: Path) -> Deployment:
        import onnx

        sidecar = self.read_own_sidecar(out_dir)
        try:
            model = onnx.load(str(Path(out_dir) / MODEL_FILE))
            graph = load_graph(Path(out_dir) / "source.nir")
        except Exception as exc:  # onnx raises assorted errors for damaged files
            raise NrfError(f"{MODEL_FILE} or source.nir is missing or corrupt ({type(exc).__name__})", str(out_dir),
                           "re-run nrf-deploy export --target onnx") from None
        return Deployment(self.name, sidecar, {"graph": graph, "model": model}, Path(out_dir))

    def run(self, deployment: Deployment, backend: str, x: np.ndarray, record_states: bool = True) -> Trace:
        graph: Graph = deployment.program["graph"]
        if backend == "float":
            trace = run_float(graph, x, dt=deployment.sidecar["dt"], record_states=record_states)
        elif backend == "onnxruntime":
            trace = run_onnxruntime(deployment, np.asarray(x, np.float32))
        else:
            raise NrfError(f"unknown backend '{backend}'", "--backend", f"choose one of {', '.join(self.backends)}")
        trace.output_names = tuple(deployment.sidecar["output_names"])
        return trace

    def resources(self, deployment: Deployment) -> dict[str, Any]:
        res = dict(deployment.sidecar.get("resources", {}))
        res.update(measure_cpu_baseline(deployment, timesteps=deployment.timesteps, batch_sizes=(1,), repeats=3)["batch_1"])
        return res


def _session(model):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def run_onnxruntime(deployment: Deployment, x: np.ndarray) -> Trace:
    """Step the ONNX model over ``x [T, B, ...]``, feeding the next states back."""
    session = _session(deployment.program["model"])
    steps, batch = x.shape[:2]
    layout = deployment.sidecar["state_layout"]
    feeds = {s["name"]: np.zeros((batch, *s["shape"]), np.float32) for s in layout}
    names = [o.name for o in session.get_outputs()]
    outs = {n: [] for n in names if n.startswith("out.")}
    states = {s["name"]: [] for s in layout if s["name"].startswith("state.")}
    for t in range(steps):
        result = dict(zip(names, session.run(names, {"x": x[t], **feeds})))
        for n in outs:
            outs[n].append(result[n])
        feeds = {s["name"]: result[f"next.{s['name']}"] for s in layout}
        for k in states:
            states[k].append(feeds[k])
    trace_states: dict[str, dict[str, np.ndarray]] = {}
    for k, v in states.items():
        node, var = k[len("state."):].rsplit(".", 1)
        trace_states.setdefault(node, {})[var] = np.stack(v)
    return Trace({n[len("out."):]: np.stack(v) for n, v in outs.items()}, trace_states)


def measure_cpu_baseline(deployment: Deployment, timesteps: int = 20, batch_sizes: tuple[int, ...] = (1, 32),
                         repeats: int = 5) -> dict[str, Any]:
    """onnxruntime latency per timestep and per inference (medians over `repeats` runs, one thread)."""
    session = _session(deployment.program["model"])
    layout = deployment.sidecar["state_layout"]
    shape = tuple(deployment.sidecar["input_shape"])
    result: dict[str, Any] = {}
    for batch in batch_sizes:
        x = (np.random.default_rng(0).random((timesteps, batch, *shape)) < 0.1).astype(np.float32)
        per_inference = []
        for _ in range(repeats):
            feeds = {s["name"]: np.zeros((batch, *s["shape"]), np.float32) for s in layout}
            start = time.perf_counter()
            for t in range(timesteps):
                out = session.run(None, {"x": x[t], **feeds})
                named = dict(zip([o.name for o in session.get_outputs()], out))
                feeds = {s["name"]: named[f"next.{s['name']}"] for s in layout}
            per_inference.append(time.perf_counter() - start)
        med = statistics.median(per_inference)
        result[f"batch_{batch}"] = {"cpu_latency_per_inference_s": med, "cpu_latency_per_step_s": med / timesteps,
                                    "batch": batch, "timesteps": timesteps}
    result["dense_macs_per_step"] = deployment.sidecar["dense_macs_per_step"]
    return result
