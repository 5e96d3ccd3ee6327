"""NeuroBench runner: executed inside the ``neurobench`` witness environment (neurobench 2.3.0 on
torch), never imported by the core for its work; it imports only the standard library, numpy and,
inside the functions, torch and neurobench.

The core (:mod:`nrf_deploy.report.neurobench`) runs the float model as a torch module whose
synaptic layers are ``nn.Conv2d`` / ``nn.Linear`` and records, step by step, what enters each
synaptic layer and what leaves each neuron layer. It sends that declaratively:

* ``layers`` (JSON, in the module's registration order): ``{"name", "kind"}`` with kind
  ``"Conv2d"`` (plus ``stride``, ``padding``, ``dilation``, ``groups``), ``"Linear"`` or
  ``"neurons"`` (plus ``buffers``: the names of its constants);
* ``w/<name>``, ``b/<name>`` (float32): a synaptic layer's weight and bias (absent: none);
  ``buf/<name>/<buffer>`` (float32): a neuron layer's constants;
* ``calls`` (JSON): the layer names in the order one step calls them;
* ``in/<name>`` ``[T, B, ...]``: a synaptic layer's input at every step; ``out/<name>``
  ``[T, B, ...]``: a neuron layer's output (int8 where every value is a small integer, else
  float32; values are exact either way);
* ``samples``, ``steps`` (int).

Here the same module is rebuilt — the synaptic layers with their weights, each neuron layer as an
activation module that gives back its recorded output and holds its constants as float32 buffers
— and NeuroBench's own metrics run on it (``SynapticOperations``, ``ActivationSparsity``,
``Footprint``, ``ParameterCount``), its hooks seeing exactly the tensors they saw in-process.
"""

from __future__ import annotations

import numpy as np

VERSION = "2.3.0"


