"""Published hardware constants with their provenance, and the cost model interface.

Every figure a report prints traces back to a :class:`Constant` naming its source and whether it
was *measured* (silicon), *simulated* (pre-silicon or cycle model), *derived* (computed from
other figures) or *unpublished* (no figure exists; the value is None unless the user supplies
one with ``--energy-constant chip.name=value``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from nrf_deploy.errors import NrfError

KINDS = ("measured", "simulated", "derived", "unpublished", "user")


@dataclass(frozen=True)
class Constant:
    name: str
    value: float | None
    unit: str
    source: str
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "source": self.source, "kind": self.kind}


@dataclass(frozen=True)
class HardwareProfile:
    """A chip's constants and its cost model ``estimate(counts, resources, constants) -> dict``."""

    chip: str
    constants: dict[str, Constant]
    estimate: Callable[[dict, dict, dict[str, Constant]], dict]
    notes: str = ""

    def with_overrides(self, overrides: dict[str, float]) -> "HardwareProfile":
        constants = dict(self.constants)
        for name, value in overrides.items():
            if name not in constants:
                raise NrfError(f"unknown constant '{self.chip}.{name}'", "--energy-constant",
                               f"known: {', '.join(f'{self.chip}.{k}' for k in constants)}")
            constants[name] = replace(constants[name], value=value, kind="user", source="supplied by the user")
        return replace(self, constants=constants)

    def run(self, counts: dict, resources: dict) -> dict:
        result = self.estimate(counts, resources, self.constants)
        result["constants"] = {k: c.to_dict() for k, c in self.constants.items()}
        return result


def parse_overrides(items: list[str]) -> dict[str, dict[str, float]]:
    """``["loihi.sop_energy_pj=20"]`` -> ``{"loihi": {"sop_energy_pj": 20.0}}``."""
    out: dict[str, dict[str, float]] = {}
    for item in items:
        try:
            key, value = item.split("=", 1)
            chip, name = key.split(".", 1)
            out.setdefault(chip, {})[name] = float(value)
        except ValueError:
            raise NrfError(f"cannot parse '{item}'", "--energy-constant", "write CHIP.NAME=VALUE, e.g. loihi.sop_energy_pj=20") from None
    return out


def load_profile(target: str) -> HardwareProfile | None:
    """The profile in ``nrf_deploy.targets.<target>.profile`` (None if the target has none)."""
    import importlib

    try:
        return importlib.import_module(f"nrf_deploy.targets.{target}.profile").PROFILE
    except ModuleNotFoundError:
        return None


def value(constants: dict[str, Constant], name: str) -> float | None:
    return constants[name].value
