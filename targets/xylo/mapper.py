"""Place a lowered NIR graph on Xylo's input -> hidden (recurrent) -> output structure.

rockpool's design rules (``rockpool/devices/xylo/syns61201/xylo_mapper.py``): network outputs come
straight from neurons; read-out neurons are not recurrent and feed nothing; every neuron receives
through weights. On the chip the input channels reach only hidden neurons (``weights_in``),
hidden neurons reach hidden ones (``weights_rec``) and read-out ones (``weights_out``) one
timestep later (xylosim ``XyloLayer::evolve`` delivers last step's hidden spikes).

:func:`plan` finds every violation at once (the target raises them together), assigns hidden and
output neuron ids in schedule order, and computes each population's lag behind the float model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from nrf_deploy.targets.xylo.format import MAX_HIDDEN, MAX_INPUTS, MAX_OUTPUTS, Group

from nrf_deploy.lowering import Lowered

SPIKING = frozenset({"IF", "LIF", "CubaLIF"})
READOUT = frozenset({"LI", "I"})
SUPPORTED = SPIKING | READOUT


@dataclass
class Plan:
    """Where each population goes, its lag, and what does not fit (`problems`, one line each)."""

    groups: list[Group] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    timing: list[str] = field(default_factory=list)
    """Projections whose chip delay differs from the float model's (an approximation)."""

    def group(self, name: str) -> Group:
        return next(g for g in self.groups if g.name == name)


def plan(lowered: Lowered) -> Plan:
    """Check the structure and place every population (see the module docstring)."""
    graph, result = lowered.graph, Plan()
    n_in = int(np.prod(graph.input_shape))
    if n_in > MAX_INPUTS:
        result.problems.append(
            f"the input has {n_in} channels ({'x'.join(map(str, graph.input_shape))}); "
            f"Xylo Audio 2 has {MAX_INPUTS} input channels — reduce the input"
        )
    pops = [p for p in lowered.populations if p.kind != "Input"]
    feeds_output = {p.source for p in lowered.projections if graph.nodes[p.target].kind == "Output"}
    outputs = [p for p in pops if p.name in feeds_output]
    hidden = [p for p in pops if p.name not in feeds_output]
    for node in pops:
        if node.kind not in SUPPORTED:
            result.problems.append(
                f"node '{node.name}' is a {node.kind}: Xylo runs IF/LIF/CubaLIF neurons "
                "(and LI/Integrator read-outs) — replace it"
            )
    for proj in lowered.projections:
        _check_projection(lowered, proj, set(feeds_output), result.problems)
    for node in hidden:
        if node.kind in READOUT:
            result.problems.append(
                f"non-spiking population '{node.name}' ({node.kind}) feeds other neurons: "
                "Xylo's hidden neurons send spikes — use LI/Integrator only as read-out"
            )
    sizes = {p.name: int(np.prod(p.out_shape)) for p in pops}
    n_hid, n_out = sum(sizes[p.name] for p in hidden), sum(sizes[p.name] for p in outputs)
    if n_hid > MAX_HIDDEN:
        result.problems.append(
            f"{n_hid} hidden neurons ({', '.join(f'{p.name}: {sizes[p.name]}' for p in hidden)}); "
            f"Xylo Audio 2 has {MAX_HIDDEN} — shrink the hidden layers"
        )
    if n_out > MAX_OUTPUTS:
        result.problems.append(
            f"{n_out} read-out neurons "
            f"({', '.join(f'{p.name}: {sizes[p.name]}' for p in outputs)}); "
            f"Xylo Audio 2 has {MAX_OUTPUTS} — reduce the outputs"
        )
    lags = _lags(lowered)
    first = {"hidden": 0, "output": 0}
    for layer, nodes in (("hidden", hidden), ("output", outputs)):
        for node in nodes:
            start = first[layer]
            first[layer] += sizes[node.name]
            result.groups.append(
                Group(
                    node.name,
                    node.kind,
                    layer,
                    start,
                    first[layer],
                    node.out_shape,
                    node.kind in READOUT,
                    1.0,
                    lags.get(node.name, 0),
                )
            )
    result.timing = _timing(lowered, lags)
    return result


def _check_projection(lowered: Lowered, proj, outputs: set[str], problems: list[str]) -> None:
    graph = lowered.graph
    src, tgt = graph.nodes[proj.source], graph.nodes[proj.target]
    if tgt.kind == "Output":
        if proj.ops:
            problems.append(
                f"Output '{tgt.name}' is fed through {', '.join(proj.kinds)}: Xylo's outputs "
                "are neurons — end the graph with a neuron (LIF/CubaLIF, or LI for a read-out)"
            )
        elif src.kind == "Input":
            problems.append(
                f"Output '{tgt.name}' reads the input directly — put neurons in between"
            )
        return
    if src.name in outputs:
        problems.append(
            f"'{src.name}' feeds Output and population '{tgt.name}': Xylo's read-out neurons "
            "feed nothing — read the output from a population that only feeds Output"
        )
    if src.kind == "Input" and tgt.name in outputs:
        problems.append(
            f"the input feeds read-out population '{tgt.name}' directly: Xylo's input weights "
            "reach hidden neurons only — add a hidden layer"
        )


def _lags(lowered: Lowered) -> dict[str, int]:
    """Timesteps each population lags the float model: a projection from the input arrives in the
    same step, one from a hidden population a step later (less one for a recurrent edge, which the
    float model delays too). Longest path; cycles always contain a recurrent edge."""
    return lowered.longest_lags(0, lambda p: _chip_delay(lowered, p) - (1 if p.delayed else 0))[0]


def _chip_delay(lowered: Lowered, proj) -> int:
    return 0 if lowered.graph.nodes[proj.source].kind == "Input" else 1


def _timing(lowered: Lowered, lags: dict[str, int]) -> list[str]:
    notes = []
    for p in lowered.projections:
        if lowered.graph.nodes[p.target].kind == "Output":
            continue
        chip = _chip_delay(lowered, p)
        wanted = lags[p.target] - lags[p.source] + (1 if p.delayed else 0)
        if chip != wanted:
            notes.append(
                f"{p.name} arrives after {chip} step(s) on the chip; aligned with the float "
                f"model it would need {wanted}"
            )
    return notes
