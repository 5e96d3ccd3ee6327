"""Regenerate docs/results.md from a measured run of the current training preset.

    python scripts/make_results.py [--config small] [--run-dir runs/results] [--skip-training]
    python scripts/make_results.py --gesture [--run-dir runs/results] [--skip-training]

Trains the RF-initialised LIF SNN, the uniform-initialised LIF SNN and the single-frame ReLU CNN on
one generated dataset (``examples/train_shapes.py --compare``), then writes docs/results.md from the
run's summary.json and the preset's fields, so the page states what the code does today.

``--gesture`` regenerates only the gesture section (between its markers; the rest of the page is
kept): ``nrf-deploy train --config gesture`` (wall time measured), then the trained model.nir is
exported to Speck (default and ``--speck-threshold-low min``), Loihi and SpiNNaker, each export is
verified on held-out samples and its reference classifies every held-out sample
(``nrf_deploy.training.gesture_export_accuracy``); RUN_DIR/gesture/summary.json holds the numbers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LABELS = {
    "rf": ("LIF SNN (deployable)", "receptive fields (affine Gaussian derivatives)"),
    "uniform": ("LIF SNN (deployable)", "uniform (PyTorch default)"),
    "ann": ("ReLU CNN, one frame at a time", "PyTorch default"),
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default="small")
    parser.add_argument("--run-dir", default="runs/results")
    parser.add_argument(
        "--skip-training", action="store_true", help="render from an existing RUN_DIR/summary.json"
    )
    parser.add_argument("-o", "--output", default=str(REPO / "docs" / "results.md"))
    parser.add_argument(
        "--gesture", action="store_true", help="regenerate only the gesture CNN section"
    )
    args = parser.parse_args()
    run_dir = Path(args.run_dir)
    if args.gesture:
        return gesture_main(run_dir / "gesture", Path(args.output), args.skip_training)
    if not args.skip_training:
        subprocess.run(
            [
                sys.executable,
                str(REPO / "examples" / "train_shapes.py"),
                "--config",
                args.config,
                "-o",
                str(run_dir),
                "--compare",
            ],
            check=True,
        )
    summary = json.loads((run_dir / "summary.json").read_text())
    out = Path(args.output)
    previous = out.read_text() if out.exists() else ""
    Path(args.output).write_text(splice(render(summary), _section(previous)))
    print(f"wrote {args.output}")
    return 0


BEGIN, END = "<!-- gesture:begin -->", "<!-- gesture:end -->"


def _section(text: str) -> str:
    """The gesture section of a results page (markers included), or ``""``."""
    if BEGIN not in text or END not in text:
        return ""
    return text[text.index(BEGIN) : text.index(END) + len(END)]


def splice(page: str, section: str) -> str:
    """`page` with its gesture section replaced by `section` (appended when it has none)."""
    old = _section(page)
    if old:
        return page.replace(old, section)
    return page.rstrip("\n") + ("\n\n" + section + "\n" if section else "\n")


EXPORTS = {  # name in the table -> (target, export options)
    "Speck": ("speck", {}),
    "Speck, --speck-threshold-low min": ("speck", {"speck_threshold_low": "min"}),
    "Loihi": ("loihi", {}),
    "SpiNNaker": ("spinnaker", {}),
}


def gesture_main(run_dir: Path, output: Path, skip_training: bool) -> int:
    """Train (unless skipped), export, verify and score the gesture CNN; splice the section."""
    import time

    import numpy as np

    import nrf_deploy as nd
    from nrf_deploy.training import gesture_export_accuracy

    summary_path = run_dir / "summary.json"
    if not skip_training:
        start = time.perf_counter()
        cmd = [sys.executable, "-m", "nrf_deploy", "train", "--config", "gesture"]
        subprocess.run([*cmd, "-o", str(run_dir / "run")], check=True)
        wall = time.perf_counter() - start
        metrics = json.loads((run_dir / "run" / "metrics.json").read_text())
        data = np.load(run_dir / "run" / "test_data.npz")
        events, labels = np.ascontiguousarray(data["events"].swapaxes(0, 1)), data["labels"]
        targets = {}
        for name, (target, options) in EXPORTS.items():
            export_dir = run_dir / f"export-{target}-{len(targets)}"
            nd.export(run_dir / "run" / "model.nir", target, export_dir, **options)
            x = np.ascontiguousarray(events[:16].swapaxes(0, 1)).astype(np.float32)
            result = nd.verify_export(export_dir, x=x, witness_samples=2)
            scored = gesture_export_accuracy(export_dir, events, labels)
            resources = json.loads((export_dir / "deploy.json").read_text())["resources"]
            targets[name] = {
                "accuracy": scored["accuracy"],
                "timesteps": scored["timesteps"],
                "cores": resources.get("cores_used"),
                "verify": [
                    [c.other, c.samples, c.timesteps, c.mismatches] for c in result.comparisons
                ],
            }
            print(f"{name}: accuracy {scored['accuracy']:.3f}, verify ok {result.ok}", flush=True)
        summary = {
            "wall_seconds": round(wall, 1),
            "metrics": {k: v for k, v in metrics.items() if k != "train"},
            "targets": targets,
            "machine": _machine(),
        }
        run_dir.mkdir(parents=True, exist_ok=True)
        summary_path.write_text(json.dumps(summary, indent=1))
    summary = json.loads(summary_path.read_text())
    page = output.read_text() if output.exists() else ""
    output.write_text(splice(page, render_gesture(summary)))
    print(f"wrote the gesture section of {output}")
    return 0


def _machine() -> str:
    import os
    import platform

    return f"{platform.machine()}, {os.cpu_count()} cores (shared with other jobs), 1 torch thread"


def render_gesture(summary: dict) -> str:
    """The gesture section (markers included) from `summary` (RUN_DIR/gesture/summary.json)."""
    m = summary["metrics"]
    net, data = m["gesture_net"], m["gesture_data"]
    rows = "\n".join(
        f"| {name} | {t['accuracy']:.3f} | {t['cores']} | "
        + "; ".join(f"{o}: {n} × {s} steps, {bad} mismatches" for o, n, s, bad in t["verify"])
        + " |"
        for name, t in summary["targets"].items()
    )
    layers = " → ".join(f"{c}×{s}×{s}" for c, s in zip(net["channels"], _sides(net["size"], net)))
    return f"""{BEGIN}
