"""Write the receptive-field SNN as an explicit NIR graph.

norse 1.1.0's ``to_nir`` is broken for this model (Flatten/pooling become None nodes, the dt bug
norse#411, scalar parameter shapes fail ``nir.read``), so the graph is built node by node:

    input -> conv (Conv2d) -> lif (LIF; "li", an LI node, for the LI variant) -> pool (SumPool2d)
          -> readout_conv (Conv2d) -> readout (LI) -> output

Every neuron parameter is a per-neuron array (time constants in **seconds**); the graph metadata
records ``dt`` (seconds per timestep), the host-side decoder (``"dsnt"``) and the input
``image_size`` (pixels); spiking nodes carry ``metadata["reset"] = "zero"`` (norse's reset).

The sparse spiking gesture CNN (:func:`export_gesture_cnn`, docs/gesture.md) is written the same
way: ``input -> conv1 -> if1 -> ... -> convN -> ifN -> flatten -> fc (Affine) -> if_out -> output``
(IF, or LIF for ``--neuron lif``; zero biases; reset to zero), metadata ``decoder`` =
``"spike-count argmax"``.
"""

from __future__ import annotations

import itertools
import json
import os

import numpy as np
import torch

from nrf_deploy.errors import NrfError
from nrf_deploy.fileio import atomic_path
from nrf_deploy.ir.nodes import (
    IF,
    LI,
    LIF,
    Affine,
    Conv2d,
    Flatten,
    Input,
    NIRGraph,
    NIRNode,
    Output,
    SumPool2d,
)
from nrf_deploy.ir.write import write_nir
from nrf_deploy.models.gesture import GestureCNN
from nrf_deploy.models.rf_snn import RFSNN


def node_order(neuron: str = "lif") -> tuple[str, ...]:
    """Node names of the exported graph, input to output."""
    return ("input", "conv", neuron, "pool", "readout_conv", "readout", "output")


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def export_rf_snn(model: torch.nn.Module) -> NIRGraph:
    """The deployable NIR graph of an :class:`RFSNN` (LIF or LI hidden layer).

    Raises :class:`NrfError` for models with operations NIR cannot express (the ReLU baseline)."""
    if not isinstance(model, RFSNN):
        raise NrfError(
            f"{type(model).__name__} cannot be exported to NIR",
            "export_rf_snn",
            "only the RF-SNN (kinds rf and uniform) is deployable; the ANN uses ReLU",
        )
    cfg = model.cfg
    w1, b1 = model.hidden_weights()
    w2, b2 = model.readout_weights()
    hidden = (cfg.hidden_channels, cfg.hidden_size, cfg.hidden_size)
    maps = (3, cfg.map_size, cfg.map_size)
    tau = np.broadcast_to(_np(model.tau), hidden).copy()
    if cfg.neuron == "lif":
        neuron = LIF(
            tau=tau,
            r=np.ones(hidden),
            v_leak=np.zeros(hidden),
            v_threshold=np.full(hidden, float(model.threshold)),
            metadata={"reset": "zero"},
        )
    else:
        neuron = LI(tau=tau, r=np.ones(hidden), v_leak=np.zeros(hidden))
    readout = LI(
        tau=np.full(maps, float(model.tau_readout)), r=np.ones(maps), v_leak=np.zeros(maps)
    )
    pool = SumPool2d(
        kernel_size=np.array([cfg.pool] * 2),
        stride=np.array([cfg.pool] * 2),
        padding=np.array([0, 0]),
    )
    nodes = {
        "input": Input({"input": np.array([2, cfg.size, cfg.size])}),
        "conv": Conv2d(
            input_shape=(cfg.size, cfg.size),
            weight=_np(w1),
            stride=cfg.stride,
            padding=cfg.kernel // 2,
            dilation=1,
            groups=1,
            bias=_np(b1),
        ),
        cfg.neuron: neuron,
        "pool": pool,
        "readout_conv": Conv2d(
            input_shape=(cfg.map_size, cfg.map_size),
            weight=_np(w2),
            stride=1,
            padding=cfg.readout_kernel // 2,
            dilation=1,
            groups=1,
            bias=_np(b2),
        ),
        "readout": readout,
        "output": Output({"output": np.array(maps)}),
    }
    order = node_order(cfg.neuron)
    edges = list(itertools.pairwise(order))
    metadata = {
        "dt": float(cfg.dt),
        "name": f"rf-snn-{cfg.neuron}",
        "decoder": "dsnt",
        "image_size": int(cfg.size),
        "outputs": "circle,square,triangle heat maps (LI membrane)",
        "source": "nrf-deploy RF-SNN (exporters/nir.py)",
        "rf_config": json.dumps(cfg.to_dict(), sort_keys=True),
    }
    return NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def write_rf_snn(model: torch.nn.Module, path: str | os.PathLike) -> NIRGraph:
    """Export `model` and write it to `path` atomically; returns the graph."""
    return write_graph(export_rf_snn(model), path)


