"""A SpiNNaker target whose emulator is deliberately wrong on marked samples, for the shard and
Ray tests (importable by Ray workers: the tests put this folder on their PYTHONPATH).

A sample is *marked* when every input of its first timestep is 1; the emulator's membrane
``v`` of the first population then reads one unit high at timestep FAULT_STEP, neuron 0. The
fault depends on the sample's data only, so every shard plan and engine must report it alike.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from nrf_deploy.targets.spinnaker import SpiNNakerTarget

FAULT_STEP = 3


def marked_samples(x: np.ndarray) -> np.ndarray:
    """Indices (along axis 1 of ``x [T, B, ...]``) of the marked samples."""
    return np.flatnonzero(x[0].reshape(x.shape[1], -1).all(axis=1))


class FaultySpiNNaker(SpiNNakerTarget):
    """`kill_once`: a file path; the first emulator call that finds it absent creates it and kills
    its own process (a worker lost mid-run). `raise_on_marked`: the emulator raises on a batch
    holding a marked sample (a shard that fails every time)."""

    def __init__(self, kill_once: str | None = None, raise_on_marked: bool = False):
        self.kill_once = kill_once
        self.raise_on_marked = raise_on_marked

    def run(self, deployment, backend, x, record_states=True):
        trace = super().run(deployment, backend, x, record_states)
        if backend != "emulator":
            return trace
        if self.kill_once and not Path(self.kill_once).exists():
            Path(self.kill_once).write_text(str(os.getpid()))
            os._exit(1)
        marked = marked_samples(x)
        if self.raise_on_marked and marked.size:
            raise RuntimeError("injected failure")
        first = next(iter(deployment.program.populations))
        v = trace.states[first]["v"]
        for b in marked:
            v[FAULT_STEP, b].reshape(-1)[0] += 1
        return trace
