"""The NIR node kinds nrf-deploy reads, as its own small typed dataclasses.

Modelled on the nir package's node classes (nir 1.0.4 for the fields and constructor order, nir
1.0.5 for CubaLI) so that graphs are built the same way (``LIF(tau, r, v_leak, v_threshold)``,
``Input({"input": np.array([C, H, W])})``), but owned here: the core imports no ``nir``, and the
installed nir's version never changes what a node means. The reader (load.py) builds these
classes from any nir 1.0.0-1.0.8 file; the writer (write.py) writes them as nir 1.0.4 did.

Units: time constants (``tau``, ``tau_syn``, ``tau_mem``) in seconds; voltages, thresholds,
resistances and weights in the model's own units. Parameters are numpy arrays of the neuron
shape (or scalars, broadcast by normalisation).

Reset rules are not fields: nir >= 1.0.6's ``v_reset`` is read into ``metadata["reset"]``
(``"subtract"``, nir 1.0.4's definition; ``"zero"``; or ``"value"`` with
``metadata["v_reset"]``), docs/semantics.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Shape = np.ndarray | Sequence[int] | None
"""A tensor shape without batch or time axes (e.g. ``np.array([2, 34, 34])``)."""


@dataclass(eq=False)
class NIRNode:
    """Base of every node: nodes compare by identity (as nir's do) and carry free-form
    ``metadata`` (plain values, nested dicts, arrays). The class name is the NIR type name."""

    metadata: dict[str, Any] = field(default_factory=dict, kw_only=True)


def _typed(value: Any, key: str) -> dict[str, np.ndarray | None]:
    """nir's shape argument: a ``{key: shape}`` dict, or a bare shape (array or sequence)."""
    if isinstance(value, dict):
        return dict(value)
    if value is None:
        return {key: None}
    return {key: value if isinstance(value, np.ndarray) else np.array(value)}


def _pair(value: Any) -> Any:
    """An int repeated for both spatial axes (nir 1.0.4's Conv2d does this); else unchanged."""
    return (value, value) if isinstance(value, int) else value


# --- graph structure ------------------------------------------------------------------------


@dataclass(eq=False)
class Input(NIRNode):
    """Graph input of shape ``input_type["input"]``."""

    input_type: dict[str, np.ndarray | None]

    def __post_init__(self) -> None:
        self.input_type = _typed(self.input_type, "input")

    @property
    def shape(self) -> np.ndarray | None:
        return self.input_type.get("input")


@dataclass(eq=False)
class Output(NIRNode):
    """Graph output of shape ``output_type["output"]``."""

    output_type: dict[str, np.ndarray | None]

    def __post_init__(self) -> None:
        self.output_type = _typed(self.output_type, "output")

    @property
    def shape(self) -> np.ndarray | None:
        return self.output_type.get("output")


@dataclass(eq=False)
class NIRGraph(NIRNode):
    """Named nodes joined by identity edges ``(source, target)``; a graph may be a node of
    another graph (a subgraph with one Input and one Output)."""

    nodes: dict[str, NIRNode]
    edges: list[tuple[str, str]]


# --- synapses and shape operations ----------------------------------------------------------


@dataclass(eq=False)
class Affine(NIRNode):
    """``y = weight @ x + bias``; weight ``[out, in]``, bias ``[out]``."""

    weight: np.ndarray
    bias: np.ndarray


@dataclass(eq=False)
class Linear(NIRNode):
    """``y = weight @ x``; weight ``[out, in]``."""

    weight: np.ndarray


@dataclass(eq=False)
class Scale(NIRNode):
    """``y = scale * x`` elementwise."""

    scale: np.ndarray


@dataclass(eq=False)
class Conv1d(NIRNode):
    """1-d convolution (PyTorch's ``conv1d``): weight ``[C_out, C_in / groups, K]``, bias
    ``[C_out]``; ``input_shape`` is the input's length (channels excluded) or None if unknown;
    ``padding`` an int or ``"same"``/``"valid"``."""

    input_shape: int | None
    weight: np.ndarray
    stride: int
    padding: int | str
    dilation: int
    groups: int
    bias: np.ndarray


@dataclass(eq=False)
class Conv2d(NIRNode):
    """2-d convolution (PyTorch's ``conv2d``): weight ``[C_out, C_in / groups, Kh, Kw]``, bias
    ``[C_out]``; ``input_shape`` is ``(H, W)`` or None if unknown; an int stride, padding or
    dilation means the same value on both axes (stored as a pair, as nir 1.0.4 did)."""

    input_shape: tuple[int, int] | None
    weight: np.ndarray
    stride: int | tuple[int, int]
    padding: int | tuple[int, int] | str
    dilation: int | tuple[int, int]
    groups: int
    bias: np.ndarray

    def __post_init__(self) -> None:
        self.stride, self.padding, self.dilation = (
            _pair(self.stride),
            _pair(self.padding),
            _pair(self.dilation),
        )


@dataclass(eq=False)
class Flatten(NIRNode):
    """Merge axes ``start_dim..end_dim`` (inclusive, counted without the batch axis) of an input
    of shape ``input_type["input"]`` (None if unknown)."""

    input_type: dict[str, np.ndarray | None] | None = None
    start_dim: int = 1
    end_dim: int = -1

    def __post_init__(self) -> None:
        self.input_type = _typed(self.input_type, "input")


@dataclass(eq=False)
class SumPool2d(NIRNode):
    """Sum over ``kernel_size`` windows (``(Kh, Kw)``, ``stride``, ``padding`` per axis)."""

    kernel_size: np.ndarray
    stride: np.ndarray
    padding: np.ndarray


@dataclass(eq=False)
class AvgPool2d(NIRNode):
    """Mean over ``kernel_size`` windows (``(Kh, Kw)``, ``stride``, ``padding`` per axis)."""

    kernel_size: np.ndarray
    stride: np.ndarray
    padding: np.ndarray


# --- neurons ----------------------------------------------------------------------------------


@dataclass(eq=False)
class I(NIRNode):  # NIR names the integrator "I"
    """Integrator: ``dv/dt = r I``; output ``v``."""

    r: np.ndarray


@dataclass(eq=False)
class IF(NIRNode):
    """Integrate-and-fire: ``dv/dt = r I``; spike when ``v > v_threshold``, then reset."""

    r: np.ndarray
    v_threshold: np.ndarray


@dataclass(eq=False)
class LI(NIRNode):
    """Leaky integrator: ``tau dv/dt = (v_leak - v) + r I`` (tau in seconds); output ``v``."""

    tau: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray


@dataclass(eq=False)
class LIF(NIRNode):
    """Leaky integrate-and-fire: ``tau dv/dt = (v_leak - v) + r I`` (tau in seconds); spike
    when ``v > v_threshold``, then reset."""

    tau: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray


@dataclass(eq=False)
class CubaLIF(NIRNode):
    """Current-based LIF: ``tau_syn di/dt = -i + w_in I``; ``tau_mem dv/dt = (v_leak - v) + r i``
    (time constants in seconds); spike when ``v > v_threshold``, then reset. A scalar ``w_in``
    becomes an array of the threshold's shape (as nir 1.0.4 did)."""

    tau_syn: np.ndarray
    tau_mem: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    w_in: np.ndarray | float = 1.0

    def __post_init__(self) -> None:
        self.w_in = np.ones_like(self.v_threshold) * self.w_in


@dataclass(eq=False)
class CubaLI(NIRNode):
    """Current-based leaky integrator (nir 1.0.5; a CubaLIF without spikes):
    ``tau_syn di/dt = -i + w_in I``; ``tau_mem dv/dt = (v_leak - v) + r i`` (seconds); output
    ``v``."""

    tau_syn: np.ndarray
    tau_mem: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    w_in: np.ndarray | float = 1.0


@dataclass(eq=False)
class Threshold(NIRNode):
    """Heaviside step: output 1 where ``x > threshold``, else 0 (stateless)."""

    threshold: np.ndarray
