"""Spike-for-spike, state-for-state comparison of independent implementations.

:func:`compare` finds every mismatch between two traces and the first divergence (earliest
timestep, then schedule order); :func:`verify_deployment` runs a target's backends on the same
inputs and collects the verdict that ``nrf-deploy verify`` prints and writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from nrf_deploy.target import Deployment, Target
from nrf_deploy.trace import Trace


@dataclass
class Divergence:
    """Where two implementations first disagree (timestep and sample are 0-based)."""

    sample: int
    timestep: int
    node: str
    variable: str
    neuron: list[int]
    values: dict[str, float]
    rank: tuple[int, ...] = field(default=(), repr=False)
    """(timestep, schedule position, 0 output / 1 state, variable index): orders divergences
    of one comparison; with (sample, neuron) it makes shard merges order-free (nrf_deploy.shard)."""

    def describe(self) -> str:
        a, b = self.values.items()
        return (
            f"sample {self.sample}, timestep {self.timestep}, node '{self.node}' "
            f"({self.variable}), neuron {tuple(self.neuron)}: {a[0]}={a[1]} vs {b[0]}={b[1]}"
        )


@dataclass
class Comparison:
    """Result of comparing backend `other` against `reference` over the same inputs."""

    reference: str
    other: str
    samples: int
    timesteps: int
    compared_values: int = 0
    mismatches: int = 0
    max_abs_error: float = 0.0
    per_variable: dict[str, int] = field(default_factory=dict)
    first: Divergence | None = None
    skipped: str = ""
    """Why `other` did not run (e.g. ``not installed: nrf-deploy witnesses install lava``); empty
    when it ran. A skipped comparison proves nothing and fails nothing."""

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["first"] is not None:
            d["first"].pop("rank")
        d["ok"] = None if self.skipped else self.ok
        if not self.skipped:
            d.pop("skipped")
        return d


def _variables(
    trace: Trace, selection: dict[str, tuple[str, ...]] | None
) -> Iterable[tuple[str, str, np.ndarray]]:
    for node, arr in trace.outputs.items():
        yield node, "out", arr
    for node, variables in trace.states.items():
        for var, arr in variables.items():
            if selection is None or var in selection.get(node, ()):
                yield node, var, arr


def compare(
    ref: Trace,
    other: Trace,
    ref_name: str,
    other_name: str,
    node_order: list[str],
    tolerance: float = 0.0,
    selection: dict[str, tuple[str, ...]] | None = None,
    spiking: frozenset[str] = frozenset(),
    rel_tolerance: float = 0.0,
) -> Comparison:
    """Compare every output and (selected) state present in both traces.

    A value mismatches when ``|a - b| > tolerance + rel_tolerance * S``, S being the largest
    magnitude the variable takes in either trace (its range: float summation-order errors scale
    with the magnitude of the summed terms, not of the result); outputs of the nodes in
    `spiking` and every integer array are compared exactly whatever the tolerance. Variables
    missing on `other` are skipped, not failures; a shape difference counts every element as a
    mismatch."""
    t_total, b_total = ref.timesteps, next(iter(ref.outputs.values())).shape[1]
    result = Comparison(ref_name, other_name, b_total, t_total)
    order = {name: i for i, name in enumerate(node_order)}
    best: tuple[int, ...] | None = None
    for index, (node, var, a) in enumerate(_variables(ref, selection)):
        b = other.outputs.get(node) if var == "out" else other.states.get(node, {}).get(var)
        if b is None:
            continue
        key = f"{node}/{var}"
        if a.shape != b.shape:
            result.per_variable[key] = int(a.size)
            result.mismatches += int(a.size)
            continue
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
        result.compared_values += int(a.size)
        if diff.size:
            result.max_abs_error = max(result.max_abs_error, float(diff.max()))
        exact = _is_binary(a) or _is_binary(b) or (var == "out" and node in spiking)
        if exact:
            bad = diff > 0.0
        else:
            scale = max(float(np.abs(a).max()), float(np.abs(b).max())) if a.size else 0.0
            bad = diff > tolerance + rel_tolerance * scale
        count = int(bad.sum())
        if not count:
            continue
        result.per_variable[key] = count
        result.mismatches += count
        first_t = int(np.argmax(bad.reshape(bad.shape[0], -1).any(axis=1)))
        flat_at_t = bad[first_t].reshape(-1)
        b_idx, *neuron = np.unravel_index(int(np.argmax(flat_at_t)), bad.shape[1:])
        rank = (first_t, order.get(node, len(order)), 0 if var == "out" else 1, index)
        if best is None or rank < best:
            best = rank
            result.first = Divergence(
                int(b_idx),
                first_t,
                node,
                var,
                [int(i) for i in neuron],
                {
                    ref_name: _scalar(a[(first_t, b_idx, *neuron)]),
                    other_name: _scalar(b[(first_t, b_idx, *neuron)]),
                },
                rank,
            )
    return result


def _is_binary(a: np.ndarray) -> bool:
    return a.dtype == np.bool_ or np.issubdtype(a.dtype, np.integer)


def _scalar(x: Any) -> float:
    x = np.asarray(x).item()
    return int(x) if float(x).is_integer() else float(x)


@dataclass
class VerifyResult:
    """Verdict of ``nrf-deploy verify``: one comparison per non-reference backend."""

    target: str
    comparisons: list[Comparison]
    traces: dict[str, Trace] = field(default_factory=dict)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per backend that ran in a witness environment: the environment, its Python and versions
    (:func:`nrf_deploy.witness.provenance`)."""

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.comparisons)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "target": self.target,
            "ok": self.ok,
            "comparisons": [c.to_dict() for c in self.comparisons],
        }
        if self.environments:
            d["witness_environments"] = self.environments
        return d

    def record(
        self,
        manifest_sha256: str | None,
        modified: str | None,
        inputs: dict[str, Any],
        approximations: list[str],
        rebuilt: bool = False,
    ) -> dict[str, Any]:
        """The content of ``verify-report.json``: the verdict bound to the export it was made on
        (`manifest_sha256`, :func:`nrf_deploy.seal.manifest_digest`); `modified` describes the
        changes when the export was verified with ``--allow-modified`` (None otherwise)."""
        return {
            **self.to_dict(),
            "manifest_sha256": manifest_sha256,
            "modified": modified,
            "rebuilt": bool(rebuilt),
            "inputs": inputs,
            "approximations": approximations,
        }

    def summary(self) -> str:
        lines = []
        for c in self.comparisons:
            if c.skipped:
                lines.append(f"{c.other:>12} vs {c.reference}: SKIPPED  {c.skipped}")
                continue
            verdict = "OK" if c.ok else "MISMATCH"
            lines.append(
                f"{c.other:>12} vs {c.reference}: {verdict}  {_n(c.samples, 'sample')} x "
                f"{_n(c.timesteps, 'step')}, {_n(c.compared_values, 'value')} compared, "
                f"{_n(c.mismatches, 'mismatch', 'mismatches')}"
            )
            if c.first is not None:
                lines.append(f"{'':>14}first divergence: {c.first.describe()}")
        return "\n".join(lines)


