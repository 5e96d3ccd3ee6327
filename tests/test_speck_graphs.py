"""Small NIR graphs for the Speck tests, built node by node with nrf_deploy.ir.nodes (independent
of the Speck code under test), and a check that their hand-computed shapes are right."""

from __future__ import annotations

import numpy as np

from nrf_deploy.ir import nodes as ir


def neuron(
    shape: tuple[int, ...],
    threshold: float = 1.0,
    reset: str = "subtract",
    lif_tau: float | None = None,
):
    """IF (or LIF with time constant `lif_tau` in seconds) with one threshold and a reset mode."""
    if lif_tau is None:
        n = ir.IF(np.ones(shape), np.full(shape, threshold))
    else:
        n = ir.LIF(
            np.full(shape, lif_tau), np.ones(shape), np.zeros(shape), np.full(shape, threshold)
        )
    n.metadata = {"reset": reset}
    return n


def branchy(
    seed: int = 0,
    channels: int = 3,
    size: int = 8,
    kernel: int = 3,
    weight_mean: float = 0.2,
    weight_scale: float = 1.0,
    bias: float = 0.05,
    reset: str = "subtract",
    pool: int = 2,
    lif_tau: float | None = None,
) -> ir.NIRGraph:
    """in -> c1 -> n1; n1 -> SumPool(pool) -> c2 -> n2; n1 -> c3 (stride pool) -> n3;
    n2 + n3 -> Flatten -> Affine -> n4 -> out. Fan-out 2 (n1), fan-in 2 (n4), pooling, strides,
    biases, a linear layer, negative weights."""
    rng = np.random.default_rng(seed)
    c, k = channels, kernel
    assert k % 2 == 1 and size % pool == 0, (
        "odd kernels and size divisible by the pooling keep n2 and n3 alike"
    )
    h1 = size  # 'same' convolution
    h2 = h1 // pool  # c3: kernel pool+1, stride pool, padding pool//2 gives h2 too

    def nrn(shape, thr=1.0):
        return neuron(shape, thr, reset, lif_tau)

    nodes = {
        "in": ir.Input({"input": np.array([2, size, size])}),
        "c1": ir.Conv2d(
            (size, size),
            rng.normal(weight_mean, weight_scale, (c, 2, k, k)),
            1,
            k // 2,
            1,
            1,
            rng.normal(0, bias, c),
        ),
        "n1": nrn((c, h1, h1)),
        "p": ir.SumPool2d(np.array([pool, pool]), np.array([pool, pool]), np.array([0, 0])),
        "c2": ir.Conv2d(
            (h2, h2), rng.normal(0, weight_scale, (c, c, 3, 3)), 1, 1, 1, 1, np.zeros(c)
        ),
        "n2": nrn((c, h2, h2)),
        "c3": ir.Conv2d(
            (h1, h1),
            rng.normal(0, weight_scale, (c, c, pool + 1, pool + 1)),
            pool,
            pool // 2,
            1,
            1,
            rng.normal(0, bias, c),
        ),
        "n3": nrn((c, h2, h2), 0.8),
        "f": ir.Flatten({"input": np.array([c, h2, h2])}, 0, -1),
        "fc": ir.Affine(rng.normal(0, weight_scale, (4, c * h2 * h2)), rng.normal(0, bias, 4)),
        "n4": nrn((4,), 0.7),
        "out": ir.Output({"output": np.array([4])}),
    }
    edges = [
        ("in", "c1"),
        ("c1", "n1"),
        ("n1", "p"),
        ("p", "c2"),
        ("c2", "n2"),
        ("n1", "c3"),
        ("c3", "n3"),
        ("n2", "f"),
        ("n3", "f"),
        ("f", "fc"),
        ("fc", "n4"),
        ("n4", "out"),
    ]
    return ir.NIRGraph(nodes=nodes, edges=edges)


def chain(
    layers: list[dict], in_shape: tuple[int, int, int] = (2, 8, 8), seed: int = 0
) -> ir.NIRGraph:
    """A feed-forward chain: each entry {"out": channels, "kernel", "stride", "padding",
    "pool_before"}
    becomes [SumPool2d] -> Conv2d -> IF. Shapes are computed here, independently of the code under
    test."""
    rng = np.random.default_rng(seed)
    nodes: dict = {"in": ir.Input({"input": np.array(in_shape)})}
    edges, prev, (c, h, w) = [], "in", in_shape
    for i, spec in enumerate(layers):
        if spec.get("pool_before", 1) > 1:
            p = spec["pool_before"]
            nodes[f"p{i}"] = ir.SumPool2d(np.array([p, p]), np.array([p, p]), np.array([0, 0]))
            edges.append((prev, f"p{i}"))
            prev, h, w = f"p{i}", h // p, w // p
        k, s, pad, f = (
            spec.get("kernel", 3),
            spec.get("stride", 1),
            spec.get("padding", 0),
            spec["out"],
        )
        nodes[f"c{i}"] = ir.Conv2d(
            (h, w), rng.normal(0.1, 0.5, (f, c, k, k)), s, pad, 1, 1, np.zeros(f)
        )
        h, w, c = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1, f
        nodes[f"n{i}"] = neuron((c, h, w))
        edges += [(prev, f"c{i}"), (f"c{i}", f"n{i}")]
        prev = f"n{i}"
    nodes["out"] = ir.Output({"output": np.array([c, h, w])})
    edges.append((prev, "out"))
    return ir.NIRGraph(nodes=nodes, edges=edges)


def test_builders_give_valid_graphs():
    """The builders' hand-computed shapes agree with the NIR loader's inference."""
    from nrf_deploy.ir import load_graph

    for pool in (2, 4):
        g = load_graph(branchy(1, 2, 8, 5, pool=pool))
        assert g.nodes["n2"].out_shape == g.nodes["n3"].out_shape == (2, 8 // pool, 8 // pool)
    g = load_graph(
        chain(
            [
                {"out": 3, "kernel": 3, "stride": 2, "padding": 1},
                {"out": 2, "kernel": 1, "pool_before": 2},
            ]
        )
    )
    assert g.nodes["n0"].out_shape == (3, 4, 4) and g.nodes["n1"].out_shape == (2, 2, 2)