def gesture_node_order(layers: int) -> tuple[str, ...]:
    """Node names of the gesture CNN's graph, input to output."""
    convs = [name for i in range(1, layers + 1) for name in (f"conv{i}", f"if{i}")]
    return ("input", *convs, "flatten", "fc", "if_out", "output")


def export_gesture_cnn(model: GestureCNN) -> NIRGraph:
    """The deployable NIR graph of a :class:`GestureCNN`: Conv2d/IF (or LIF) pairs, Flatten,
    Affine (zero bias) and an IF (LIF) output layer whose spike counts are the class scores.
    Every spiking node resets to zero; thresholds and time constants (seconds) per neuron."""
    if not isinstance(model, GestureCNN):
        raise NrfError(
            f"{type(model).__name__} is not a gesture CNN",
            "export_gesture_cnn",
            "pass the model `nrf-deploy train --config gesture` trained",
        )
    cfg = model.cfg
    order = gesture_node_order(len(model.convs))
    nodes: dict[str, NIRNode] = {"input": Input({"input": np.array([2, cfg.size, cfg.size])})}
    side = cfg.size
    for i, (conv, out_side) in enumerate(zip(model.convs, cfg.map_sizes), start=1):
        weight = _np(conv.weight)
        nodes[f"conv{i}"] = Conv2d(
            input_shape=(side, side),
            weight=weight,
            stride=conv.stride,
            padding=conv.padding,
            dilation=1,
            groups=1,
            bias=np.zeros(weight.shape[0]),
        )
        nodes[f"if{i}"] = _gesture_neuron(model, (weight.shape[0], out_side, out_side))
        side = out_side
    flat = (cfg.channels[-1], side, side)
    nodes["flatten"] = Flatten(input_type={"input": np.array(flat)}, start_dim=0, end_dim=-1)
    nodes["fc"] = Affine(weight=_np(model.fc.weight), bias=np.zeros(cfg.classes))
    nodes["if_out"] = _gesture_neuron(model, (cfg.classes,))
    nodes["output"] = Output({"output": np.array([cfg.classes])})
    metadata = {
        "dt": float(cfg.dt),
        "name": f"gesture-cnn-{cfg.neuron}",
        "decoder": "spike-count argmax",
        "image_size": int(cfg.size),
        "outputs": "motion-class spike counts (IF spikes; argmax over the summed counts)",
        "source": "nrf-deploy gesture CNN (exporters/nir.py)",
        "gesture_config": json.dumps(cfg.to_dict(), sort_keys=True),
    }
    return NIRGraph(nodes=nodes, edges=list(itertools.pairwise(order)), metadata=metadata)


def _gesture_neuron(model: GestureCNN, shape: tuple[int, ...]) -> NIRNode:
    """An IF (r = 1) or LIF (r = 1, v_leak = 0, tau in seconds) population resetting to zero."""
    threshold = np.full(shape, float(model.threshold))
    if model.cfg.neuron == "if":
        return IF(r=np.ones(shape), v_threshold=threshold, metadata={"reset": "zero"})
    return LIF(
        tau=np.full(shape, float(model.tau)),
        r=np.ones(shape),
        v_leak=np.zeros(shape),
        v_threshold=threshold,
        metadata={"reset": "zero"},
    )


def write_graph(graph: NIRGraph, path: str | os.PathLike) -> NIRGraph:
    """Write `graph` to `path` atomically; returns it."""
    with atomic_path(path) as tmp:
        write_nir(tmp, graph)
    return graph
