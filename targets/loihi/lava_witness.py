"""Lava witness: the export's Lava network (lava_network.json + .npz, parsed by the core) run with
Lava's bit-accurate models in the ``lava`` witness environment (lava_env.py).

The core never imports Lava. It sends the network as the chip files describe it
(:func:`~nrf_deploy.targets.loihi.lava_network.describe_network` of the parsed files) with the
input spikes to ``lava_runner.run`` in that environment (:func:`nrf_deploy.witness.call`: a fresh
process, ``.npz`` in and out), which builds one ``LIF`` process per described process, one
``Dense``/``Sparse`` per connection and a ``RingBuffer`` source, runs them with
``Loihi2SimCfg(select_tag="fixed_pt")`` (in lava-nc 0.10.0 the Loihi 1 bit-accurate model) and
answers spikes and, read after each step, u and v. This module turns the answer into a
:class:`Trace`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from nrf_deploy.targets.loihi.lava_network import LavaNetwork, describe_network

from nrf_deploy.trace import Trace
from nrf_deploy.witness import call

ENV = "lava"
RUNNER = Path(__file__).with_name("lava_runner.py")


def witness_request(net: LavaNetwork, x: np.ndarray, record_states: bool) -> dict[str, Any]:
    """The runner's request: the network's description and arrays (``net/...``), the input
    spikes ``x`` int64 ``[T, B, n_in]`` and whether u and v are recorded."""
    description, arrays = describe_network(net)
    steps, batch = x.shape[:2]
    return {
        "network": description,
        "x": np.asarray(x, dtype=np.int64).reshape(steps, batch, -1),
        "record_states": bool(record_states),
        **{f"net/{k}": v for k, v in arrays.items()},
    }


def run_lava(program: LavaNetwork, x: np.ndarray, record_states: bool = True) -> Trace:
    """Run every sample of ``x [T, B, *input_shape]`` through Lava (one network per sample, in
    one process of the ``lava`` environment).

    With ``record_states=False`` and no read-out population, all timesteps run in one Lava call."""
    steps, batch = x.shape[:2]
    answer = call(
        ENV,
        RUNNER,
        "run",
        witness_request(program, x, record_states),
        what=f"Lava witness ({batch} sample{'s' if batch != 1 else ''} x {steps} steps)",
    )
    return witness_trace(program, x, answer, record_states)


def witness_trace(
    program: LavaNetwork, x: np.ndarray, answer: dict[str, Any], record_states: bool
) -> Trace:
    """The runner's answer as a trace: each population's spikes (its membrane v for a read-out
    population), u and v per population when `record_states`, and the input."""
    steps, batch = x.shape[:2]
    pops = program.populations
    outputs = {}
    for name, comp in pops.items():
        data = answer[f"v/{name}"] if comp.readout else answer[f"s/{name}"]
        outputs[name] = np.asarray(data, np.int64).reshape(steps, batch, *comp.shape)
    outputs[program.input_name] = np.asarray(x, dtype=np.int64).reshape(
        steps, batch, *program.input_shape
    )
    states = (
        {
            n: {
                var: np.asarray(answer[f"{var}/{n}"], np.int64).reshape(steps, batch, *c.shape)
                for var in ("u", "v")
            }
            for n, c in pops.items()
        }
        if record_states
        else {}
    )
    return Trace(outputs, states)
