"""Hardware profiles: published constants with their provenance, and the cost models using them.

Every figure a report prints traces back to a :class:`Constant` that names its source and whether
it was

* ``measured``   — on silicon (or, for the CPU baseline, on this machine),
* ``simulated``  — pre-silicon circuit/cycle simulation,
* ``derived``    — computed from other published figures or a documented configuration,
* ``unpublished``— no published figure exists (value None),
* ``unset``      — a figure may exist but nrf-deploy has not collected one from a primary source
  (value None),
* ``user``       — supplied on the command line (``--energy-constant chip.name=value``).

A profile module (``nrf_deploy.targets.<target>.profile``) exports ``PROFILES``: one
:class:`HardwareProfile` per chip generation the target's deployment can be costed on (e.g. Loihi 1
and Loihi 2 for the ``loihi`` target). A profile's cost model fills a :class:`Ledger` with energy
and latency *terms*, each ``count x constant``, so every joule and second in ``report.json`` names
the count it came from and the constant's source. A term whose constant is None makes the total
"not available" and the report says which constant to supply — nrf-deploy never invents one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from nrf_deploy.errors import NrfError

KINDS = ("measured", "simulated", "derived", "unpublished", "unset", "user")
NO_VALUE_KINDS = ("unpublished", "unset")

UNITS_SI = {
    "pJ": 1e-12,
    "nJ": 1e-9,
    "uJ": 1e-6,
    "mJ": 1e-3,
    "J": 1.0,
    "ns": 1e-9,
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "mW": 1e-3,
    "W": 1.0,
}
"""Factors to SI (joules, seconds, watts) for the units constants are quoted in."""


@dataclass(frozen=True)
class Constant:
    """One published hardware figure. `value` is in `unit` (None when unpublished/unset)."""

    value: float | None
    unit: str
    description: str
    source: str
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"constant kind must be one of {KINDS}, not {self.kind!r}")
        if self.kind in NO_VALUE_KINDS and self.value is not None:
            raise ValueError(f"an {self.kind} constant has no value")
        if self.unit not in UNITS_SI and self.unit not in ("count", "cores", "neurons"):
            raise ValueError(f"unknown unit {self.unit!r}")

    @property
    def si(self) -> float | None:
        """The value in SI units (J, s, W), or None."""
        return None if self.value is None else self.value * UNITS_SI.get(self.unit, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "unit": self.unit,
            "description": self.description,
            "source": self.source,
            "kind": self.kind,
        }


@dataclass
class Ledger:
    """What a cost model computes for one deployment on one chip: terms of ``count x constant``.

    Energies are joules per inference, latencies seconds per inference. A cost model adds terms
    with :meth:`energy` and :meth:`latency`; :meth:`result` sums them (None if any constant of
    a summed term is missing) and lists the missing constants by their CLI name."""

    chip: str
    constants: dict[str, Constant]
    energy_terms: list[dict[str, Any]] = field(default_factory=list)
    latency_terms: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    """Further figures (not summed), e.g. a peak-power upper bound; each a term dict too."""
    latency_model: str = ""
    """How latency is modelled (one sentence)."""
    latency_basis: str = ""
    """The same in a few words, for the summary table."""
    notes: list[str] = field(default_factory=list)

    def value(self, key: str) -> float | None:
        """A constant's value in SI units (None if not available)."""
        return self.constants[key].si

    def add_constant(self, key: str, constant: Constant) -> None:
        """A constant known only at report time (e.g. a latency measured on this machine)."""
        self.constants[key] = constant

    def term(
        self, label: str, count_name: str, count: float, key: str, required: bool = True
    ) -> dict[str, Any]:
        """``count x constants[key]`` in SI units, with everything needed to trace it.

        A `required` term without a value makes the total unavailable; an optional one is left out
        of the total, which is then marked partial."""
        c = self.constants[key]
        si = c.si
        return {
            "label": label,
            "count_name": count_name,
            "count": float(count),
            "constant": f"{self.chip}.{key}",
            "constant_value": c.value,
            "unit": c.unit,
            "source": c.source,
            "kind": c.kind,
            "required": required,
            "value": None if si is None else float(count) * si,
        }

    def energy(
        self, label: str, count_name: str, count: float, key: str, required: bool = True
    ) -> None:
        self.energy_terms.append(self.term(label, count_name, count, key, required))

    def latency(
        self, label: str, count_name: str, count: float, key: str, required: bool = True
    ) -> None:
        self.latency_terms.append(self.term(label, count_name, count, key, required))

    def result(self) -> dict[str, Any]:
        missing = sorted(
            {t["constant"] for t in self.energy_terms + self.latency_terms if t["value"] is None}
        )
        out: dict[str, Any] = {"chip": self.chip}
        for what, terms in (("energy", self.energy_terms), ("latency", self.latency_terms)):
            total, status = _total(terms)
            out[f"{what}_{'j' if what == 'energy' else 's'}"] = total
            out[f"{what}_status"] = status
            out[f"{what}_terms"] = terms
        out.update(
            {
                "latency_model": self.latency_model,
                "latency_basis": self.latency_basis,
                "missing_constants": missing,
                "info": self.info,
                "notes": self.notes,
                "constants": {f"{self.chip}.{k}": c.to_dict() for k, c in self.constants.items()},
            }
        )
        return out


