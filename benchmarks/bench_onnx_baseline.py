"""Conventional-hardware baseline: onnxruntime on this CPU, the figures the reports use.

For each model (default: the N-MNIST fixture): export the float ONNX step model, then
``nrf_deploy.targets.onnx.measure_cpu_baseline`` — median latency per timestep and per inference
(T steps) at batch 1 and batch 32, one intra-op thread — and the dense MAC count. Also times the
float executor on the same inputs for scale. Usage:

    python benchmarks/bench_onnx_baseline.py [MODEL.nir | ONNX_EXPORT_DIR ...] [--timesteps T]
        [--repeats R] [--threads N] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from nrf_deploy.targets.onnx import OnnxTarget, measure_cpu_baseline

from nrf_deploy.cli.export import export
from nrf_deploy.inputs import random_events
from nrf_deploy.ir import load_graph, run_float

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "cnn_sinabs.nir"
BATCHES = (1, 32)


def executor_latency(export_dir: Path, timesteps: int, batch: int, repeats: int) -> float:
    """Median seconds per inference of the float executor (torch, default threads) on the same kind
    of input."""
    deployment = OnnxTarget().load(export_dir)
    graph = load_graph(export_dir / "source.nir")
    x = random_events(deployment.input_shape, timesteps, batch, 0.1, 0)
    run_float(graph, x, dt=deployment.sidecar["dt"])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run_float(graph, x, dt=deployment.sidecar["dt"])
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(model: str, timesteps: int, repeats: int, threads: int) -> dict:
    path = Path(model)
    with tempfile.TemporaryDirectory() as tmp:
        export_dir = path if path.is_dir() else Path(tmp) / "onnx"
        if not path.is_dir():
            export(model, "onnx", export_dir)
        figures = measure_cpu_baseline(
            export_dir, timesteps=timesteps, batch_sizes=BATCHES, repeats=repeats, threads=threads
        )
        figures["float_executor_per_inference_s"] = {
            f"batch_{b}": executor_latency(export_dir, timesteps, b, repeats) for b in BATCHES
        }
    figures["model"] = model
    return figures


def show(f: dict) -> None:
    print(
        f"{f['model']}\n  onnxruntime {f['onnxruntime']}, {f['threads']} thread(s), {f['cpu']}; "
        f"{f['timesteps']} steps per inference, median of {f['repeats']}"
    )
    print(
        f"  dense MACs: {f['dense_macs_per_step']:,} per step, {f['dense_macs_per_inference']:,} "
        "per inference"
    )
    for b in BATCHES:
        r = f[f"batch_{b}"]
        ex = f["float_executor_per_inference_s"][f"batch_{b}"]
        print(
            f"  batch {b:>2}: {r['cpu_latency_per_step_s'] * 1e3:8.3f} ms/step  "
            f"{r['cpu_latency_per_inference_s'] * 1e3:8.2f} ms/inference  "
            f"{r['cpu_latency_per_sample_s'] * 1e3:7.3f} "
            f"ms/sample  | float executor {ex * 1e3:8.2f} ms/inference "
            f"(x{ex / r['cpu_latency_per_inference_s']:.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=[str(FIXTURE)])
    parser.add_argument("--timesteps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    results = []
    for model in args.models:
        results.append(measure(model, args.timesteps, args.repeats, args.threads))
        show(results[-1])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
