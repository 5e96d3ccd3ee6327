"""The quantised network as a NIR graph in chip units (``model.q.nir`` of an export).

Each core becomes ``[SumPool2d per pooled source] -> Conv2d (integer kernel and bias) -> IF``
(``r = 1``, ``v_threshold = threshold_high``); Affine layers appear as the convolutions they run
as on the chip. IF nodes keep the source graph's names, carry ``metadata["reset"]`` and the Speck
registers (``speck_threshold_low``, ``speck_core``). A flat (N,) graph input is declared as
(N, 1, 1); flat outputs are flattened back before their Output node. Run with sinabs
semantics (MultiSpike, ``>=``, clamp at -threshold) it is the discretised model without the 16-bit
saturation: ``nrf-deploy run model.q.nir --semantics sinabs``, or ``sinabs.from_nir``.
"""

from __future__ import annotations

import numpy as np
from nrf_deploy.targets.speck.format import SpeckProgram

from nrf_deploy.ir.nodes import IF, Conv2d, Flatten, Input, NIRGraph, NIRNode, Output, SumPool2d


def quantised_nir(
    program: SpeckProgram,
    output_shapes: dict[str, tuple[int, ...]],
    outputs: dict[str, str],
    metadata: dict,
) -> NIRGraph:
    """`output_shapes`: graph shape per layer; `outputs`: Output node -> layer feeding it."""
    c, h, w = program.input_chw
    nodes: dict[str, NIRNode] = {program.input_name: Input({"input": np.array([c, h, w])})}
    edges: list[tuple[str, str]] = []
    for L in program.layers:
        conv = f"{L.name}.conv"
        nodes[conv] = Conv2d(
            input_shape=L.in_shape[1:],
            weight=L.weight.astype(np.float64),
            stride=L.stride,
            padding=L.padding,
            dilation=(1, 1),
            groups=1,
            bias=L.bias.astype(np.float64),
        )
        for s in L.sources:
            if s.pool > 1:
                pool = f"{s.name}.pool{s.pool}"
                nodes[pool] = SumPool2d(
                    kernel_size=np.array([s.pool] * 2),
                    stride=np.array([s.pool] * 2),
                    padding=np.array([0, 0]),
                )
                edges += [(s.name, pool)] if (s.name, pool) not in edges else []
                edges.append((pool, conv))
            else:
                edges.append((s.name, conv))
        shape = L.out_shape
        neuron = IF(r=np.ones(shape), v_threshold=np.full(shape, float(L.threshold_high)))
        neuron.metadata = {
            "reset": "zero" if L.return_to_zero else "subtract",
            "speck_threshold_low": int(L.threshold_low),
            "speck_core": int(L.core),
            "speck_scale": float(L.scale),
        }
        nodes[L.name] = neuron
        edges.append((conv, L.name))
    for out, layer in outputs.items():
        shape = output_shapes[layer]
        nodes[out] = Output({"output": np.array(shape)})
        if len(shape) == 1:
            flat = f"{layer}.flatten"
            nodes[flat] = Flatten({"input": np.array(program.layer(layer).out_shape)}, 0, -1)
            edges += [(layer, flat), (flat, out)]
        else:
            edges.append((layer, out))
    return NIRGraph(nodes=nodes, edges=edges, metadata=metadata)
