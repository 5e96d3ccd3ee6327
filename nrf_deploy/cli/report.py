"""``nrf-deploy report OUT_DIR [OUT_DIR ...] -o report.html``."""

from __future__ import annotations

import argparse
from pathlib import Path

from nrf_deploy.cli.common import load_array
from nrf_deploy.errors import NrfError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="latency, energy, resources and accuracy of one or more exports",
        description="Run each export's reference (and, on a few samples, its emulator) and the "
        "float model on the same inputs, count synaptic operations and spikes "
        "(NeuroBench definitions), cost them with each chip's published constants "
        "(every figure names its source) and write a self-contained HTML report plus "
        "NAME.json beside NAME.html. Several exports are compared side by side; an ONNX "
        "export gives the CPU baseline.",
    )
    p.add_argument("exports", nargs="+", help="directories written by 'nrf-deploy export'")
    p.add_argument(
        "-o",
        "--output",
        default="report.html",
        help="HTML file; its JSON goes beside it with the same name (default report.html, "
        "report.json)",
    )
    p.add_argument(
        "--input", default=None, help=".npy inputs [T, B, *input_shape] (default: random events)"
    )
    p.add_argument(
        "--labels",
        default=None,
        help=".npy labels for --input: class per sample [B], or RF-SNN centres [T, B, 3, 2]",
    )
    p.add_argument("--samples", type=int, default=8, help="random input samples (default 8)")
    p.add_argument(
        "--timesteps",
        type=int,
        default=None,
        help="timesteps of random inputs (default: the export's own)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument(
        "--emulator-samples",
        type=int,
        default=None,
        help="samples also run on the emulator for the accuracy comparison (default: all; 0 skips)",
    )
    p.add_argument(
        "--energy-constant",
        action="append",
        default=[],
        metavar="CHIP.NAME=VALUE",
        help="supply or override a constant in the unit the report lists, e.g. loihi2.sop_pj=10 or "
        "loihi1.barrier_ns=500 (repeatable; the report labels it 'user')",
    )
    p.add_argument(
        "--semantics",
        default="nir",
        choices=["nir", "sinabs"],
        help="conventions of the float model the chips are compared with: NIR 1.0.4 (default) "
        "or sinabs (multi-spike, >=, IF clamp; for models exported from sinabs)",
    )
    p.add_argument(
        "--allow-modified",
        action="store_true",
        help="report on exports whose files changed since they were sealed (shown as "
        "'modified', never as verified)",
    )
    p.add_argument(
        "--no-second-opinions",
        dest="second_opinions",
        action="store_false",
        help="skip the field's own tools that recompute each target's figures (SANA-FE, NEST, "
        "sPyNNaker's mapper, NeuroBench; they can take minutes)",
    )
    p.add_argument(
        "--witness-memory",
        type=float,
        default=None,
        metavar="GB",
        help="memory each second opinion's process may use (default 1): SANA-FE simulates a "
        "sample of a larger network's cores, NEST skips a network that needs more",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nrf_deploy.deployment import SIDECAR
    from nrf_deploy.profile import parse_overrides
    from nrf_deploy.progress import progress_bar
    from nrf_deploy.report import build_report, json_path, summary_table

    for d in args.exports:
        if not (Path(d) / SIDECAR).is_file():
            raise NrfError(
                f"'{d}' is not an export directory (no deploy.json)",
                d,
                "pass directories written by 'nrf-deploy export'",
            )
    from nrf_deploy.deployment import read_sidecar
    from nrf_deploy.exporting import refuse_output_among_inputs
    from nrf_deploy.inputs import check_count
    from nrf_deploy.seal import require_sealed

    check_count(args.samples, "--samples")
    check_count(args.timesteps, "--timesteps")
    check_count(args.seed, "--seed", 0)
    check_count(args.emulator_samples, "--emulator-samples", 0)
    if args.witness_memory is not None and not 0 < args.witness_memory < float("inf"):
        raise NrfError(
            f"--witness-memory {args.witness_memory} is not a positive number of GB",
            "--witness-memory",
            "give the memory a second opinion may use, e.g. --witness-memory 2",
        )
    out = Path(args.output)
    for path in (out, out.with_name("report.json")):
        refuse_output_among_inputs(path, [*args.exports, args.input, args.labels], "-o")
    for d in args.exports:
        require_sealed(d, read_sidecar(Path(d)), args.allow_modified)
    overrides = parse_overrides(args.energy_constant)
    x = load_array(args.input) if args.input else None
    labels = load_array(args.labels) if args.labels else None
    if labels is not None and x is None:
        raise NrfError("--labels needs --input", "--labels", "pass the inputs the labels belong to")
    if not args.output.endswith((".html", ".htm")):
        raise NrfError(f"output '{args.output}' must end in .html", "-o", "e.g. -o report.html")
    with progress_bar(len(args.exports), "report", "export") as bar:
        report = build_report(
            args.exports,
            args.output,
            x=x,
            labels=labels,
            samples=args.samples,
            timesteps=args.timesteps,
            emulator_samples=args.emulator_samples,
            overrides=overrides,
            semantics=args.semantics,
            seed=args.seed,
            input_source=f"--input {args.input}" if args.input else None,
            progress=lambda _target: bar.update(),
            allow_modified=args.allow_modified,
            second_opinions=args.second_opinions,
            witness_memory=None if args.witness_memory is None else args.witness_memory * 1e9,
        )
    print(summary_table(report))
    print(f"wrote {args.output} and {json_path(args.output)}")
    return 0
