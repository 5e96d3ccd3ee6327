"""``nrf-deploy train [--config tiny|small|paper|gesture|gesture-tiny] -o RUN_DIR``: generate
shape events and train the RF-SNN (or a baseline), or generate gesture events (or read DVS128
Gesture recordings, ``--dataset``) and train the spiking gesture CNN; write the run directory
with ``model.nir``."""

from __future__ import annotations

import argparse

from nrf_deploy.cli.common import DefaultsHelpFormatter
from nrf_deploy.errors import NrfError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the receptive-field SNN on generated events and export model.nir",
        description="Generate GERD-style shape events (circle, square, triangle), train the "
        "receptive-field "
        "SNN (or a baseline) with BPTT, and write RUN_DIR/model.pt (checkpoint), metrics.json "
        "(median l2 error in pixels on held-out data), test_data.npz (the held-out events and "
        "centres, time-major) and model.nir (the deployable graph, checked against the float "
        "executor; not for --kind ann). RUN_DIR is replaced atomically.",
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="RUN_DIR",
        help="run directory (replaced if it exists)",
    )
    p.add_argument(
        "--config",
        default="small",
        choices=["tiny", "small", "paper", "gesture", "gesture-tiny"],
        help="preset: small (64x64, 16 kernels x 2 temporal channels; a few minutes on 2 cores), "
        "tiny (32x32; seconds, for smoke tests), paper (the paper-like kernel bank; hours); "
        "gesture: the sparse spiking gesture CNN on 128x128 gesture events (6 motion classes; "
        "minutes), gesture-tiny (32x32; seconds)",
    )
    p.add_argument(
        "--kind",
        default=None,
        choices=["rf", "uniform", "ann"],
        help="rf: RF-initialised SNN (deployable); uniform: same SNN, PyTorch default init; "
        "ann: ReLU CNN with the same parameter count (not deployable); default rf (RF-SNN "
        "presets only)",
    )
    p.add_argument(
        "--neuron",
        default=None,
        help="RF-SNN hidden neurons: lif (default, spiking) or li (leaky integrators); gesture "
        "CNN: if (default; fits Speck as it is) or lif",
    )
    p.add_argument(
        "--dataset",
        default=None,
        metavar="PATH",
        help="gesture presets: train and test on DVS128 Gesture recordings in tonic 1.7's layout "
        "(PATH holds DVSGesture/; docs/gesture.md) instead of generated events",
    )
    p.add_argument(
        "--epochs", type=int, default=None, help="override the preset's number of epochs"
    )
    p.add_argument(
        "--train-samples", type=int, default=None, help="override the preset's training samples"
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop training once this many minutes are spent (evaluation and export still run)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default 1: fastest on a shared machine)",
    )
    p.add_argument("--seed", type=int, default=None, help="override the preset's seed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nrf_deploy.training import train, train_config

    if args.config.startswith("gesture"):
        return run_gesture(args)
    if args.dataset is not None:
        raise NrfError(
            "--dataset reads DVS128 Gesture recordings", "--dataset", "use it with --config gesture"
        )
    config = train_config(
        args.config,
        kind=args.kind or "rf",
        neuron=args.neuron or "lif",
        epochs=args.epochs,
        train_samples=args.train_samples,
        max_minutes=args.max_minutes,
        threads=args.threads,
        seed=args.seed,
    )
    metrics = train(config, args.output, progress=True)  # tqdm, log lines, or quiet
    name = "ReLU ANN" if config.kind == "ann" else f"{config.kind}-init {config.neuron.upper()} SNN"
    print(
        f"trained the {name} ({config.model}) in {metrics['train_seconds']:.0f} s"
        f"{' (stopped at the time budget)' if metrics['stopped_early'] else ''}: median l2 error "
        f"{metrics['median_l2_px']:.2f} px on {config.test_samples} held-out samples "
        f"(guessing the canvas centre: {metrics['centre_guess_px']:.2f} px)"
    )
    check = metrics.get("nir_check")
    if check:
        agree = (
            f"{check['spike_mismatches']} spike mismatches"
            if "spike_mismatches" in check
            else f"hidden within {check['max_hidden_diff']:.1e}"
        )
        print(
            f"model.nir re-run by the float executor on the held-out data: {agree}, read-out "
            "within "
            f"{check['max_readout_diff']:.1e}"
        )
    print(
        f"wrote {args.output}/: model.pt, metrics.json, test_data.npz"
        f"{', model.nir' if check else ' (no model.nir: the ANN is not NIR-expressible)'}"
    )
    return 0


def run_gesture(args: argparse.Namespace) -> int:
    """``train --config gesture[-tiny]``: the spiking gesture CNN (docs/gesture.md)."""
    from nrf_deploy.training import gesture_train_config, train_gesture

    if args.kind is not None:
        raise NrfError(
            f"--kind {args.kind} applies to the RF-SNN presets",
            "--kind",
            "leave it out with --config gesture",
        )
    config = gesture_train_config(
        args.config,
        neuron=args.neuron,
        epochs=args.epochs,
        train_samples=args.train_samples,
        max_minutes=args.max_minutes,
        threads=args.threads,
        seed=args.seed,
        dataset=args.dataset,
    )
    metrics = train_gesture(config, args.output, progress=True)
    check = metrics["nir_check"]
    print(
        f"trained the {config.neuron.upper()} gesture CNN ({config.net}, {metrics['neurons']} "
        f"neurons) in {metrics['train_seconds']:.0f} s"
        f"{' (stopped at the time budget)' if metrics['stopped_early'] else ''}: accuracy "
        f"{metrics['accuracy']:.3f} on {metrics['test_samples']} held-out "
        f"{metrics['data']} samples (most frequent class: {metrics['chance']:.3f})"
    )
    print(
        f"model.nir re-run by the float executor on the held-out data: "
        f"{check['spike_mismatches']} spike mismatches over {check['spikes']} spikes"
    )
    print(f"wrote {args.output}/: model.pt, metrics.json, test_data.npz, model.nir")
    return 0
