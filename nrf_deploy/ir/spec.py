"""One spec per NIR primitive, the single place a node kind is declared: its file fields, float
parameters, state, the nir version that introduced it, and its behaviour named as
``"module:function"`` (shape rule, float update, file reader). The reader (load.py),
normalisation, the float executor, lowering and the targets' refusals take these facts from here
(docs/architecture.md, "Adding a NIR primitive").

nir versions (checked on the PyPI releases' node dataclasses): 1.0.0 defines every node below
except AvgPool2d (1.0.3) and CubaLI (1.0.5); 1.0.4 (the version sinabs 3.1.3 and rockpool 3.1.0
pin) has the typing fields; 1.0.6 adds ``v_reset`` to IF, LIF and CubaLIF with the rule "after a
spike v is set to v_reset" (before it, nir defined the reset as a subtraction of the threshold;
docs/semantics.md). 1.0.8 adds nothing to these nodes.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nrf_deploy.ir import nodes

NEWEST_NIR = "1.0.8"
"""Newest nir release whose files nrf-deploy reads (fields and nodes checked against it)."""


Ref = str | Callable[..., Any]
"""A function or class, or ``"package.module:name"`` naming one (imported on first use)."""


@dataclass(frozen=True)
class Primitive:
    """Everything nrf-deploy's core knows about one NIR node kind. Behaviour is named as
    ``"module:function"`` text, resolved on first use (:func:`resolve`), so this module imports
    neither the normaliser nor torch."""

    kind: str
    shape_rule: Ref
    """``fn(node, in_shape | None, where) -> (normalised node, in_shape, out_shape)``: validates
    the node against its input and infers its output shape (normalise.py)."""
    update: Ref = ""
    """``fn(runner, node, x) -> y``: one float step of the node (executor.py); none for Input."""
    params: tuple[str, ...] = ()
    """Float parameters broadcast to the neuron shape (neurons) or kept as given (synapses)."""
    optional: tuple[str, ...] = ()
    """Parameters a file may omit (the node's reader or class supplies the default)."""
    fields: tuple[str, ...] = ()
    """Other fields a file may carry (geometry, shapes)."""
    states: tuple[str, ...] = ()
    """State variables carried from one step to the next (float executor, ONNX, traces)."""
    spiking: bool = False
    """Output is spikes (then a reset rule applies)."""
    elementwise: bool = False
    """Per-neuron parameters broadcast to one shape (output shape = input shape)."""
    added: dict[str, str] = field(default_factory=dict)
    """Fields added after nir 1.0.4 -> the nir version that introduced them."""
    since: str = "1.0.0"
    """nir version that introduced the node."""
    reader: Ref = ""
    """``fn(cls, values) -> node`` building the node from a file's fields when the generic
    ``node_class(**fields)`` does not fit (load.py); empty for the generic path."""
    node_class: Ref = ""
    """The class (or ``"module:Class"``) of the node object; empty for
    ``nrf_deploy.ir.nodes.<kind>``."""

    @property
    def stateful(self) -> bool:
        return bool(self.states)

    @property
    def resets(self) -> bool:
        """Carries a reset rule (``subtract``/``zero``/``value``, nir >= 1.0.6's ``v_reset``)."""
        return "v_reset" in self.added

    def known_fields(self) -> frozenset[str]:
        return frozenset(self.params) | frozenset(self.fields) | frozenset(self.added)

    def cls(self) -> type:
        """The class that holds a node of this kind."""
        return resolve(self.node_class) if self.node_class else getattr(nodes, self.kind)


def resolve(ref: Ref) -> Any:
    """The function or class `ref` names (itself if it is one)."""
    return ref if callable(ref) else _imported(ref)


@functools.cache
def _imported(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


_TYPING = ("input_type", "output_type")
_CONV = ("stride", "padding", "dilation", "groups", "input_shape", *_TYPING)
_POOL = ("kernel_size", "stride", "padding", *_TYPING)
_N, _X, _L = "nrf_deploy.ir.normalise:", "nrf_deploy.ir.executor:", "nrf_deploy.ir.load:"
_NEURON = {"shape_rule": _N + "neuron_shape", "elementwise": True, "fields": _TYPING}
_RESET = {"spiking": True, "added": {"v_reset": "1.0.6"}}
SPECS: dict[str, Primitive] = {
    p.kind: p
    for p in (
        Primitive(
            "Input", _N + "input_shape", fields=("shape", "input_type"), reader=_L + "read_input"
        ),
        Primitive(
            "Output",
            _N + "output_shape",
            _X + "identity",
            fields=("shape", "output_type"),
            reader=_L + "read_output",
        ),
        Primitive(
            "Affine",
            _N + "dense_shape",
            _X + "dense",
            params=("weight", "bias"),
            optional=("bias",),
            fields=_TYPING,
            reader=_L + "read_affine",
        ),
        Primitive("Linear", _N + "dense_shape", _X + "dense", params=("weight",), fields=_TYPING),
        Primitive("Scale", update=_X + "scale", params=("scale",), **_NEURON),
        *(
            Primitive(
                kind,
                _N + "conv_shape",
                _X + "conv",
                params=("weight", "bias"),
                fields=_CONV,
                reader=_L + "read_conv",
            )
            for kind in ("Conv1d", "Conv2d")
        ),
        Primitive(
            "Flatten",
            _N + "flatten_shape",
            _X + "flatten",
            fields=("start_dim", "end_dim", *_TYPING),
            reader=_L + "read_flatten",
        ),
        Primitive("SumPool2d", _N + "pool_shape", _X + "pool", fields=_POOL),
        Primitive("AvgPool2d", _N + "pool_shape", _X + "pool", fields=_POOL, since="1.0.3"),
        Primitive("I", update=_X + "integrator", params=("r",), states=("v",), **_NEURON),
        Primitive(
            "IF",
            update=_X + "integrate_and_fire",
            params=("r", "v_threshold"),
            states=("v",),
            **_NEURON,
            **_RESET,
        ),
        Primitive("LI", update=_X + "li", params=("tau", "r", "v_leak"), states=("v",), **_NEURON),
        Primitive(
            "LIF",
            update=_X + "lif",
            params=("tau", "r", "v_leak", "v_threshold"),
            states=("v",),
            **_NEURON,
            **_RESET,
        ),
        Primitive(
            "CubaLIF",
            update=_X + "cubalif",
            params=("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "w_in"),
            states=("i", "v"),
            **_NEURON,
            **_RESET,
        ),
        Primitive(
            "CubaLI",
            update=_X + "cubali",
            params=("tau_syn", "tau_mem", "r", "v_leak", "w_in"),
            optional=("w_in",),
            states=("i", "v"),
            since="1.0.5",
            **_NEURON,
        ),
        Primitive(
            "Threshold",
            update=_X + "threshold",
            params=("threshold",),
            spiking=True,
            **_NEURON,
        ),
    )
}
"""Every node kind nrf-deploy reads (NIRGraph, the container, is handled by the reader)."""

KNOWN_UNSUPPORTED = {
    "Delay": "synaptic delays are not executed yet; fold them into the model or remove the node",
}
"""NIR node kinds that exist in nir <= 1.0.8 but that nrf-deploy refuses, with what to do."""

NEURON_KINDS = tuple(k for k, p in SPECS.items() if p.elementwise)
"""Kinds with per-neuron parameters (neurons, Threshold, Scale); fixed at import, like the sets
below: the core's own checks ask ``SPECS[kind]`` so that a spec entry added later counts."""
STATEFUL_KINDS = frozenset(k for k, p in SPECS.items() if p.stateful)
SPIKING_KINDS = frozenset(k for k, p in SPECS.items() if p.spiking)
RESET_KINDS = frozenset(k for k, p in SPECS.items() if p.resets)
READOUT_KINDS = frozenset(k for k, p in SPECS.items() if p.stateful and not p.spiking)
"""Non-spiking neurons whose membrane is the output (LI, I, CubaLI)."""
TIME_CONSTANTS = ("tau", "tau_syn", "tau_mem")


def node_class(kind: str) -> type:
    """The class that holds a node of `kind` (:mod:`nrf_deploy.ir.nodes`, or the spec's own)."""
    return SPECS[kind].cls()
