"""Recorded activity of one run: what every backend returns, so any two can be compared."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Trace:
    """Per-node recordings, every array shaped ``[T, B, *node_shape]`` (T in timesteps).

    ``outputs[node]`` is what the node sends on (spikes for spiking nodes, values otherwise);
    ``states[node][var]`` the node's state after the step (e.g. ``"v"``, ``"i"``/``"u"``).
    Float backends hold float arrays; integer backends hold int64 arrays in chip units.
    """

    outputs: dict[str, np.ndarray]
    states: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    output_names: tuple[str, ...] = ()

    @property
    def timesteps(self) -> int:
        return next(iter(self.outputs.values())).shape[0]

    def output(self, name: str | None = None) -> np.ndarray:
        """The graph output (the first Output node's input unless `name` is given)."""
        return self.outputs[name or self.output_names[0]]

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Flat ``{"out/<node>": ..., "state/<node>/<var>": ...}`` mapping for ``np.savez``."""
        flat = {f"{prefix}out/{k}": v for k, v in self.outputs.items()}
        for node, variables in self.states.items():
            for var, arr in variables.items():
                flat[f"{prefix}state/{node}/{var}"] = arr
        return flat

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], output_names: tuple[str, ...] = ()
    ) -> Trace:
        outputs: dict[str, np.ndarray] = {}
        states: dict[str, dict[str, np.ndarray]] = {}
        for key, arr in arrays.items():
            parts = key.split("/")
            if parts[0] == "out":
                outputs["/".join(parts[1:])] = np.asarray(arr)
            elif parts[0] == "state":
                states.setdefault("/".join(parts[1:-1]), {})[parts[-1]] = np.asarray(arr)
        return cls(outputs, states, output_names)

    def concat(self, other: Trace) -> Trace:
        """Join two traces along the batch axis (same nodes, same T)."""
        outputs = {
            k: np.concatenate([v, other.outputs[k]], axis=1) for k, v in self.outputs.items()
        }
        states = {
            n: {var: np.concatenate([a, other.states[n][var]], axis=1) for var, a in vs.items()}
            for n, vs in self.states.items()
        }
        return Trace(outputs, states, self.output_names)
