"""Populations and projections: the matrices equal the stateless chains they stand for."""

from __future__ import annotations

import numpy as np
from graphs import recurrent_cubalif

from nrf_deploy.ir import load_graph
from nrf_deploy.ir import nodes as ir
from nrf_deploy.lowering import lower


def test_fixture_projections_reproduce_the_chain(fixture_path, rng):
    lowered = lower(load_graph(fixture_path))
    assert [p.name for p in lowered.populations] == ["input", "1", "3", "6", "10", "12"]
    kinds = {p.name: p.kinds for p in lowered.projections}
    assert kinds["3->6"] == ("SumPool2d", "Conv2d")
    assert kinds["6->10"] == ("SumPool2d", "Flatten", "Affine")
    assert lowered.outputs == {"output": "12"}
    import torch
    import torch.nn.functional as F

    graph = lowered.graph
    proj = next(p for p in lowered.projections if p.name == "3->6")
    x = rng.random((2, 16, 16, 16))
    conv = graph.nodes["5"].nir_node
    # independent statement of the chain with torch ops written out here
    pooled = F.avg_pool2d(torch.tensor(x), 2, 2) * 4
    expected = (
        F.conv2d(
            pooled,
            torch.tensor(conv.weight),
            torch.tensor(conv.bias),
            stride=1,
            padding=conv.padding,
        )
        .numpy()
        .reshape(2, -1)
    )
    got = (proj.matrix @ x.reshape(2, -1).T).T + proj.bias.reshape(1, -1)
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_bias_is_separated_from_the_matrix():
    g = ir.NIRGraph(
        nodes={
            "in": ir.Input({"input": np.array([2])}),
            "fc": ir.Affine(np.array([[1.0, 2.0], [3.0, -1.0]]), np.array([0.5, -0.25])),
            "s": ir.Scale(np.array([2.0, 4.0])),
            "li": ir.LI(np.full(2, 0.01), np.ones(2), np.zeros(2)),
            "out": ir.Output({"output": np.array([2])}),
        },
        edges=[("in", "fc"), ("fc", "s"), ("s", "li"), ("li", "out")],
    )
    (proj, _) = lower(load_graph(g)).projections
    np.testing.assert_allclose(proj.matrix.toarray(), [[2.0, 4.0], [12.0, -4.0]])
    np.testing.assert_allclose(proj.bias, [1.0, -1.0])


def test_recurrent_projection_is_marked_delayed():
    lowered = lower(load_graph(recurrent_cubalif()))
    delayed = {p.name: p.delayed for p in lowered.projections}
    assert delayed == {"in->cuba": False, "cuba->cuba": True, "cuba->out": False}
