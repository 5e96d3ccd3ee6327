"""The ONNX target's backends, each ``fn(program, x, record_states) -> Trace``.

``program`` is the dict :class:`~nrf_deploy.targets.onnx.OnnxTarget` builds or loads: the ONNX
model, the export's sidecar and either the float graph or the integer source export."""

from __future__ import annotations

from typing import Any

import numpy as np

from nrf_deploy.trace import Trace


def run_onnxruntime(program: dict[str, Any], x: np.ndarray, record_states: bool = True) -> Trace:
    """The exported step model on onnxruntime (CPU), one session per loaded export."""
    from nrf_deploy.targets.onnx.model import StepInterface
    from nrf_deploy.targets.onnx.runtime import prepare_input, run_steps, session

    sidecar = program["sidecar"]
    interface = StepInterface.from_json(sidecar["interface"])
    if program.get("session") is None:
        program["session"] = session(program["model"])
    return run_steps(
        program["session"],
        interface,
        prepare_input(interface, x, sidecar.get("max_input_count")),
        record_states,
    )


def run_float(program: dict[str, Any], x: np.ndarray, record_states: bool = True) -> Trace:
    """The float executor on the export's source graph, with the export's semantics."""
    from nrf_deploy.ir import Semantics
    from nrf_deploy.ir import run_float as execute

    sidecar = program["sidecar"]
    return execute(
        program["graph"],
        x,
        dt=sidecar["dt"],
        record_states=record_states,
        semantics=Semantics.named(sidecar.get("semantics", "nir")),
    )


def run_source_reference(
    program: dict[str, Any], x: np.ndarray, record_states: bool = True
) -> Trace:
    """The integer reference of the export the integer model was made from (through the
    registry)."""
    from nrf_deploy.targets import get_target

    source = program["source"]
    return get_target(source.target).run(source, "reference", x, record_states)