def _total(terms: list[dict[str, Any]]) -> tuple[float | None, str]:
    """Sum of the terms and its status: ``complete``, ``partial`` (optional terms without a value
    left out) or ``not available`` (a required term has no value, or there are no terms)."""
    if not terms or any(t["value"] is None and t["required"] for t in terms):
        return None, "not available"
    total = float(sum(t["value"] for t in terms if t["value"] is not None))
    return total, "complete" if all(t["value"] is not None for t in terms) else "partial"


CostModel = Callable[[Ledger, dict[str, Any], dict[str, Any]], None]
"""``model(ledger, counts, resources)``: add the energy/latency terms of one inference."""


@dataclass(frozen=True)
class HardwareProfile:
    """A chip generation: its constants (with sources) and its cost model."""

    chip: str
    """Short name used on the command line, e.g. ``loihi1`` (``--energy-constant
    loihi1.sop_pj=..``)."""
    title: str
    constants: dict[str, Constant]
    model: CostModel
    notes: str = ""

    def with_overrides(self, overrides: dict[str, float]) -> HardwareProfile:
        """The profile with user-supplied values (kind ``user``) for some constants."""
        constants = dict(self.constants)
        for name, val in overrides.items():
            if name not in constants:
                raise NrfError(
                    f"unknown constant '{self.chip}.{name}'",
                    "--energy-constant",
                    f"known constants of {self.chip}: "
                    f"{', '.join(f'{self.chip}.{k}' for k in constants)}",
                )
            old = constants[name]
            constants[name] = Constant(
                float(val),
                old.unit,
                old.description,
                f"supplied by the user (--energy-constant {self.chip}.{name}={val:g})",
                "user",
            )
        return replace(self, constants=constants)

    def evaluate(self, counts: dict[str, Any], resources: dict[str, Any]) -> dict[str, Any]:
        """Energy and latency per inference, every figure traced to its constants."""
        ledger = Ledger(self.chip, dict(self.constants))
        self.model(ledger, counts, resources)
        result = ledger.result()
        result["title"] = self.title
        if self.notes:
            result["notes"] = [self.notes, *result["notes"]]
        return result


