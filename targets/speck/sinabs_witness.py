"""sinabs witness: the network of chip_config.json (parsed by the core) rebuilt from sinabs layers
with its integer parameters, run in the ``sinabs`` witness environment (sinabs_env.py).

The core never imports sinabs. It sends each core's layer (kernel, bias, stride, padding,
thresholds, reset, sources and their pooling) and the input events to ``sinabs_runner.run`` in
that environment (:func:`nrf_deploy.witness.call`: a fresh process, ``.npz`` in and out), which
builds the layers sinabs' ``DynapcnnNetwork`` deploys (``SumPool2d``, ``Conv2d``, ``IAFSqueeze``
with ``MultiSpike``) and answers spikes and ``v_mem`` per layer. The runner imports neither
``samna`` nor ``sinabs.backend.dynapcnn`` and says so in every answer; an answer where one of them
was imported is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from nrf_deploy.targets.speck.format import STATE_MAX, SpeckLayer, SpeckProgram

from nrf_deploy.errors import NrfError
from nrf_deploy.trace import Trace
from nrf_deploy.witness import call

ENV = "sinabs"
RUNNER = Path(__file__).with_name("sinabs_runner.py")


def _layer(L: SpeckLayer) -> dict[str, Any]:
    return {
        "name": L.name,
        "in_shape": [int(s) for s in L.in_shape],
        "stride": [int(s) for s in L.stride],
        "padding": [int(s) for s in L.padding],
        "threshold_high": int(L.threshold_high),
        "threshold_low": int(L.threshold_low),
        "return_to_zero": bool(L.return_to_zero),
        "sources": [[s.name, int(s.pool)] for s in L.sources],
    }


def witness_request(program: SpeckProgram, x: np.ndarray, record_states: bool) -> dict[str, Any]:
    """The runner's request: every layer (JSON) with its int64 kernel and bias, the input events
    ``x`` int64 ``[T, B, *input_shape]``, the 16-bit state bound and whether v is recorded."""
    request: dict[str, Any] = {
        "x": np.asarray(x, dtype=np.int64),
        "input_name": program.input_name,
        "input_chw": [int(s) for s in program.input_chw],
        "state_max": int(STATE_MAX),
        "record_states": bool(record_states),
        "layers": [_layer(L) for L in program.layers],
    }
    for i, L in enumerate(program.layers):
        request[f"layer/{i}/weight"] = np.asarray(L.weight, dtype=np.int64)
        request[f"layer/{i}/bias"] = np.asarray(L.bias, dtype=np.int64)
    return request


def run_sinabs(program: SpeckProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    """Run ``x [T, B, *input_shape]`` through sinabs layers; spikes and ``v_mem`` per layer."""
    steps, batch = x.shape[:2]
    answer = call(
        ENV,
        RUNNER,
        "run",
        witness_request(program, x, record_states),
        what=f"sinabs witness ({batch} sample{'s' if batch != 1 else ''} x {steps} steps)",
    )
    return witness_trace(program, x, answer, record_states)


def witness_trace(
    program: SpeckProgram, x: np.ndarray, answer: dict[str, Any], record_states: bool
) -> Trace:
    """The runner's answer as a trace: spikes (and v) per layer, and the input events."""
    refuse_forbidden(answer)
    outputs = {L.name: answer[f"s/{i}"].astype(np.int64) for i, L in enumerate(program.layers)}
    states = (
        {L.name: {"v": answer[f"v/{i}"].astype(np.int64)} for i, L in enumerate(program.layers)}
        if record_states
        else {}
    )
    outputs[program.input_name] = np.asarray(x, dtype=np.int64)
    return Trace(outputs, states)


def refuse_forbidden(answer: dict[str, Any]) -> None:
    """NrfError when the witness process imported samna or ``sinabs.backend.dynapcnn``."""
    bad = list(answer.get("forbidden_modules", []))
    if bad:
        raise NrfError(
            f"the sinabs witness imported {', '.join(bad)} (samna from the registry is a stub "
            "that reaches the network)",
            "sinabs witness environment",
            "report it: the sinabs runner must use sinabs.layers only",
        )
