"""``nrf-deploy run``: float execution of a .nir file, or one backend of an export directory."""
from __future__ import annotations

import argparse

import numpy as np

from nrf_deploy.cli.common import is_export_dir, load_array
from nrf_deploy.errors import NrfError
from nrf_deploy.fileio import write_npz
from nrf_deploy.inputs import check_input_shape


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="run a model (float) or an export (one backend) on an input array",
        description="MODEL.nir: float execution (docs/semantics.md). EXPORT_DIR: run one backend of "
                    "an export (reference, emulator, or the vendor simulator) in chip units. "
                    "Writes output spikes of every node (and states with --states) to OUT.npz.")
    p.add_argument("model", help="a .nir file or a directory written by 'nrf-deploy export'")
    p.add_argument("--input", required=True, help=".npy array shaped [T, B, *input_shape] (or [T, *input_shape])")
    p.add_argument("-o", "--output", required=True, help="output .npz file")
    p.add_argument("--dt", type=float, default=None, help="timestep in seconds (float runs; default: graph metadata, else 1e-3)")
    p.add_argument("--semantics", default="nir", choices=["nir", "sinabs"],
                   help="float conventions: NIR 1.0.4 (default) or sinabs (multi-spike, >=, IF clamp)")
    p.add_argument("--backend", default=None, help="backend of an export directory (default: its reference)")
    p.add_argument("--states", action="store_true", help="also write every node's state per step")
    p.add_argument("--allow-modified", action="store_true",
                   help="run an export whose files changed since it was sealed (an experiment)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.output.endswith(".npz"):
        raise NrfError(f"output '{args.output}' must end in .npz", "-o", "e.g. -o out.npz")
    from nrf_deploy.cli.export import refuse_output_among_inputs

    refuse_output_among_inputs(args.output, [args.input, args.model], "-o")
    x = load_array(args.input)
    if is_export_dir(args.model):
        trace, label = _run_export(args, x)
    else:
        from nrf_deploy.ir import Semantics, load_graph, run_float

        if args.backend not in (None, "float"):
            raise NrfError(f"--backend {args.backend} needs an export directory", "--backend",
                           "export first: nrf-deploy export MODEL.nir --target T -o DIR")
        graph = load_graph(args.model)
        x = check_input_shape(x, graph.input_shape, args.input)
        trace = run_float(graph, x, dt=args.dt, record_states=args.states,
                          semantics=Semantics.named(args.semantics))
        label = "float"
    arrays = trace.arrays() if args.states else {f"out/{k}": v for k, v in trace.outputs.items()}
    arrays["output"] = trace.output()
    write_npz(args.output, arrays)
    out = trace.output()
    print(f"{label}: {out.shape[0]} steps x {out.shape[1]} samples; output '{trace.output_names[0]}' "
          f"total {float(np.sum(out)):g}; wrote {args.output}")
    return 0


def _run_export(args: argparse.Namespace, x: np.ndarray):
    import sys

    from nrf_deploy.seal import load_export

    loaded = load_export(args.model, args.allow_modified)
    target, deployment = loaded.target, loaded.deployment
    if loaded.modified:
        print(f"warning: MODIFIED export (--allow-modified): {loaded.seal.describe()}",
              file=sys.stderr)
    backend = target.backend(deployment, args.backend or target.backend_names(deployment)[0]).name
    x = check_input_shape(x, deployment.input_shape, args.input)
    return target.run(deployment, backend, x, record_states=args.states), f"{target.name}/{backend}"
