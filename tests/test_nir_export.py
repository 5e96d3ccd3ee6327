"""Explicit NIR export of the RF-SNN (nrf_deploy.exporters.nir): the nir package's nir.read and type
checks accept it, parameters in seconds, and the round trip through the Foundation float executor
on 100 random inputs (identical spikes, read-out within 1e-5)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from nrf_deploy.exporters.nir import export_rf_snn, node_order, write_rf_snn

from nrf_deploy.errors import NrfError
from nrf_deploy.ir import load_graph, run_float
from nrf_deploy.ir.write import write_nir
from nrf_deploy.models import CONFIGS, RFSNN, build_model

TINY = CONFIGS["tiny"]


def _trained_like(cfg, seed: int) -> RFSNN:
    """An RF-initialised model with perturbed weights and biases (as after training)."""
    torch.manual_seed(seed)
    model = RFSNN(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * p.detach().abs().mean() * torch.randn_like(p))
    return model


def _events(steps: int, batch: int, size: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    rate = torch.rand(1, batch, 1, 1, 1, generator=gen) * 0.3  # a different density per input
    return (torch.rand(steps, batch, 2, size, size, generator=gen) < rate).float()


def test_written_graph_passes_nir_type_checks_and_holds_per_neuron_seconds(tmp_path):
    cfg = replace(TINY, dt=5e-4)
    model = _trained_like(cfg, 0)
    path = tmp_path / "model.nir"
    write_rf_snn(model, path)
    nir = pytest.importorskip("nir")  # the nir package reads the file and checks its types
    raw = nir.read(path)
    assert {k: type(n).__name__ for k, n in raw.nodes.items()} == {
        "input": "Input",
        "conv": "Conv2d",
        "lif": "LIF",
        "pool": "SumPool2d",
        "readout_conv": "Conv2d",
        "readout": "LI",
        "output": "Output",
    }
    assert sorted(raw.edges) == sorted(zip(node_order()[:-1], node_order()[1:]))
    raw.infer_types()
    assert raw.check_types()  # nir >= 1.0.5 (nir 1.0.4: _check_types)
    lif, li = raw.nodes["lif"], raw.nodes["readout"]
    hidden = (cfg.hidden_channels, cfg.hidden_size, cfg.hidden_size)
    assert lif.tau.shape == lif.r.shape == lif.v_leak.shape == lif.v_threshold.shape == hidden
    # temporal channel k holds tau_min * ratio^k timesteps, in seconds
    per_channel = lif.tau[:, 0, 0].reshape(cfg.temporal_channels, cfg.spatial_channels)
    np.testing.assert_allclose(
        per_channel, np.array([[2.0], [4.0]]) * 5e-4 * np.ones((1, cfg.spatial_channels)), rtol=1e-6
    )
    assert np.all(lif.tau == lif.tau[:, :1, :1]) and np.all(lif.v_threshold == cfg.threshold)
    assert lif.metadata["reset"] == "zero"
    np.testing.assert_allclose(li.tau, cfg.readout_tau_steps * 5e-4, rtol=1e-6)
    assert li.tau.shape == (3, cfg.map_size, cfg.map_size)
    assert raw.metadata["dt"] == pytest.approx(5e-4) and raw.metadata["decoder"] == "dsnt"
    assert raw.metadata["image_size"] == cfg.size
    assert json.loads(raw.metadata["rf_config"])["temporal_channels"] == cfg.temporal_channels
    graph = load_graph(path)  # the Foundation's validation
    assert graph.dt == pytest.approx(5e-4)


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_float_executor_reproduces_the_model_on_100_random_inputs(tmp_path, name):
    cfg = CONFIGS[name]
    model = _trained_like(cfg, 1)
    path = tmp_path / "model.nir"
    write_rf_snn(model, path)
    graph = load_graph(path)
    steps = 12 if name == "tiny" else 4
    x = _events(steps, 100, cfg.size, seed=2)
    with torch.no_grad():
        out, spikes = model(x, record=True)
    trace = run_float(graph, x.numpy())
    exec_spikes = np.asarray(trace.outputs["lif"])
    assert exec_spikes.shape == spikes.shape
    assert spikes.sum() > 1000 and (spikes == 0).sum() > 1000, (
        "a meaningful mix of spikes and silence"
    )
    per_input = (exec_spikes != spikes.numpy()).reshape(steps, 100, -1).sum(axis=(0, 2))
    assert per_input.tolist() == [0] * 100, "identical spikes for every input"
    readout = np.asarray(trace.outputs["readout"])
    np.testing.assert_array_equal(np.asarray(trace.output()), readout)
    assert np.abs(readout - out.numpy()).max() <= 1e-5
    assert np.abs(out.numpy()).max() > 0.1, "the read-out is not trivially zero"


def test_li_variant_round_trip(tmp_path):
    cfg = replace(TINY, neuron="li")
    model = _trained_like(cfg, 3)
    graph_nir = export_rf_snn(model)
    assert type(graph_nir.nodes["li"]).__name__ == "LI" and "lif" not in graph_nir.nodes
    path = tmp_path / "li.nir"
    write_nir(path, graph_nir)
    x = _events(8, 100, cfg.size, seed=4)
    with torch.no_grad():
        out, hidden = model(x, record=True)
    trace = run_float(load_graph(path), x.numpy())
    assert np.abs(np.asarray(trace.outputs["li"]) - hidden.numpy()).max() <= 1e-5
    assert np.abs(np.asarray(trace.outputs["readout"]) - out.numpy()).max() <= 1e-5


def test_uniform_model_exports_and_a_perturbed_graph_is_caught(tmp_path):
    model = build_model("uniform", TINY).eval()
    graph = export_rf_snn(model)
    x = _events(8, 20, TINY.size, seed=5)
    with torch.no_grad():
        out = model(x)
    trace = run_float(load_graph(graph), x.numpy())
    assert np.abs(np.asarray(trace.output()) - out.numpy()).max() <= 1e-5
    # the comparison can fail: a 1 % change of one time constant is visible in the read-out
    graph.nodes["readout"].tau = graph.nodes["readout"].tau * 1.01
    wrong = run_float(load_graph(graph), x.numpy())
    assert np.abs(np.asarray(wrong.output()) - out.numpy()).max() > 1e-5


def test_the_ann_is_not_exportable():
    with pytest.raises(NrfError, match="cannot be exported"):
        export_rf_snn(build_model("ann", TINY))
