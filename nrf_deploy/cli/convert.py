"""``nrf-deploy convert MODEL.onnx --calibration X.npy -o MODEL.nir``: ReLU ANN -> IF SNN (NIR)."""

from __future__ import annotations

import argparse

from nrf_deploy.exporters.ann_to_snn import CODINGS, DEFAULT_DT, DEFAULT_PERCENTILE


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="convert a ReLU CNN/MLP (ONNX) into an integrate-and-fire NIR graph",
        description="Read a ReLU network from ONNX (Conv, Gemm/MatMul, Relu, AveragePool, Flatten, "
        "BatchNormalization folded), scale each layer by the percentile of its "
        "activations on the calibration set (Rueckauer et al. 2017), and write an IF "
        "network (reset by subtraction) with an integrator read-out as NIR. The "
        "read-out "
        "membrane divided by the number of timesteps approximates the ANN output. "
        "MaxPool, non-ReLU activations and branches are refused. See "
        "docs/conversion.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("model", help="path to a .onnx file")
    p.add_argument(
        "--calibration",
        metavar="X.npy",
        default=None,
        help="network inputs [N, *input_shape] (samples first) for the layer scales",
    )
    p.add_argument(
        "-o", "--output", required=True, metavar="MODEL.nir", help="NIR file to write (atomically)"
    )
    p.add_argument(
        "--percentile",
        type=float,
        default=DEFAULT_PERCENTILE,
        help="percentile of the non-zero activations used as each layer's scale (100: max-norm)",
    )
    p.add_argument(
        "--input-coding",
        choices=CODINGS,
        default="poisson",
        help="poisson/deterministic: rate-coded binary spikes (inputs scaled by their "
        "calibration maximum); direct: the analog input drives the first layer "
        "every "
        "step (Loihi and SpiNNaker take only binary spikes and refuse it)",
    )
    p.add_argument(
        "--reset",
        choices=("subtract", "zero"),
        default="subtract",
        help="reset of the IF neurons (subtract: nir 1.0.4's definition, the accurate one)",
    )
    p.add_argument(
        "--dt",
        type=float,
        default=DEFAULT_DT,
        help="seconds per timestep recorded in the graph (IF neurons do not depend on it)",
    )
    p.add_argument(
        "--write-input",
        metavar="X_T.npy",
        default=None,
        help="also write --samples calibration inputs encoded with --input-coding for "
        "--timesteps steps ([T, N, *input_shape], for nrf-deploy verify --input)",
    )
    p.add_argument("--timesteps", type=int, default=32, help="timesteps of --write-input")
    p.add_argument("--samples", type=int, default=8, help="samples in --write-input")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nrf_deploy.api import convert

    result = convert(
        args.model,
        args.calibration,
        args.output,
        percentile=args.percentile,
        coding=args.input_coding,
        reset=args.reset,
        dt=args.dt,
        write_input=args.write_input,
        timesteps=args.timesteps,
        samples=args.samples,
    )
    layers = ", ".join(f"{k}={v:.3g}" for k, v in result.scales.items())
    print(
        f"converted {args.model} -> {args.output}: {result.samples} calibration samples, "
        f"percentile {args.percentile:g}, input coding {args.input_coding}; scales {layers}; "
        f"parsed network vs onnxruntime: {result.ann_check:.1e} (relative)"
    )
    if args.write_input:
        print(
            f"wrote {args.write_input}: [{args.timesteps}, {min(args.samples, result.samples)}, "
            "*input_shape] encoded inputs"
        )
    return 0
