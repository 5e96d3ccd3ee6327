"""``nrf-deploy run``: float execution of a .nir file, or one backend of an export directory."""

from __future__ import annotations

import argparse

import numpy as np

from nrf_deploy.cli.common import is_export_dir
from nrf_deploy.device import DEVICES, on_device
from nrf_deploy.errors import NrfError
from nrf_deploy.fileio import write_npz
from nrf_deploy.inputset import InputSet

CHUNK_SAMPLES = 256
"""Samples per backend call of ``run`` (bounds the input held in memory)."""

SEMANTICS_PRESETS = ("nir", "sinabs", "snntorch", "rockpool", "norse")
"""Names of ``nrf_deploy.ir.executor.PRESETS`` (listed here so the CLI starts without torch)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run a model (float) or an export (one backend) on an input array",
        description="MODEL.nir: float execution (docs/semantics.md). EXPORT_DIR: run one backend "
        "of "
        "an export (reference, emulator, or the vendor simulator) in chip units. "
        "Writes output spikes of every node (and states with --states) to OUT.npz.",
    )
    p.add_argument("model", help="a .nir file or a directory written by 'nrf-deploy export'")
    p.add_argument(
        "--input",
        required=True,
        help=".npy/.npz array shaped [T, B, *input_shape] (or [T, *input_shape]), or a "
        "folder of such shards (read a chunk of samples at a time)",
    )
    p.add_argument("-o", "--output", required=True, help="output .npz file")
    p.add_argument(
        "--dt",
        type=float,
        default=None,
        help="timestep in seconds (float runs; default: graph metadata, else 1e-3)",
    )
    p.add_argument(
        "--semantics",
        default="nir",
        choices=SEMANTICS_PRESETS,
        help="float conventions: nir (default: NIR's equations, each node's reset record) "
        "or a writer's own simulation: sinabs, snntorch, rockpool, norse "
        "(docs/interop.md)",
    )
    p.add_argument(
        "--backend", default=None, help="backend of an export directory (default: its reference)"
    )
    p.add_argument("--states", action="store_true", help="also write every node's state per step")
    p.add_argument(
        "--device",
        choices=DEVICES,
        default="cpu",
        help="torch device of the float executor and integer references",
    )
    p.add_argument(
        "--allow-modified",
        action="store_true",
        help="run an export whose files changed since it was sealed (an experiment)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.output.endswith(".npz"):
        raise NrfError(f"output '{args.output}' must end in .npz", "-o", "e.g. -o out.npz")
    from nrf_deploy.exporting import refuse_output_among_inputs

    refuse_output_among_inputs(args.output, [args.input, args.model], "-o")
    if is_export_dir(args.model):
        trace, label = _run_export(args)
    else:
        from nrf_deploy.ir import Semantics, load_graph, run_float

        if args.backend not in (None, "float"):
            raise NrfError(
                f"--backend {args.backend} needs an export directory",
                "--backend",
                "export first: nrf-deploy export MODEL.nir --target T -o DIR",
            )
        graph = load_graph(args.model)
        inputs = InputSet.open(args.input, graph.input_shape)
        with on_device(args.device):
            trace = in_chunks(
                inputs,
                lambda x: run_float(
                    graph,
                    x,
                    dt=args.dt,
                    record_states=args.states,
                    semantics=Semantics.named(args.semantics),
                ),
            )
        label = "float"
    arrays = trace.arrays() if args.states else {f"out/{k}": v for k, v in trace.outputs.items()}
    arrays["output"] = trace.output()
    write_npz(args.output, arrays)
    out = trace.output()
    print(
        f"{label}: {out.shape[0]} steps x {out.shape[1]} samples; output '{trace.output_names[0]}' "
        f"total {float(np.sum(out)):g}; wrote {args.output}"
    )
    return 0


def in_chunks(inputs: InputSet, fn, chunk: int = CHUNK_SAMPLES):
    """`fn` on successive sample ranges of `inputs`, traces joined on the sample axis (only one
    range of inputs in memory at a time)."""
    trace = None
    for start in range(0, inputs.samples, chunk):
        part = fn(inputs.read(start, start + chunk))
        trace = part if trace is None else trace.concat(part)
    return trace


def _run_export(args: argparse.Namespace):
    import sys

    from nrf_deploy.seal import load_export

    loaded = load_export(args.model, args.allow_modified)
    target, deployment = loaded.target, loaded.deployment
    if loaded.modified:
        print(
            f"warning: MODIFIED export (--allow-modified): {loaded.seal.describe()}",
            file=sys.stderr,
        )
    spec = target.backend(deployment, args.backend or target.backend_names(deployment)[0])
    backend = spec.name
    if args.device != "cpu" and spec.role not in ("reference", "float"):
        raise NrfError(
            f"backend '{backend}' ({spec.role}) runs on the CPU only",
            "--device",
            "use --device cpu, or the reference backend on the GPU (docs/scale.md)",
        )
    inputs = InputSet.open(args.input, deployment.input_shape)
    with on_device(args.device):
        trace = in_chunks(inputs, lambda x: target.run(deployment, backend, x, args.states))
    return trace, f"{target.name}/{backend}"
