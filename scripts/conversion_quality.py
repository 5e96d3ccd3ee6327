"""Measure ANN -> SNN conversion quality on the shapes task (docs/conversion.md).

    nrf-deploy train --config small --kind ann -o build/ann_small
    python scripts/conversion_quality.py build/ann_small -o build/conversion

1. Export the trained ReLU CNN's per-frame network (conv -> ReLU -> 2x2 sum pool -> read-out conv,
   the heat maps; DSNT stays on the host) to ONNX with ``torch.onnx.export``.
2. ``nrf-deploy convert`` it (API: :func:`nrf_deploy.api.convert`) with calibration frames drawn
   from the *training* generator seed, for each variant (reset, percentile).
3. Run every ``--every``-th held-out frame (frames >= warmup of ``test_data.npz``, never seen in
   training or calibration) for up to ``--max-timesteps`` steps in the float executor (NIR
   semantics); decode the read-out membrane / T at each T with DSNT and compare with the ANN's
   median l2 error (px).
4. Optionally (``--chips``) run the Loihi and SpiNNaker integer references of the default
   conversion on the first ``--chip-frames`` held-out frames.

Writes ``OUT/results.json``, ``OUT/model.onnx``, the ``.nir`` files, ``OUT/verify_input.npy`` (8
held-out frames x 32 steps, for ``nrf-deploy verify/report --input``), and the plot
``docs/conversion_accuracy.png``; prints the markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {
    "subtract, p99.9": ("subtract", 99.9),
    "zero, p99.9": ("zero", 99.9),
    "subtract, p100 (max-norm)": ("subtract", 100.0),
}


class FrameANN(torch.nn.Module):
    """The ANN baseline's per-frame network, as :class:`ANNBaseline.forward` computes it (conv,
    ReLU, ``avg_pool2d * pool**2``, read-out conv) on ``[B, 2, H, W]`` -> heat maps."""

    def __init__(self, ann: torch.nn.Module):
        super().__init__()
        self.conv, self.readout, self.pool = ann.conv, ann.readout, ann.cfg.pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv(x))
        return self.readout(F.avg_pool2d(h, self.pool) * self.pool**2)


def frames(events: np.ndarray, centres: np.ndarray, warmup: int) -> tuple[np.ndarray, np.ndarray]:
    """Time-major run data -> frame-major ``[F, 2, H, W]`` float32 and ``[F, 3, 2]``."""
    e = events[warmup:].reshape(-1, *events.shape[2:]).astype(np.float32)
    return e, centres[warmup:].reshape(-1, *centres.shape[2:])


def median_l2(heat: np.ndarray, centres: np.ndarray, size: int) -> float:
    from nrf_deploy.models import dsnt

    pred = dsnt(torch.from_numpy(np.asarray(heat, dtype=np.float32)), size).numpy()
    return float(np.median(np.linalg.norm(pred - centres, axis=-1)))


def snn_curve(nir_path: Path, x: np.ndarray, steps: list[int], chunk: int) -> dict[int, np.ndarray]:
    """Read-out membrane / T for every T in `steps`, float executor, binary frames held T steps."""
    from nrf_deploy.exporters.ann_to_snn import encode

    import nrf_deploy as nd

    t_max = max(steps)
    out = {t: [] for t in steps}
    for i in range(0, len(x), chunk):
        xe = encode(x[i : i + chunk], t_max, "deterministic", 1.0)
        v = nd.run(nir_path, xe).outputs["readout"]
        for t in steps:
            out[t].append(v[t - 1] / t)
    return {t: np.concatenate(v) for t, v in out.items()}


def chip_accuracy(nir_path: Path, out_dir: Path, x: np.ndarray, c: np.ndarray, t: int, size: int):
    """Median l2 (px) of the Loihi and SpiNNaker integer references at T = `t` (read-out / (T -
    lag), lag = the population's synaptic delay in steps) on frames `x`."""
    from nrf_deploy.exporters.ann_to_snn import encode

    import nrf_deploy as nd

    result = {}
    opts = {"loihi": {"loihi_chips": 4}, "spinnaker": {}}
    for target, options in opts.items():
        d = out_dir / f"export_{target}"
        nd.export(nir_path, target, d, timesteps=t, **options)
        tgt, dep = nd.load_export(d)
        scale = float(dep.sidecar["output_scale"]["readout"])
        lag = int(dep.sidecar["delays"]["readout"])
        heats = []
        for i in range(0, len(x), 32):
            xe = encode(x[i : i + 32], t, "deterministic", 1.0)
            trace = tgt.run(dep, tgt.backend_names(dep)[0], xe, record_states=False)
            heats.append(np.asarray(trace.outputs["readout"][-1], np.float64) / scale / (t - lag))
        result[target] = {
            "timesteps": t,
            "lag": lag,
            "frames": len(x),
            "median_l2_px": median_l2(np.concatenate(heats), c, size),
        }
    return result


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    for name, curve in results["snn"].items():
        ts = sorted(int(t) for t in curve)
        ax.plot(ts, [curve[str(t)] for t in ts], marker="o", ms=3, label=f"converted SNN ({name})")
    ax.axhline(results["ann_median_l2_px"], color="k", ls="--", label="ReLU ANN (float)")
    ax.axhline(results["centre_guess_px"], color="grey", ls=":", label="canvas-centre guess")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("SNN timesteps per event frame")
    ax.set_ylabel("median l2 error (px)")
    ax.set_title("shapes task, held-out frames")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def main() -> int:
    warnings.filterwarnings("ignore")
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("run_dir", help="run directory of `nrf-deploy train --kind ann`")
    p.add_argument("-o", "--output", default="build/conversion")
    p.add_argument("--max-timesteps", type=int, default=128)
    p.add_argument("--calibration-frames", type=int, default=512)
    p.add_argument("--chunk", type=int, default=32, help="frames per float-executor run")
    p.add_argument(
        "--every",
        type=int,
        default=4,
        help="score every n-th entry of the (frame, sample) list: with 64 samples "
        "and n = 4, samples 0, 4, ... at every frame (CPU time)",
    )
    p.add_argument("--chips", action="store_true", help="also run the Loihi/SpiNNaker references")
    p.add_argument("--chip-frames", type=int, default=128)
    p.add_argument("--chip-timesteps", type=int, default=64)
    p.add_argument("--plot", default=str(REPO / "docs" / "conversion_accuracy.png"))
    args = p.parse_args()
    torch.set_num_threads(1)
    import nrf_deploy as nd
    from nrf_deploy.data import generate
    from nrf_deploy.training import load_checkpoint, shapes_config

    start = time.perf_counter()
    ann, ckpt = load_checkpoint(args.run_dir)
    if ckpt["kind"] != "ann":
        sys.exit(f"{args.run_dir} holds a '{ckpt['kind']}' model, not the ReLU ANN")
    cfg, tc = ann.cfg, ckpt["train_config"]
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    test = np.load(Path(args.run_dir) / "test_data.npz")
    x, c = frames(test["events"], test["centres"], tc["warmup"])
    from nrf_deploy.exporters.ann_to_snn import encode

    np.save(out / "verify_input.npy", encode(x[::97][:8], 32, "deterministic", 1.0))
    x, c = x[:: args.every], c[:: args.every]
    net = FrameANN(ann).eval()
    with torch.no_grad():
        ann_heat = net(torch.from_numpy(x)).numpy()
        same = ann(torch.from_numpy(x[:64])[None])[0].numpy()
    assert np.array_equal(ann_heat[:64], same), "FrameANN differs from ANNBaseline"
    torch.onnx.export(
        net,
        (torch.from_numpy(x[:1]),),
        str(out / "model.onnx"),
        dynamo=False,
        input_names=["events"],
        output_names=["heatmaps"],
        dynamic_axes={"events": {0: "batch"}, "heatmaps": {0: "batch"}},
    )
    # calibration: frames of samples drawn with the training seed (training distribution)
    cal_e, _ = generate(
        max(1, args.calibration_frames // (tc["frames"] - tc["warmup"]) + 1),
        shapes_config(cfg.size, tc["frames"]),
        seed=tc["seed"],
    )
    cal = cal_e[:, tc["warmup"] :].reshape(-1, *cal_e.shape[2:])[: args.calibration_frames]
    np.save(out / "calibration.npy", cal.astype(np.float32))
    steps = [t for t in (1, 2, 4, 8, 16, 32, 64, 128, 256) if t <= args.max_timesteps]
    results = {
        "frames": len(x),
        "calibration_frames": len(cal),
        "ann_median_l2_px": median_l2(ann_heat, c, cfg.size),
        "centre_guess_px": float(np.median(np.linalg.norm(c - cfg.size / 2, axis=-1))),
        "train_metric_px": ckpt["metrics"]["median_l2_px"],
        "snn": {},
        "scales": {},
    }
    for name, (reset, pct) in VARIANTS.items():
        path = out / f"snn_{reset}_p{pct:g}.nir"
        conv = nd.convert(
            out / "model.onnx",
            out / "calibration.npy",
            path,
            percentile=pct,
            coding="deterministic",
            reset=reset,
        )
        results["scales"][name] = conv.scales
        t0 = time.perf_counter()
        heat = snn_curve(path, x, steps, args.chunk)
        results["snn"][name] = {str(t): median_l2(h, c, cfg.size) for t, h in heat.items()}
        print(f"{name}: {results['snn'][name]} ({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.chips:
        default = out / "snn_subtract_p99.9.nir"
        n = args.chip_frames
        results["chips"] = chip_accuracy(default, out, x[:n], c[:n], args.chip_timesteps, cfg.size)
        ref = snn_curve(default, x[:n], [args.chip_timesteps], args.chunk)[args.chip_timesteps]
        results["chips"]["float_same_frames"] = median_l2(ref, c[:n], cfg.size)
        results["chips"]["ann_same_frames"] = median_l2(ann_heat[:n], c[:n], cfg.size)
        print(json.dumps(results["chips"], indent=1))
    results["seconds"] = round(time.perf_counter() - start, 1)
    (out / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True))
    plot(results, Path(args.plot))
    print(table(results))
    return 0


def table(results: dict) -> str:
    names = list(results["snn"])
    lines = ["| timesteps T | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    for t in sorted(int(t) for t in results["snn"][names[0]]):
        cells = " | ".join(f"{results['snn'][n][str(t)]:.2f}" for n in names)
        lines.append(f"| {t} | {cells} |")
    lines.append(f"| ReLU ANN | {results['ann_median_l2_px']:.2f} |" + " |" * (len(names) - 1))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