## Sparse spiking gesture CNN (issue #20)

Generated by `python scripts/make_results.py --gesture` (do not edit by hand); details in
[gesture.md](gesture.md). `nrf-deploy train --config gesture`: {m["train_samples"]} generated
training samples, {m["test_samples"]} held-out samples of another seed, {data["frames"]} frames of
{net["dt"] * 1e3:g} ms at {data["size"]}×{data["size"]} (2 polarities), 6 motion classes;
network 2×{net["size"]}×{net["size"]} → {layers} → {net["classes"]}, {net["neuron"].upper()}
neurons, {m["neurons"]} neurons, {m["parameters"]} weights. Training took
{m["train_seconds"]:.0f} s ({summary["wall_seconds"]:.0f} s for the whole command) on
{summary["machine"]}; times vary with the machine's load.

Held-out accuracy of the float model (torch = `model.nir` in the float executor,
{m["nir_check"]["spike_mismatches"]} spike mismatches): **{m["accuracy"]:.3f}** (most frequent
class: {m["chance"]:.3f}). Each chip's integer reference on the same {m["test_samples"]} samples
(class = most output spikes; inputs followed by empty frames for the chip's pipeline delay):

| export | accuracy | cores | verify (held-out samples) |
|---|---|---|---|
{rows}

Speck's default `threshold_low = −threshold_high` (what `sinabs.from_nir` gives IF layers) clamps
membranes the float model lets fall further; `--speck-threshold-low min` (−2^15) keeps the float
model's unbounded IF and most of its accuracy (the rest: 8-bit weights and MultiSpike). No export
uses `--speck-lif-as-if`: the network is IF. Verify compares each chip's emulator and vendor
simulator (sinabs, Lava) with its reference on held-out samples; no SpiNNaker simulator runs here,
so SpiNNaker's row is the emulator alone. One seed, one run.
{END}"""


def _sides(size: int, net: dict) -> list[int]:
    sides = []
    for k, st, p in zip(net["kernels"], net["strides"], net["paddings"]):
        size = (size + 2 * p - k) // st + 1
        sides.append(size)
    return sides


def render(summary: dict) -> str:
    """docs/results.md from `summary` (examples/train_shapes.py's summary.json)."""
    from nrf_deploy.training import train_config

    config = train_config(summary["config"])
    runs = summary["runs"]
    rows = "\n".join(
        f"| {LABELS[k][0]} | {LABELS[k][1]} | {m['median_l2_px']:.2f} | "
        f"{m['train_seconds']:.0f} s |"
        for k, m in runs.items()
        if k in LABELS
    )
    rf, uniform, ann = (runs.get(k, {}).get("median_l2_px") for k in ("rf", "uniform", "ann"))
    finding = _finding(rf, uniform, ann)
    return f"""# Results: receptive-field initialisation on generated shapes

Generated by `python scripts/make_results.py --config {summary["config"]}` (do not edit by hand):
`examples/train_shapes.py --compare` trains each model on the *same* generated dataset with the
`{summary["config"]}` preset — 64×64 GERD-style events, 3 shapes, {config.frames} frames of 1 ms,
{config.train_samples} training and {config.test_samples} held-out samples, {config.epochs} epochs,
batch {config.batch}, seed {config.seed} — on {summary["machine"]}. Metric: median l2 distance in
pixels between the DSNT-decoded centre and the true centre over frames
{config.warmup}–{config.frames - 1}
of the held-out samples. Guessing the canvas centre scores {summary["centre_guess_px"]:.2f} px.

| model | init | median l2 error (px) | training time |
|---|---|---|---|
{rows}

{finding} One seed, one run each: differences between the SNN variants of the order of a few tenths
of a pixel are within run-to-run variation we have not measured. Training times are wall-clock on a
shared 2-core machine and vary with its load.

Deployment of the trained RF-LIF model (`nrf-deploy demo`, README): Loihi, Speck (spiking layers on
chip, leaky read-out on the host, `--speck-lif-as-if`: an approximation the report states),
SpiNNaker and ONNX each verify with 0 mismatches between their implementations.
"""


def _finding(rf: float | None, uniform: float | None, ann: float | None) -> str:
    if rf is None or uniform is None:
        return ""
    better = "beats" if rf < uniform else "does not beat"
    text = (
        f"Receptive-field initialisation {better} uniform initialisation here ({rf:.2f} px vs "
        f"{uniform:.2f} px; the paper: LIF ~4.0 vs ~5.0 px on 300×300)."
    )
    if ann is not None:
        text += (
            f" The single-frame ReLU CNN scores {ann:.2f} px (the paper reports ~26 px for its "
            "ANN on 300×300 with sparser events; on our 64×64 canvas the shapes leave dense "
            "ON/OFF edges in every frame, so one frame can be enough to locate them)."
        )
    return text


if __name__ == "__main__":
    sys.exit(main())
