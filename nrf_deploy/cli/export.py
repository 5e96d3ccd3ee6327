"""``nrf-deploy export MODEL.nir --target T -o OUT_DIR``: quantise, map and write artefacts."""

from __future__ import annotations

import argparse

from nrf_deploy.cli.common import readable_resources
from nrf_deploy.errors import NrfError

# the library function and its checks live in the core; re-exported for existing callers
from nrf_deploy.exporting import (  # noqa: F401
    SOURCE_FILE,
    check_dt,
    export,
    refuse_output_among_inputs,
)
from nrf_deploy.targets import get_target, target_names


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="lower a NIR model to a target and write its artefacts",
        description="Quantise MODEL.nir to the target's number format, map it onto the chip and "
        "write "
        "the deployment (deploy.json sidecar, quantised NIR, target files) to OUT_DIR. "
        "The directory appears complete or not at all. Each target's own options: "
        "'nrf-deploy export --target T --help'.",
    )
    p.add_argument("model", help="path to a .nir file")
    p.add_argument("--target", required=True, choices=target_names(), help="hardware target")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output directory: new, empty, or a previous export (replaced); "
        "anything else is refused",
    )
    p.add_argument(
        "--dt",
        type=float,
        default=None,
        help="timestep in seconds (default: the graph's metadata, else 1e-3)",
    )
    p.add_argument(
        "--timesteps",
        type=int,
        default=None,
        help="timesteps of the generated verification inputs (default 20)",
    )
    p.add_argument(
        "--allow-zero-weights",
        action="store_true",
        help="export even if quantisation turns every weight of a projection into 0",
    )
    p.set_defaults(func=run, accepts_extra=True)


def parse_target_options(target, extra: list[str]) -> dict:
    parser = argparse.ArgumentParser(
        prog=f"nrf-deploy export --target {target.name}", add_help=False
    )
    target.add_export_arguments(parser)
    try:
        ns, unknown = parser.parse_known_args(extra)
    except SystemExit:
        raise NrfError(
            f"invalid option for target '{target.name}'",
            " ".join(extra),
            "see 'nrf-deploy targets' for this target's options",
        ) from None
    if unknown:
        raise NrfError(
            f"unrecognized option(s) for target '{target.name}': {' '.join(unknown)}",
            "command line",
            "see 'nrf-deploy targets' for this target's options",
        )
    return vars(ns)


def run(args: argparse.Namespace) -> int:
    target = get_target(args.target)
    options = parse_target_options(target, args.extra)
    options.update(
        {k: v for k, v in (("dt", args.dt), ("timesteps", args.timesteps)) if v is not None}
    )
    if args.allow_zero_weights:
        options["allow_zero_weights"] = True
    if args.timesteps is not None and args.timesteps < 1:
        raise NrfError("--timesteps must be at least 1", "--timesteps", "e.g. --timesteps 20")
    check_dt(args.dt, None)
    deployment = export(args.model, args.target, args.output, options)
    res = target.resources(deployment)
    summary = readable_resources(res)
    print(
        f"exported {args.model} to {args.target}: {args.output}"
        + (f" ({summary})" if summary else "")
    )
    print(f"next: nrf-deploy verify {args.output}")
    return 0
