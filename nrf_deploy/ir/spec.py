"""One spec per NIR primitive: its file fields, float parameters, state and the nir version that
introduced it. The reader (load.py), normalisation, the float executor and the targets' refusals
take these facts from here.

nir versions (checked on the PyPI releases' node dataclasses): 1.0.0 defines every node below
except AvgPool2d (1.0.3) and CubaLI (1.0.5); 1.0.4 (the version sinabs 3.1.3 and rockpool 3.1.0
pin) has the typing fields; 1.0.6 adds ``v_reset`` to IF, LIF and CubaLIF with the rule "after a
spike v is set to v_reset" (before it, nir defined the reset as a subtraction of the threshold;
docs/semantics.md). 1.0.8 adds nothing to these nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np

NEWEST_NIR = "1.0.8"
"""Newest nir release whose files nrf-deploy reads (fields and nodes checked against it)."""


@dataclass(frozen=True)
class Primitive:
    """Facts about one NIR node kind."""

    kind: str
    params: tuple[str, ...] = ()
    """Float parameters broadcast to the neuron shape (neurons) or kept as given (synapses)."""
    fields: tuple[str, ...] = ()
    """Other fields a file may carry (geometry, shapes)."""
    states: tuple[str, ...] = ()
    """State variables carried from one step to the next (float executor, ONNX, traces)."""
    spiking: bool = False
    """Output is spikes (then a reset rule applies)."""
    added: dict[str, str] = field(default_factory=dict)
    """Fields added after nir 1.0.4 -> the nir version that introduced them."""
    since: str = "1.0.0"
    """nir version that introduced the node."""

    @property
    def stateful(self) -> bool:
        return bool(self.states)

    def known_fields(self) -> frozenset[str]:
        return frozenset(self.params) | frozenset(self.fields) | frozenset(self.added)


_TYPING = ("input_type", "output_type")
SPECS: dict[str, Primitive] = {
    p.kind: p
    for p in (
        Primitive("Input", fields=("shape", "input_type")),
        Primitive("Output", fields=("shape", "output_type")),
        Primitive("Affine", params=("weight", "bias"), fields=_TYPING),
        Primitive("Linear", params=("weight",), fields=_TYPING),
        Primitive("Scale", params=("scale",), fields=_TYPING),
        Primitive(
            "Conv1d",
            params=("weight", "bias"),
            fields=("stride", "padding", "dilation", "groups", "input_shape", *_TYPING),
        ),
        Primitive(
            "Conv2d",
            params=("weight", "bias"),
            fields=("stride", "padding", "dilation", "groups", "input_shape", *_TYPING),
        ),
        Primitive("Flatten", fields=("start_dim", "end_dim", *_TYPING)),
        Primitive("SumPool2d", fields=("kernel_size", "stride", "padding", *_TYPING)),
        Primitive(
            "AvgPool2d", fields=("kernel_size", "stride", "padding", *_TYPING), since="1.0.3"
        ),
        Primitive("I", params=("r",), fields=_TYPING, states=("v",)),
        Primitive(
            "IF",
            params=("r", "v_threshold"),
            fields=_TYPING,
            states=("v",),
            spiking=True,
            added={"v_reset": "1.0.6"},
        ),
        Primitive("LI", params=("tau", "r", "v_leak"), fields=_TYPING, states=("v",)),
        Primitive(
            "LIF",
            params=("tau", "r", "v_leak", "v_threshold"),
            fields=_TYPING,
            states=("v",),
            spiking=True,
            added={"v_reset": "1.0.6"},
        ),
        Primitive(
            "CubaLIF",
            params=("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "w_in"),
            fields=_TYPING,
            states=("i", "v"),
            spiking=True,
            added={"v_reset": "1.0.6"},
        ),
        Primitive(
            "CubaLI",
            params=("tau_syn", "tau_mem", "r", "v_leak", "w_in"),
            fields=_TYPING,
            states=("i", "v"),
            since="1.0.5",
        ),
        Primitive("Threshold", params=("threshold",), fields=_TYPING, spiking=True),
    )
}
"""Every node kind nrf-deploy reads (NIRGraph, the container, is handled by the reader)."""

KNOWN_UNSUPPORTED = {
    "Delay": "synaptic delays are not executed yet; fold them into the model or remove the node",
}
"""NIR node kinds that exist in nir <= 1.0.8 but that nrf-deploy refuses, with what to do."""

NEURON_KINDS = tuple(k for k, p in SPECS.items() if p.stateful or k in ("Threshold", "Scale"))
STATEFUL_KINDS = frozenset(k for k, p in SPECS.items() if p.stateful)
SPIKING_KINDS = frozenset(k for k, p in SPECS.items() if p.spiking)
RESET_KINDS = frozenset(k for k, p in SPECS.items() if "v_reset" in p.added)
TIME_CONSTANTS = ("tau", "tau_syn", "tau_mem")


@dataclass(eq=False)
class CubaLI(nir.NIRNode):
    """nir 1.0.5's current-based leaky integrator (a CubaLIF without spikes), for nir 1.0.4.

    ``tau_syn di/dt = -i + w_in I``; ``tau_mem dv/dt = (v_leak - v) + r i``; output ``v``.
    Time constants in seconds."""

    tau_syn: np.ndarray
    tau_mem: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    w_in: np.ndarray = 1.0
    input_type: dict[str, np.ndarray] | None = None
    output_type: dict[str, np.ndarray] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        shape = np.asarray(self.r).shape
        self.input_type = {"input": np.array(shape)}
        self.output_type = {"output": np.array(shape)}


def node_class(kind: str) -> type:
    """The class that holds a node of `kind`: nir 1.0.4's, or this module's for newer kinds."""
    return CubaLI if kind == "CubaLI" else getattr(nir, kind)
