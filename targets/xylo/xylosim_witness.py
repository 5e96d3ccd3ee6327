"""The vendor's witness: SynSense's bit-exact C++ simulator ``xylosim`` 0.1.3 (``xylosim.v2``),
driven with the export's specification in the ``xylosim`` witness environment (xylosim_env.py).

The core never imports xylosim. It sends the specification the chip files hold (parsed by the
core: weights, decays, thresholds, biases, shifts, aliases) with the input spikes to
``xylosim_runner.run`` in that environment (:func:`nrf_deploy.witness.call`: a fresh process,
``.npz`` in and out), which builds the layer as rockpool's ``XyloSim.from_specification`` does
(without rockpool, whose ``devices`` package imports samna), runs each sample from
``reset_all()`` and answers the layer's recordings; :func:`~nrf_deploy.targets.xylo.format.
layer_trace` places them per population.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from nrf_deploy.targets.xylo.format import SPEC_ARRAYS, WEIGHT_SHIFTS, XyloProgram, layer_trace

from nrf_deploy.inputs import check_binary_spikes
from nrf_deploy.trace import Trace
from nrf_deploy.witness import call

ENV = "xylosim"
RUNNER = Path(__file__).with_name("xylosim_runner.py")


def witness_request(
    program: XyloProgram, x: np.ndarray, record_states: bool = True
) -> dict[str, Any]:
    """The runner's request: the specification's arrays (int64), weight shifts, aliases and the
    binary input ``x`` int64 ``[T, B, n_in]`` (the runner records every state anyway)."""
    x = check_binary_spikes(x, "Xylo", "each input channel carries spikes of the float model")
    steps, batch = x.shape[:2]
    request: dict[str, Any] = {k: np.asarray(getattr(program, k), np.int64) for k in SPEC_ARRAYS}
    request |= {k: int(getattr(program, k)) for k in WEIGHT_SHIFTS}
    request["aliases"] = [[int(a) for a in row] for row in program.aliases]
    request["x"] = np.asarray(x, dtype=np.int64).reshape(steps, batch, -1)
    return request


def run_xylosim(program: XyloProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    """Run every sample of binary ``x [T, B, *input_shape]`` through xylosim; int64 trace."""
    steps, batch = x.shape[:2]
    answer = call(
        ENV,
        RUNNER,
        "run",
        witness_request(program, x, record_states),
        what=f"xylosim witness ({batch} sample{'s' if batch != 1 else ''} x {steps} steps)",
    )
    return witness_trace(program, x, answer, record_states)


def witness_trace(
    program: XyloProgram, x: np.ndarray, answer: dict[str, Any], record_states: bool
) -> Trace:
    """The runner's whole-layer recordings placed per population (:func:`layer_trace`)."""
    return layer_trace(program, x, answer, record_states)
