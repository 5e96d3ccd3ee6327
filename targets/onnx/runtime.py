"""onnxruntime side of the ONNX target: step a model over ``[T, B, ...]`` inputs, and time it.

onnxruntime is imported lazily (it is slow to import); sessions run on the CPU execution
provider with a fixed number of intra-op threads (1 by default: stable figures on shared machines).
"""

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from nrf_deploy.targets.onnx.model import StepInterface, model_metadata, read_interface

from nrf_deploy.errors import NrfError
from nrf_deploy.trace import Trace

MODEL_FILE = "model.onnx"
UNROLLED_FILE = "model_unrolled.onnx"


def session(model, threads: int = 1):
    """An onnxruntime CPU session for `model` (a ModelProto or a path), default graph
    optimisations."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    data = str(model) if isinstance(model, (str, Path)) else model.SerializeToString()
    try:
        return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 — onnxruntime raises its own types for bad models
        raise NrfError(
            f"onnxruntime cannot load the model ({str(exc).splitlines()[0][:200]})",
            str(model)[:200] if isinstance(model, (str, Path)) else "ONNX model",
            "re-export it with nrf-deploy",
        ) from None


def run_steps(sess, interface: StepInterface, x: np.ndarray, record_states: bool = True) -> Trace:
    """Step the model over ``x [T, B, *input_shape]``, feeding ``next.*`` back as the states."""
    steps, batch = x.shape[:2]
    feeds = interface.zero_states(batch)
    names = [o.name for o in sess.get_outputs()]
    outs: dict[str, list[np.ndarray]] = {p.name: [] for p in interface.outputs}
    kept = (
        [p.name for p in interface.states if p.name.startswith("state.")] if record_states else []
    )
    states: dict[str, list[np.ndarray]] = {k: [] for k in kept}
    for t in range(steps):
        result = dict(zip(names, sess.run(names, {interface.input.name: x[t], **feeds})))
        for k, seq in outs.items():
            seq.append(result[k])
        feeds = {p.name: result[f"next.{p.name}"] for p in interface.states}
        for k in kept:
            states[k].append(feeds[k])
    trace_states: dict[str, dict[str, np.ndarray]] = {}
    for k, v in states.items():
        node, var = k[len("state.") :].rsplit(".", 1)
        trace_states.setdefault(node, {})[var] = np.stack(v)
    return Trace({k[len("out.") :]: np.stack(v) for k, v in outs.items()}, trace_states)


def prepare_input(interface: StepInterface, x: np.ndarray, max_count: int | None) -> np.ndarray:
    """`x` in the model's input type; integer models take non-negative counts up to `max_count`."""
    x = np.asarray(x)
    if interface.input.dtype == "float32":
        return x.astype(np.float32)
    if x.size and (x.min() < 0 or not np.all(np.mod(x, 1) == 0)):
        raise NrfError(
            "the integer ONNX model takes event counts (non-negative integers)",
            "input array",
            "pass event counts per pixel and timestep",
        )
    if max_count is not None and x.size and x.max() > max_count:
        raise NrfError(
            f"an input count of {int(x.max())} exceeds {max_count}, the largest for which the "
            "model's float32 convolutions stay exact",
            "input array",
            f"clip or split the events to at most {max_count} per pixel and step",
        )
    return x.astype(np.int64)


def _load_model(model) -> tuple[Any, Any]:
    """(ModelProto, source) from a Deployment, an export directory, a .onnx path or a ModelProto."""
    import onnx

    if hasattr(model, "program") and isinstance(model.program, dict):
        return model.program["model"], model.out_dir or "deployment"
    if isinstance(model, (str, Path)):
        path = Path(model)
        path = path / MODEL_FILE if path.is_dir() else path
        if not path.is_file():
            raise NrfError(
                f"no ONNX model at '{path}'",
                str(path),
                "pass an onnx export directory or a .onnx file",
            )
        try:
            return onnx.load(str(path)), path
        except Exception as exc:  # noqa: BLE001 — protobuf decode errors
            raise NrfError(
                f"'{path}' is not a readable ONNX model ({type(exc).__name__})",
                str(path),
                "re-export it with nrf-deploy",
            ) from None
    return model, "ONNX model"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure_cpu_baseline(
    model,
    timesteps: int = 20,
    batch_sizes: tuple[int, ...] = (1, 32),
    repeats: int = 5,
    threads: int = 1,
    rate: float = 0.1,
    seed: int = 0,
) -> dict[str, Any]:
    """onnxruntime CPU latency of the step model and its dense MAC count: the conventional baseline.

    `model`: an onnx Deployment, an export directory, a ``.onnx`` file written by nrf-deploy or a
    ModelProto. For each batch size, one untimed warm-up inference, then `repeats` timed inferences
    of `timesteps` steps each (random events at `rate`, one ``session.run`` per step, states fed
    back). Returns seconds: ``cpu_latency_per_inference_s`` (median over the repeats),
    ``cpu_latency_per_step_s`` (that median / timesteps), ``cpu_latency_per_sample_s`` (/ batch);
    and ``dense_macs_per_step`` / ``dense_macs_per_inference`` (every weight applied every step).
    Defaults take a few seconds on the N-MNIST fixture."""
    import onnxruntime as ort

    from nrf_deploy.inputs import random_events

    for label, value in (("timesteps", timesteps), ("repeats", repeats), ("threads", threads)):
        if int(value) < 1:
            raise NrfError(f"{label} must be at least 1, got {value}", label, f"e.g. {label}=5")
    if not batch_sizes or min(batch_sizes) < 1:
        raise NrfError(
            f"batch sizes must be positive, got {list(batch_sizes)}", "batch_sizes", "e.g. (1, 32)"
        )
    proto, source = _load_model(model)
    interface, meta = read_interface(proto), model_metadata(proto)
    if meta.get("nrf_deploy.unroll", "0") != "0":
        raise NrfError(
            "the baseline times the step model, not an unrolled one",
            str(source),
            f"pass {MODEL_FILE} (or the export directory)",
        )
    sess = session(proto, threads)
    macs = int(meta.get("nrf_deploy.dense_macs_per_step", 0))
    result: dict[str, Any] = {
        "source": str(source),
        "onnxruntime": ort.__version__,
        "threads": int(threads),
        "cpu": _cpu_name(),
        "timesteps": int(timesteps),
        "repeats": int(repeats),
        "mode": interface.mode,
        "dense_macs_per_step": macs,
        "dense_macs_per_inference": macs * int(timesteps),
    }
    for batch in batch_sizes:
        x = prepare_input(
            interface, random_events(interface.input.shape, timesteps, batch, rate, seed), None
        )
        run_steps(sess, interface, x, record_states=False)  # warm-up (allocations, kernel choice)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run_steps(sess, interface, x, record_states=False)
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        result[f"batch_{batch}"] = {
            "batch": int(batch),
            "timesteps": int(timesteps),
            "cpu_latency_per_inference_s": median,
            "cpu_latency_per_step_s": median / timesteps,
            "cpu_latency_per_sample_s": median / batch,
            "cpu_latency_min_inference_s": min(times),
        }
    return result
