"""``nrf-deploy export MODEL.nir --target T -o OUT_DIR``: quantise, map and write artefacts."""

from __future__ import annotations

import argparse
import math
import shutil
from pathlib import Path
from typing import Any

import nir

from nrf_deploy.cli.common import readable_resources
from nrf_deploy.errors import NrfError
from nrf_deploy.fileio import atomic_dir, write_nir
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


SOURCE_FILE = "source.nir"


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


def export(
    model: str | nir.NIRGraph, target_name: str, out_dir: str | Path, options: dict | None = None
):
    """Library entry: export `model` to `target_name` into `out_dir` atomically and seal it
    (:mod:`nrf_deploy.seal`); return the Deployment."""
    from nrf_deploy.deployment import is_previous_export
    from nrf_deploy.fileio import check_output_dir
    from nrf_deploy.ir import load_graph
    from nrf_deploy.quant import zero_weight_policy
    from nrf_deploy.seal import seal_export, sha256_file

    options = dict(options or {})
    check_output_dir(out_dir, is_previous_export)
    refuse_output_among_inputs(out_dir, [model, *options.values()], "-o")
    target = get_target(target_name)
    graph = load_graph(model)
    check_dt(options.get("dt"), graph.dt)
    with zero_weight_policy(bool(options.get("allow_zero_weights"))):
        deployment = target.build(graph, options)
    with atomic_dir(out_dir, is_previous_export) as tmp:
        target.write(deployment, Path(tmp))
        if not isinstance(model, nir.NIRGraph):
            shutil.copyfile(model, Path(tmp) / SOURCE_FILE)  # the float model, for reports
        else:
            write_nir(Path(tmp) / SOURCE_FILE, model)
        seal_export(Path(tmp), sha256_file(Path(tmp) / SOURCE_FILE), options)
    deployment.out_dir = Path(out_dir)
    return deployment


def check_dt(option: Any, metadata: Any) -> None:
    """The timestep (seconds) must be a finite number > 0, given (`--dt`) or in the graph."""
    for value, where in ((option, "--dt"), (metadata, "the graph's metadata 'dt'")):
        if value is None:
            continue
        try:
            ok = math.isfinite(float(value)) and float(value) > 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise NrfError(
                f"the timestep dt = {value!r} s is not a finite number > 0",
                where,
                "give the simulation timestep in seconds, e.g. --dt 1e-3",
            )
        return


def refuse_output_among_inputs(output: str | Path, inputs: list[Any], flag: str) -> None:
    """Refuse an output path that is, or contains, one of the command's input paths, or lies
    inside an input directory (writing into an export would break its seal)."""
    out = Path(output).resolve()
    for item in inputs:
        if not isinstance(item, (str, Path)) or not str(item) or not Path(item).exists():
            continue
        path = Path(item).resolve()
        if path == out or out in path.parents or (path.is_dir() and path in out.parents):
            raise NrfError(
                f"the output '{output}' is, contains or lies inside the input '{item}'; "
                "writing it would destroy or alter that input",
                flag,
                "choose another output path",
            )


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