def _n(n: int, word: str, words: str | None = None) -> str:
    """``_n(1, "sample")`` -> "1 sample", ``_n(26296320, "value")`` -> "26,296,320 values"."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def run_batched(
    target: Target,
    deployment: Deployment,
    backend: str,
    x: np.ndarray,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> Trace:
    """Run a backend over ``x [T, N, ...]`` in batches of `batch_size` samples, joined on axis 1."""
    trace: Trace | None = None
    for start in range(0, x.shape[1], batch_size):
        part = target.run(deployment, backend, x[:, start : start + batch_size], record_states=True)
        trace = part if trace is None else trace.concat(part)
        if progress:
            progress(min(batch_size, x.shape[1] - start))
    assert trace is not None
    return trace


def verify_deployment(
    target: Target,
    deployment: Deployment,
    x: np.ndarray,
    witness_samples: int,
    batch_size: int = 32,
    backends: tuple[str, ...] | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> VerifyResult:
    """Run the reference and every other backend on `x` (the witness on its first
    `witness_samples` samples) and compare each against the reference."""
    names = backends or target.backend_names(deployment)
    witness = target.witness_for(deployment)
    ref_name, others = names[0], [b for b in names[1:]]
    skipped, environments = witness_environments(target, deployment, others)

    def tick(name: str) -> Callable[[int], None] | None:
        return (lambda n: progress(name, n)) if progress else None

    ref = run_batched(target, deployment, ref_name, x, batch_size, tick(ref_name))
    traces = {ref_name: ref}
    comparisons = []
    used = {}
    for name in others:
        n = witness_samples if name == witness else x.shape[1]
        if n <= 0:
            continue
        if name in skipped:
            comparisons.append(Comparison(ref_name, name, 0, x.shape[0], skipped=skipped[name]))
            continue
        trace = run_batched(target, deployment, name, x[:, :n], batch_size, tick(name))
        traces[name] = trace
        comparisons.append(compare_with_reference(target, deployment, ref, trace, ref_name, name))
        if name in environments:
            used[name] = environments[name]
    return VerifyResult(target.name, comparisons, traces, used)


def witness_environments(
    target: Target, deployment: Deployment, names: Iterable[str]
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """For the backends `names` that run in a witness environment (``Backend.env``): those whose
    environment is missing or stale, with what to do (``{backend: "not installed: nrf-deploy
    witnesses install lava"}``), and the installed ones' provenance (``{backend: {environment,
    python, versions, ...}}``)."""
    from nrf_deploy.witness.run import missing, provenance

    skipped: dict[str, str] = {}
    environments: dict[str, dict[str, Any]] = {}
    for name in names:
        env = target.backend(deployment, name).env
        if not env:
            continue
        reason = missing(env)
        if reason:
            skipped[name] = reason
        else:
            environments[name] = provenance(env)
    return skipped, environments


def compare_with_reference(
    target: Target, deployment: Deployment, ref: Trace, other: Trace, ref_name: str, name: str
) -> Comparison:
    """:func:`compare` `other` with the first samples of `ref` (as many as `other` holds), with
    the target's tolerances and compared variables and the export's schedule."""
    record = deployment.record
    n = next(iter(other.outputs.values())).shape[1] if other.outputs else 0
    return compare(
        take_samples(ref, n),
        other,
        ref_name,
        name,
        list(record.schedule),
        target.tolerance,
        target.compared_variables(deployment),
        record.spiking_nodes,
        target.rel_tolerance,
    )


def take_samples(trace: Trace, n: int) -> Trace:
    """The first `n` samples of every output and state of `trace`."""
    return Trace(
        {k: v[:, :n] for k, v in trace.outputs.items()},
        {node: {var: a[:, :n] for var, a in vs.items()} for node, vs in trace.states.items()},
        trace.output_names,
    )
