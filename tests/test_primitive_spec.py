"""Adding a NIR primitive is one spec entry (docs/architecture.md, "Adding a NIR primitive").

A toy primitive defined here, with its shape rule and float update, is registered by one
monkeypatched ``SPECS`` entry and goes through the file reader, normalisation, the scheduler
(recurrence), lowering and the float executor without any other file knowing it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from nrf_deploy.errors import GraphError
from nrf_deploy.ir import load_graph, run_float
from nrf_deploy.ir import nodes as ir
from nrf_deploy.ir.spec import SPECS, Primitive
from nrf_deploy.ir.write import write_nir
from nrf_deploy.lowering import lower


@dataclass(eq=False)
class Decay(ir.NIRNode):
    """Toy primitive: ``v = a * v + I`` per step, output ``v``."""

    a: np.ndarray


def decay_shape(node: Decay, in_shape: tuple[int, ...] | None, where: str):
    a = np.asarray(node.a, dtype=np.float64)
    if in_shape is None or a.shape != in_shape:
        raise GraphError(f"a has shape {a.shape}, input {in_shape}", where, "match them")
    return Decay(a=a), in_shape, in_shape


def decay_update(runner, node, x):
    state = runner.state[node.name]
    state["v"] = runner.params[node.name]["a"] * state["v"] + x
    return state["v"]


DECAY = Primitive(
    "Decay", decay_shape, decay_update, params=("a",), states=("v",), node_class=Decay
)
A = np.array([0.5, 0.25])


def _graph(recurrent: bool) -> ir.NIRGraph:
    nodes = {
        "in": ir.Input({"input": np.array([2])}),
        "decay": Decay(a=A),
        "out": ir.Output({"output": np.array([2])}),
    }
    edges = [("in", "decay"), ("decay", "out")]
    if recurrent:
        nodes["rec"] = ir.Linear(np.eye(2))
        edges += [("decay", "rec"), ("rec", "decay")]
    return ir.NIRGraph(nodes=nodes, edges=edges)


def test_unregistered_primitive_is_refused(tmp_path):
    write_nir(tmp_path / "toy.nir", _graph(recurrent=False))
    with pytest.raises(GraphError, match="unknown type 'Decay'"):
        load_graph(tmp_path / "toy.nir")


def test_one_spec_entry_runs_a_new_primitive(tmp_path, monkeypatch):
    monkeypatch.setitem(SPECS, "Decay", DECAY)
    write_nir(tmp_path / "toy.nir", _graph(recurrent=False))
    graph = load_graph(tmp_path / "toy.nir")
    node = graph.nodes["decay"]
    assert (node.kind, node.in_shape, node.out_shape, node.stateful) == ("Decay", (2,), (2,), True)
    assert [p.name for p in lower(graph).populations] == ["in", "decay"]

    trace = run_float(graph, np.ones((4, 1, 2)), record_states=True)
    expected = [[1.0, 1.0], [1.5, 1.25], [1.75, 1.3125], [1.875, 1.328125]]  # v = a v + 1
    np.testing.assert_array_equal(trace.outputs["out"][:, 0], expected)
    np.testing.assert_array_equal(trace.states["decay"]["v"][:, 0], expected)


def test_new_primitive_closes_a_loop_and_its_shape_rule_is_used(monkeypatch):
    monkeypatch.setitem(SPECS, "Decay", DECAY)
    graph = load_graph(_graph(recurrent=True))
    assert graph.delayed_edges == {("rec", "decay")}  # stateful per its spec: the loop is legal
    trace = run_float(graph, np.ones((3, 1, 2)))
    # v_t = a v_{t-1} + 1 + v_{t-1} (the identity loop delivers last step's v)
    expected = [[1.0, 1.0], [2.5, 2.25], [4.75, 3.8125]]
    np.testing.assert_array_equal(trace.outputs["out"][:, 0], expected)

    bad = _graph(recurrent=False)
    bad.nodes["decay"] = Decay(a=np.ones(3))
    with pytest.raises(GraphError, match=r"a has shape \(3,\), input \(2,\)"):
        load_graph(bad)