def _module(request: dict):
    """The torch module NeuroBench measures (see the module docstring)."""
    import torch
    from torch import nn

    class Replay(nn.Module):
        """A neuron layer: its recorded output at each call, its constants as buffers."""

        def __init__(self, outputs: np.ndarray, buffers: dict[str, np.ndarray]):
            super().__init__()
            self.outputs = torch.as_tensor(np.asarray(outputs, dtype=np.float32))
            self.calls = 0
            for key, value in buffers.items():
                self.register_buffer(key, torch.as_tensor(np.asarray(value, dtype=np.float32)))

        def forward(self, step: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            return self.outputs[int(step)]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.synapses = nn.ModuleDict()
            self.neurons = nn.ModuleDict()
            self.inputs = {}
            for spec in request["layers"]:
                name = spec["name"]
                if spec["kind"] == "neurons":
                    buffers = {b: request[f"buf/{name}/{b}"] for b in spec["buffers"]}
                    self.neurons[name] = Replay(request[f"out/{name}"], buffers)
                else:
                    self.synapses[name] = _connection(spec, request)
                    self.inputs[name] = torch.as_tensor(
                        np.asarray(request[f"in/{name}"], dtype=np.float32)
                    )
            self.steps = int(request["steps"])

        def forward(self, batch: torch.Tensor) -> torch.Tensor:
            last = None
            for t in range(self.steps):
                for name in request["calls"]:
                    if name in self.synapses:
                        self.synapses[name](self.inputs[name][t])
                    else:
                        last = self.neurons[name](torch.tensor(t))
            return last

    return Net(), Replay


def _connection(spec: dict, request: dict):
    import torch
    from torch import nn

    name = spec["name"]
    weight = torch.as_tensor(np.asarray(request[f"w/{name}"], dtype=np.float32))
    bias = request.get(f"b/{name}")
    if spec["kind"] == "Conv2d":
        groups = int(spec["groups"])
        layer = nn.Conv2d(
            weight.shape[1] * groups,
            weight.shape[0],
            tuple(weight.shape[2:]),
            stride=tuple(spec["stride"]),
            padding=tuple(spec["padding"]),
            dilation=tuple(spec["dilation"]),
            groups=groups,
            bias=bias is not None,
        )
    else:
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(torch.as_tensor(np.asarray(bias, dtype=np.float32)))
    return layer


def counts(request: dict) -> dict:
    """NeuroBench's figures per sample: ``effective_acs``, ``effective_macs``, ``dense_sops``
    (over all steps), ``per_layer`` (``{layer: {"effective", "dense", "op"}}``),
    ``activation_sparsity``, ``footprint_bytes``, ``parameters``, ``version``."""
    import torch
    from neurobench.metrics.static import Footprint, ParameterCount
    from neurobench.metrics.utils.layers import single_layer_MACs
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
    from neurobench.models import TorchModel

    torch.set_num_threads(1)
    net, replay = _module(request)
    samples = int(request["samples"])
    batch = torch.zeros(samples, net.steps)  # NeuroBench divides by its first dimension
    model = TorchModel(net)
    model.add_activation_module(replay)
    model.register_hooks()
    layer_of = {id(m): name for name, m in net.synapses.items()}
    with torch.no_grad():
        preds = model(batch)
        per_layer = {}
        for hook in model.connection_hooks:
            ops = dense = 0
            spiking = True
            for inputs in hook.inputs:
                spikes = inputs[0] if len(inputs) == 1 else inputs
                n, s = single_layer_MACs(spikes, hook.layer)
                dense += single_layer_MACs(spikes, hook.layer, total=True)[0]
                ops, spiking = ops + n, spiking and s
            per_layer[layer_of[id(hook.layer)]] = {
                "effective": float(ops) / samples,
                "dense": float(dense) / samples,
                "op": "AC" if spiking else "MAC",
            }
        data = (batch, None)
        synops = SynapticOperations()(model, preds, data)
        sparsity = ActivationSparsity()(model, preds, data)
    result = {
        "version": _version(),
        "effective_acs": float(synops["Effective_ACs"]),
        "effective_macs": float(synops["Effective_MACs"]),
        "dense_sops": float(synops["Dense"]),
        "per_layer": per_layer,
        "activation_sparsity": float(sparsity),
        "footprint_bytes": int(Footprint()(model)),
        "parameters": int(ParameterCount()(model)),
    }
    model.cleanup_hooks()
    return result


def check(request: dict) -> dict:
    """Linear(2 -> 1) with weights [1, 1] and a bias; inputs [1, 0] then [1, 1] (one sample, two
    steps); the neuron layer outputs 1 then 0 and holds one constant. NeuroBench must count 3
    effective ACs (1 + 2 nonzero inputs x 1 weight), 4 dense ops (2 weights x 2 steps),
    activation sparsity 0.5, 3 parameters and 16 bytes (3 float32 parameters + 1 buffer)."""
    req = {
        "layers": [
            {"name": "fc", "kind": "Linear"},
            {"name": "n", "kind": "neurons", "buffers": ["v_threshold"]},
        ],
        "w/fc": np.ones((1, 2), np.float32),
        "b/fc": np.zeros(1, np.float32),
        "buf/n/v_threshold": np.ones(1, np.float32),
        "calls": ["fc", "n"],
        "in/fc": np.array([[[1, 0]], [[1, 1]]], np.int8),
        "out/n": np.array([[[1]], [[0]]], np.int8),
        "samples": 1,
        "steps": 2,
    }
    got = counts(req)
    want = {
        "effective_acs": 3.0,
        "effective_macs": 0.0,
        "dense_sops": 4.0,
        "activation_sparsity": 0.5,
        "parameters": 3,
        "footprint_bytes": 16,
    }
    found = {k: got[k] for k in want}
    return {"ok": found == want, "reason": f"got {found}, expected {want}", "neurobench": VERSION}


def _version() -> str:
    from importlib.metadata import version

    return version("neurobench")
