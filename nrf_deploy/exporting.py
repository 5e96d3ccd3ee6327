"""Export a model to a target: quantise, map, write the artefacts atomically and seal them.

The library function behind ``nrf-deploy export`` and :func:`nrf_deploy.api.export`; it reaches
the target only through the registry."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any

from nrf_deploy.errors import NrfError
from nrf_deploy.fileio import atomic_dir
from nrf_deploy.ir.interop import graph_file_bytes
from nrf_deploy.targets import get_target

SOURCE_FILE = "source.nir"


def export(model: Any, target_name: str, out_dir: str | Path, options: dict | None = None):
    """Library entry: export `model` (a .nir path, or an in-memory graph: nrf-deploy's
    ``NIRGraph`` or a nir package ``nir.NIRGraph``) to `target_name` into `out_dir` atomically
    and seal it (:mod:`nrf_deploy.seal`); return the Deployment."""
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
        if isinstance(model, (str, os.PathLike)):
            shutil.copyfile(model, Path(tmp) / SOURCE_FILE)  # the float model, for reports
        else:
            (Path(tmp) / SOURCE_FILE).write_bytes(graph_file_bytes(model))
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
