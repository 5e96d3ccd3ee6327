"""Same task, three models: the ReLU ANN on a CPU, the converted SNN and the RF-SNN on each chip
(docs/conversion.md, "Same task"). Run after scripts/conversion_quality.py and ``nrf-deploy demo``:

    nrf-deploy demo -o build/demo
    (cd build/conversion && for t in "loihi --loihi-chips 4" spinnaker \\
       "speck --speck-host-readout" onnx; do set -- $t;
       nrf-deploy export snn_subtract_p99.9.nir --target $t -o v_$1;
       nrf-deploy verify v_$1 --input verify_input.npy; done)
    nrf-deploy report build/conversion/v_{loihi,spinnaker,speck,onnx} \\
        --input build/conversion/verify_input.npy -o build/conversion/report_conv/report.html
    python scripts/conversion_compare.py --conversion build/conversion --demo build/demo

Everything is normalised **per event frame** (one decoded position; a frame is 1 ms of events):
the RF-SNN runs one timestep per frame (its report's per-inference figures cover 30 frames), the
converted SNN runs T timesteps per frame (one inference = one frame), the ANN one forward pass.
Measured here: accuracies, the ANN's onnxruntime latency. Derived: every energy (published
per-operation constants x counted operations, see docs/report.md) and the chips' latencies.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def ann_cpu(onnx_path: Path, frame_shape: tuple[int, ...]) -> dict:
    """MACs and parameters of the per-frame ANN, onnxruntime latency (1 thread, batch 1, median of
    200 runs after 20 warm-up runs), energy = MACs x 4.6 pJ + parameters x 640 pJ (the onnx
    target's CPU constants)."""
    import onnxruntime as ort
    from nrf_deploy.exporters.ann_to_snn import forward
    from nrf_deploy.exporters.onnx_reader import Linear, load_onnx, read_chain
    from nrf_deploy.targets.onnx.profile import CPU

    model = load_onnx(onnx_path)
    chain = read_chain(model)
    macs, params, h = 0, 0, np.zeros((1, *frame_shape))
    for op in chain.ops:
        out = forward(type(chain)(chain.input_name, h.shape[1:], [op]), h)
        if isinstance(op, Linear):
            macs += int(out.size * np.prod(op.weight.shape[1:]))
            params += int(op.weight.size + op.bias.size)
        h = out
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    x = {sess.get_inputs()[0].name: np.zeros((1, *frame_shape), np.float32)}
    for _ in range(20):
        sess.run(None, x)
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        sess.run(None, x)
        times.append(time.perf_counter() - t0)
    energy = macs * CPU["mac_pj"].value * 1e-12 + params * CPU["dram_pj"].value * 1e-12
    return {
        "macs": macs,
        "parameters": params,
        "latency_s": float(np.median(times)),
        "energy_j": energy,
    }


def rows_of(report: dict) -> dict[str, dict]:
    return {row["chip"]: row for row in report["summary"] if row.get("status") == "ok"}


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--conversion", default="build/conversion")
    p.add_argument("--demo", default="build/demo")
    p.add_argument("--chip-frames", type=int, default=128)
    args = p.parse_args()
    conv, demo = Path(args.conversion), Path(args.demo)
    quality = json.loads((conv / "results.json").read_text())
    conv_report = json.loads((conv / "report_conv" / "report.json").read_text())
    x_in = np.load(conv / "verify_input.npy", mmap_mode="r")
    t_conv = int(x_in.shape[0])
    rf_frames = int(np.load(demo / "run" / "test_data.npz")["events"].shape[0])
    out: dict = {"timesteps_converted": t_conv, "rf_frames_per_inference": rf_frames}
    out["ann"] = ann_cpu(conv / "model.onnx", tuple(x_in.shape[2:]))
    out["ann"]["median_l2_px"] = quality["ann_median_l2_px"]
    # chip accuracy of the converted SNN at the report's T (integer references)
    spec = importlib.util.spec_from_file_location("cq", REPO / "scripts" / "conversion_quality.py")
    cq = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cq)
    ckpt = json.loads((demo / "run" / "metrics.json").read_text())
    test = np.load(demo / "run" / "test_data.npz")
    warm = ckpt["train"]["warmup"]
    x, c = cq.frames(test["events"], test["centres"], warm)
    x, c = x[::4][: args.chip_frames], c[::4][: args.chip_frames]
    chips = cq.chip_accuracy(conv / "snn_subtract_p99.9.nir", conv / "compare", x, c, t_conv, 64)
    out["converted_chip_accuracy"] = chips
    out["converted_float_px"] = quality["snn"]["subtract, p99.9"][str(t_conv)]
    out["converted"] = {
        chip: {
            k: row.get(k)
            for k in ("target", "energy_j", "latency_s", "energy_status", "latency_status", "flags")
        }
        for chip, row in rows_of(conv_report).items()
    }
    for _ in range(600):  # the demo may still be writing its report
        if (demo / "report.json").exists():
            break
        time.sleep(2)
    rf_report = json.loads((demo / "report.json").read_text())
    out["rf"] = {
        chip: {
            k: row.get(k)
            for k in (
                "target",
                "energy_j",
                "latency_s",
                "accuracy",
                "energy_status",
                "latency_status",
            )
        }
        for chip, row in rows_of(rf_report).items()
    }
    (conv / "compare.json").write_text(json.dumps(out, indent=1, sort_keys=True, default=str))
    print(json.dumps(out, indent=1, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
