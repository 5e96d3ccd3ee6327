"""CPU baseline: onnxruntime latency per timestep and per inference (median, batch 1 and 32) and
the dense MAC count, for the fixture and (if given) another model. Usage:
    python benchmarks/bench_onnx_baseline.py [MODEL.nir ...]"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from nrf_deploy.cli.export import export
from nrf_deploy.targets.onnx import OnnxTarget, measure_cpu_baseline

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "cnn_sinabs.nir"


def main(models: list[str]) -> None:
    for model in models or [str(FIXTURE)]:
        with tempfile.TemporaryDirectory() as tmp:
            export(model, "onnx", Path(tmp) / "onnx")
            figures = measure_cpu_baseline(OnnxTarget().load(Path(tmp) / "onnx"), timesteps=20,
                                           batch_sizes=(1, 32), repeats=5)
        print(f"{model}: dense MACs per step {figures['dense_macs_per_step']:,}")
        for batch in (1, 32):
            f = figures[f"batch_{batch}"]
            print(f"  batch {batch:>2}: {f['cpu_latency_per_step_s'] * 1e3:8.3f} ms/step, "
                  f"{f['cpu_latency_per_inference_s'] * 1e3:8.2f} ms/inference (20 steps), "
                  f"{f['cpu_latency_per_inference_s'] * 1e3 / batch:8.3f} ms/sample")


if __name__ == "__main__":
    main(sys.argv[1:])