def parse_overrides(items: list[str]) -> dict[str, dict[str, float]]:
    """``["loihi2.sop_pj=20"]`` -> ``{"loihi2": {"sop_pj": 20.0}}``."""
    out: dict[str, dict[str, float]] = {}
    for item in items:
        try:
            key, text = item.split("=", 1)
            chip, name = key.strip().split(".", 1)
            val = float(text)
        except ValueError:
            raise NrfError(
                f"cannot parse '{item}'",
                "--energy-constant",
                "write CHIP.NAME=VALUE in the constant's unit, e.g. loihi2.sop_pj=20",
            ) from None
        if not val >= 0 or val == float("inf"):
            raise NrfError(
                f"'{item}': a hardware constant must be a finite number >= 0",
                "--energy-constant",
                "give the value in the unit the report lists for it",
            )
        out.setdefault(chip, {})[name] = val
    return out


def load_profiles(target: str) -> list[HardwareProfile]:
    """The profiles in ``nrf_deploy.targets.<target>.profile`` ([] if the target has none)."""
    module_name = f"nrf_deploy.targets.{target}.profile"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return []
        raise
    except ImportError:  # the target package itself fails to import: no profile to offer
        return []
    profiles = getattr(module, "PROFILES", None)
    if profiles is None:
        profiles = [module.PROFILE] if hasattr(module, "PROFILE") else []
    return list(profiles)


def all_profiles(targets: list[str]) -> dict[str, HardwareProfile]:
    """Every chip profile of the given targets, by chip name."""
    return {p.chip: p for t in targets for p in load_profiles(t)}


def check_overrides(overrides: dict[str, dict[str, float]], targets: list[str]) -> None:
    """Refuse ``--energy-constant`` names that match no chip or constant (before any work)."""
    chips = all_profiles(targets)
    for chip, values in overrides.items():
        if chip not in chips:
            raise NrfError(
                f"unknown chip '{chip}' in --energy-constant",
                "--energy-constant",
                f"known chips: {', '.join(sorted(chips)) or 'none'}",
            )
        chips[chip].with_overrides(values)


def timestepped_latency(
    ledger: Ledger, counts: dict[str, Any], sop_key: str, update_key: str, barrier_key: str
) -> None:
    """Latency of a time-stepped many-core chip: per step, the slowest core's
    ``SOPs x t_sop + neuron updates x t_update``, plus one barrier synchronisation; summed over the
    steps of an inference (averaged over samples). Adds three latency terms to `ledger`.

    ``counts["cores"]`` holds ``sops`` ([T, B, C] synaptic events arriving at each core per step)
    and ``neurons`` ([C] neurons updated on each core every step)."""
    import numpy as np

    cores = counts.get("cores") or {}
    steps = int(counts["timesteps"])
    sops = np.asarray(cores.get("sops", np.zeros((steps, 1, 1))), dtype=np.float64)
    neurons = np.asarray(cores.get("neurons", np.zeros(sops.shape[-1])), dtype=np.float64)
    t_sop, t_upd = ledger.value(sop_key) or 0.0, ledger.value(update_key) or 0.0
    if sops.shape[-1] == 0:
        sops, neurons = np.zeros((*sops.shape[:2], 1)), np.zeros(1)
    critical = np.argmax(sops * t_sop + neurons * t_upd, axis=-1)  # [T, B]
    crit_sops = np.take_along_axis(sops, critical[..., None], axis=-1)[..., 0].sum(axis=0).mean()
    crit_updates = neurons[critical].sum(axis=0).mean()
    ledger.latency(
        "synaptic ops on the busiest core, summed over steps",
        "critical_core_sops",
        crit_sops,
        sop_key,
    )
    ledger.latency(
        "neuron updates on the busiest core, summed over steps",
        "critical_core_updates",
        crit_updates,
        update_key,
        required=False,
    )
    ledger.latency(
        "barrier synchronisation, once per step", "timesteps", steps, barrier_key, required=False
    )
    ledger.latency_model = (
        "time-stepped: per step max over cores of (SOPs x t_sop + updates x t_update) "
        f"+ barrier sync; {cores.get('mapping', 'no per-core mapping recorded')}"
    )
    ledger.latency_basis = "busiest core, every step"
