"""The Python API: what the ``nrf-deploy`` commands do, as functions (docs/api.md).

    >>> import nrf_deploy as nd
    >>> graph = nd.load("model.nir")                          # validated, normalised float graph
    >>> nd.export("model.nir", "loihi", "build/loihi")        # quantise + map + write, atomically
    >>> result = nd.verify("build/loihi", samples=16)         # reference vs emulator vs vendor
    >>> trace = nd.run("build/loihi", x, backend="emulator")  # one backend, x: [T, B, *input_shape]
    >>> nd.report(["build/loihi"], "build/report.html")

Inputs are event frames ``[T, B, *input_shape]`` (timesteps first, integers for chips); outputs are
:class:`~nrf_deploy.trace.Trace` objects holding every node's output ``[T, B, *shape]`` (chip units
for integer backends, float for the float executor). Errors are :class:`~nrf_deploy.errors.NrfError`
with what, where and what to do. Nothing here names a chip: targets come from the registry.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from nrf_deploy.ir.graph import Graph
    from nrf_deploy.target import Deployment, Target
    from nrf_deploy.trace import Trace
    from nrf_deploy.verify import VerifyResult

PathLike = str | os.PathLike


def load(model: PathLike | Any) -> Graph:
    """Read, validate and normalise a ``.nir`` file (any writer), or an in-memory graph
    (nrf-deploy's ``NIRGraph`` or a ``nir.NIRGraph`` of the installed nir), into a
    :class:`Graph`."""
    from nrf_deploy.ir import load_graph

    return load_graph(model)


def targets() -> list[str]:
    """Names of the registered targets (``nrf-deploy targets`` describes them)."""
    from nrf_deploy.targets import target_names

    return target_names()


def export(model: PathLike | Any, target: str, out_dir: PathLike, **options: Any) -> Deployment:
    """Quantise `model` for `target` and write the export to `out_dir` (it appears complete or not
    at all). `options` are the target's export flags with underscores, e.g. ``loihi_chips=2``,
    plus ``dt`` (seconds) and ``timesteps`` (default length of generated inputs)."""
    from nrf_deploy.exporting import export as export_dir

    return export_dir(model, target, out_dir, options)


def load_export(export_dir: PathLike) -> tuple[Target, Deployment]:
    """The target and the deployment an export directory holds."""
    from nrf_deploy.deployment import read_sidecar
    from nrf_deploy.targets import get_target

    target = get_target(read_sidecar(Path(export_dir))["target"])
    return target, target.load(Path(export_dir))


def verify(
    export_dir: PathLike,
    x: np.ndarray | None = None,
    samples: int = 16,
    witness_samples: int = 1,
    timesteps: int | None = None,
    rate: float = 0.1,
    seed: int = 0,
) -> VerifyResult:
    """Run every backend of an export on the same inputs and compare them with the reference.

    `x` defaults to `samples` random event frames (probability `rate` per pixel and step) of
    `timesteps` steps; the vendor simulator runs on the first `witness_samples` samples.
    ``result.ok`` is True only for zero mismatches; ``result.summary()`` is what the CLI prints."""
    from nrf_deploy.verify import verify_deployment

    target, deployment = load_export(export_dir)
    x = _inputs(deployment, x, samples, timesteps, rate, seed)
    return verify_deployment(target, deployment, x, min(witness_samples, x.shape[1]))


def run(
    model: PathLike | Any,
    x: np.ndarray,
    backend: str | None = None,
    dt: float | None = None,
    semantics: str = "nir",
    record_states: bool = False,
) -> Trace:
    """Run `x` ``[T, B, *input_shape]`` through a ``.nir`` file (float executor, `dt` in seconds,
    `semantics` one of :meth:`Semantics.named`'s names) or one backend of an export directory
    (default: its reference)."""
    from nrf_deploy.inputs import check_input_shape

    if isinstance(model, (str, os.PathLike)) and Path(model).is_dir():
        target, deployment = load_export(model)
        name = backend or target.backend_names(deployment)[0]
        x = check_input_shape(x, deployment.input_shape, "x")
        return target.run(deployment, name, x, record_states=record_states)
    from nrf_deploy.errors import NrfError
    from nrf_deploy.ir import Semantics, run_float

    if backend not in (None, "float"):
        raise NrfError(
            f"backend '{backend}' needs an export directory",
            str(model),
            "export the model first, or leave backend unset for the float executor",
        )
    graph = load(model)
    x = check_input_shape(x, graph.input_shape, "x")
    return run_float(
        graph, x, dt=dt, record_states=record_states, semantics=Semantics.named(semantics)
    )


def convert(
    model: PathLike,
    calibration: PathLike | np.ndarray | None,
    out_nir: PathLike,
    percentile: float = 99.9,
    coding: str = "poisson",
    reset: str = "subtract",
    dt: float = 1e-3,
    write_input: PathLike | None = None,
    timesteps: int = 32,
    samples: int = 8,
) -> Any:
    """Convert the ReLU network in the ONNX file `model` into an integrate-and-fire NIR graph
    written to `out_nir` (docs/conversion.md). `calibration`: inputs ``[N, *input_shape]`` (array
    or ``.npy`` path) whose activations set each layer's scale (`percentile` of the non-zero
    ones); `coding`: ``poisson``, ``deterministic`` (rate-coded spikes) or ``direct`` (analog
    first layer). With `write_input`, also writes `samples` calibration inputs encoded for
    `timesteps` steps, ``[T, N, *input_shape]``. Returns the
    :class:`~nrf_deploy.exporters.ann_to_snn.Conversion` (graph, scales, checks)."""
    from nrf_deploy.exporters.ann_to_snn import (
        ConvertOptions,
        convert_onnx,
        encode,
        write_converted,
    )
    from nrf_deploy.fileio import atomic_path
    from nrf_deploy.ir import load_graph

    if isinstance(calibration, (str, os.PathLike)):
        from nrf_deploy.cli.common import load_array
        from nrf_deploy.errors import NrfError

        try:
            calibration = load_array(str(calibration))
        except NrfError as exc:
            raise NrfError(exc.what, "--calibration", exc.hint) from None
    options = ConvertOptions(percentile=percentile, coding=coding, reset=reset, dt=dt)
    conversion = convert_onnx(model, calibration, options)
    load_graph(conversion.graph)  # the written graph must pass nrf-deploy's own checks
    encoded = None
    if write_input is not None:
        x = np.asarray(calibration)[: max(1, samples)]
        encoded = encode(x, timesteps, coding, conversion.scales["input"])
    write_converted(conversion, out_nir)
    if encoded is not None:
        with atomic_path(write_input) as tmp, open(tmp, "wb") as fh:
            np.save(fh, encoded)
    return conversion


def report(export_dirs: Sequence[PathLike], out_html: PathLike, **options: Any) -> dict[str, Any]:
    """Counts, latency, energy, resources and accuracy of each export, side by side: writes
    `out_html` and its JSON twin and returns the report (see
    :func:`nrf_deploy.report.build_report` for `options`)."""
    from nrf_deploy.report import build_report

    return build_report(list(export_dirs), out_html, **options)


def _inputs(
    deployment: Deployment,
    x: np.ndarray | None,
    samples: int,
    timesteps: int | None,
    rate: float,
    seed: int,
) -> np.ndarray:
    from nrf_deploy.inputs import check_input_shape, random_events

    if x is not None:
        return check_input_shape(x, deployment.input_shape, "x")
    steps = timesteps or deployment.timesteps
    return random_events(deployment.input_shape, steps, samples, rate, seed)
