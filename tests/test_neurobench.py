"""NeuroBench 2.3.0's own counts (witness environment ``neurobench``) on the float model equal
nrf-deploy's counts (nrf_deploy/report/metrics.py) wherever the two define a quantity the same way;
where they differ (pooling, zero weights, graded read-outs) the difference is the one
docs/report.md states."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import need_witness

from nrf_deploy.inputs import random_events
from nrf_deploy.ir import load_graph, run_float
from nrf_deploy.ir import nodes as ir
from nrf_deploy.ir.write import write_nir
from nrf_deploy.report.metrics import activity_counts
from nrf_deploy.report.neurobench import neurobench_counts


@pytest.fixture(scope="module")
def nb_env():
    need_witness("neurobench")


NO_MAPPING = SimpleNamespace(
    dt=None, source_fingerprint=None, slices_of=lambda name: [], core_mapping=""
)
# fixture connection node -> nrf-deploy projection (typed in from the fixture's structure)
FIXTURE_LAYERS = {"0": "input->1", "2": "1->3", "5": "3->6", "9": "6->10", "11": "10->12"}
POOLED = {"5", "9"}  # a SumPool2d sits before these two layers


def nrf_counts(graph, x):
    trace = run_float(graph, x)
    return activity_counts(graph, trace, x, NO_MAPPING), trace


@pytest.fixture(scope="module")
def fixture_counts(nb_env, fixture_path):
    graph = load_graph(fixture_path)
    x = random_events(graph.input_shape, 12, 3, 0.1, 0)
    counts, trace = nrf_counts(graph, x)
    return graph, trace, counts, neurobench_counts(graph, x)


def test_the_torch_module_neurobench_measures_is_the_float_model(fixture_counts):
    graph, trace, _, nb = fixture_counts
    np.testing.assert_array_equal(nb["readout"], trace.outputs[graph.output_names[0]])


def test_fixture_counts_equal_where_defined_alike(fixture_counts):
    _, _, counts, nb = fixture_counts
    ours = {p["name"]: p for p in counts["projections"]}
    assert set(nb["per_layer"]) == set(FIXTURE_LAYERS)
    for layer, name in FIXTURE_LAYERS.items():
        theirs = nb["per_layer"][layer]
        assert ours[name]["effective_sops"] > 0
        if layer in POOLED:
            # NeuroBench counts after the pooling: a nonzero pooled value is one input (binarised),
            # its values (0..4 spikes) are graded, so MACs; nrf-deploy counts every spike x the
            # fan-out of the composed pool+conv matrix, as ACs.
            assert theirs["op"] == "MAC" and ours[name]["op"] == "AC"
            assert 0 < theirs["effective"] < ours[name]["effective_sops"]
            assert theirs["dense"] < ours[name]["dense_sops"]
        else:
            assert theirs["op"] == ours[name]["op"] == "AC"
            assert theirs["effective"] == pytest.approx(ours[name]["effective_sops"], rel=1e-12)
            assert theirs["dense"] == ours[name]["dense_sops"]  # no zero weights in the fixture
    assert nb["activation_sparsity"] == pytest.approx(counts["activation_sparsity"], rel=1e-12)
    assert nb["parameters"] == counts["parameters"] == 39890
    assert nb["footprint_bytes"] == counts["footprint_bytes"]
    # weights + biases + the IF constants r and v_threshold of 4096+4096+512+256+10 neurons
    assert nb["footprint_bytes"] == 4 * (39890 + 2 * (4096 + 4096 + 512 + 256 + 10))


def tiny_graph(zero_weight: bool = False) -> ir.NIRGraph:
    """Input(5) -> Affine -> LIF(6) -> Affine -> LI(4) -> Affine -> IF(3): no pooling, events and
    graded values as sources."""
    rng = np.random.default_rng(7)
    w1 = rng.normal(0.8, 0.5, (6, 5))
    if zero_weight:
        w1[0, 0] = w1[3, 2] = 0.0
    lif = ir.LIF(tau=np.full(6, 0.004), r=np.ones(6), v_leak=np.zeros(6), v_threshold=np.ones(6))
    li = ir.LI(tau=np.full(4, 0.005), r=np.ones(4), v_leak=np.zeros(4))
    return ir.NIRGraph(
        nodes={
            "in": ir.Input({"input": np.array([5])}),
            "fc1": ir.Affine(w1, np.full(6, 0.1)),
            "lif": lif,
            "fc2": ir.Affine(rng.normal(0.5, 1, (4, 6)), np.zeros(4)),
            "li": li,
            "fc3": ir.Linear(rng.normal(2, 1, (3, 4))),
            "if": ir.IF(r=np.ones(3), v_threshold=np.ones(3)),
            "out": ir.Output({"output": np.array([3])}),
        },
        edges=[
            ("in", "fc1"),
            ("fc1", "lif"),
            ("lif", "fc2"),
            ("fc2", "li"),
            ("li", "fc3"),
            ("fc3", "if"),
            ("if", "out"),
        ],
    )


@pytest.mark.parametrize("zero_weight", [False, True])
def test_tiny_graph_synaptic_ops_equal(nb_env, zero_weight):
    graph = load_graph(tiny_graph(zero_weight))
    x = random_events(graph.input_shape, 20, 4, 0.4, 3)
    counts, trace = nrf_counts(graph, x)
    nb = neurobench_counts(graph, x)
    np.testing.assert_array_equal(nb["readout"], trace.outputs["if"])
    assert counts["spikes"] > 0 and counts["macs"] > 0 and counts["acs"] > 0
    assert nb["effective_acs"] == pytest.approx(counts["acs"], rel=1e-12)
    assert nb["effective_macs"] == pytest.approx(counts["macs"], rel=1e-12)  # LI -> fc3: graded
    # NeuroBench's dense count takes every weight, zero or not; nrf-deploy only stored synapses
    zeros = 2 if zero_weight else 0
    assert nb["dense_sops"] == counts["dense_sops"] + zeros * 20
    assert nb["parameters"] == counts["parameters"]
    assert nb["footprint_bytes"] == counts["footprint_bytes"]


def test_tiny_graph_activation_sparsity_differs_only_by_graded_readouts(nb_env):
    """nrf-deploy counts an LI update as 0 spikes; NeuroBench counts its nonzero values."""
    graph = load_graph(tiny_graph())
    x = random_events(graph.input_shape, 20, 4, 0.4, 3)
    counts, trace = nrf_counts(graph, x)
    nb = neurobench_counts(graph, x)
    batch = x.shape[1]
    nonzero_li = np.count_nonzero(trace.outputs["li"]) / batch
    assert nonzero_li > 0
    updates = 20 * (6 + 4 + 3)
    assert counts["neuron_updates"] == updates
    assert counts["activation_sparsity"] == pytest.approx(1 - counts["spikes"] / updates)
    assert nb["activation_sparsity"] == pytest.approx(1 - (counts["spikes"] + nonzero_li) / updates)


def test_a_different_model_gives_different_counts(nb_env):
    """The comparison can fail: NeuroBench on the model with two weights removed does not match
    nrf-deploy's count of the original model."""
    x = random_events((5,), 20, 4, 0.4, 3)
    counts, _ = nrf_counts(load_graph(tiny_graph()), x)
    nb = neurobench_counts(load_graph(tiny_graph(zero_weight=True)), x)
    assert nb["effective_acs"] != pytest.approx(counts["acs"], rel=1e-9)


def test_report_figures_say_what_they_sampled(nb_env):
    from nrf_deploy.ir import Semantics
    from nrf_deploy.report import neurobench

    graph = load_graph(tiny_graph())
    x = random_events(graph.input_shape, 4, 10, 0.4, 3)
    figures = neurobench.report_figures(graph, x, None, Semantics())
    assert figures["version"] == "2.3.0" and "readout" not in figures
    assert (figures["samples"], figures["of_samples"], figures["timesteps"]) == (8, 10, 4)
    on_eight = neurobench.neurobench_counts(graph, x[:, :8])
    assert figures["effective_acs"] == pytest.approx(on_eight["effective_acs"], rel=1e-12)


def test_report_says_how_to_get_neurobench_when_missing(monkeypatch, tmp_path):
    from nrf_deploy.ir import Semantics
    from nrf_deploy.report import neurobench
    from nrf_deploy.witness.install import HOME_VARIABLE

    monkeypatch.setenv(HOME_VARIABLE, str(tmp_path))
    graph = load_graph(tiny_graph())
    x = random_events(graph.input_shape, 4, 1, 0.4, 3)
    figures = neurobench.report_figures(graph, x, None, Semantics())
    assert figures == "not installed: nrf-deploy witnesses install neurobench"


SCRIPT = r"""
import sys
from neurobench.metrics.static import Footprint, ParameterCount
from neurobench.metrics.utils.layers import single_layer_MACs
from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
from neurobench.models import TorchModel
bad = sorted(m for m in sys.modules if m == "samna" or m.startswith("samna.")
             or m.startswith("sinabs.backend.dynapcnn") or m.startswith("rockpool.devices"))
unused = sorted({m.split(".")[0] for m in sys.modules} & {"torchaudio", "tonic", "numba"})
print("IMPORTED:", bad, "UNUSED:", unused)
sys.exit(1 if bad or unused else 0)
"""


def test_neurobench_imports_no_samna_and_none_of_the_packages_left_out(nb_env):
    """What the runner imports (in its environment) pulls neither samna nor the dependencies
    its environment leaves out (torchaudio, tonic, numba)."""
    from nrf_deploy.witness import ready

    python = str(ready("neurobench").python)
    proc = subprocess.run(
        [python, "-I", "-c", SCRIPT], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_with_pooling_folded_into_the_weights_every_projection_equals(nb_env, fixture_path):
    """Pooling folded into the next layer (nrf-deploy's composed matrix, built here by NeuroBench's
    module from the graph's own conv and pool parameters): NeuroBench's count per presynaptic
    spike then equals nrf-deploy's on every projection, pooled ones included."""
    graph = load_graph(fixture_path)
    x = random_events(graph.input_shape, 12, 3, 0.1, 0)
    counts, trace = nrf_counts(graph, x)
    nb = neurobench_counts(graph, x, fold_pooling=True)
    np.testing.assert_array_equal(nb["readout"], trace.outputs[graph.output_names[0]])
    ours = {p["name"]: p for p in counts["projections"]}
    for layer, name in FIXTURE_LAYERS.items():
        theirs = nb["per_layer"][layer]
        assert theirs["op"] == ours[name]["op"] == "AC", name
        assert theirs["effective"] == pytest.approx(ours[name]["effective_sops"], rel=1e-12), name
        assert theirs["dense"] == ours[name]["dense_sops"], name
    assert nb["effective_acs"] == pytest.approx(counts["effective_sops"], rel=1e-12)
    assert nb["effective_macs"] == counts["macs"] == 0
    assert nb["dense_sops"] == counts["dense_sops"]


def test_the_report_shows_neurobench_on_a_bounded_sample(nb_env, tmp_path):
    import json

    from nrf_deploy.cli import main

    write_nir(tmp_path / "m.nir", tiny_graph())
    out = tmp_path / "onnx"
    assert main(["export", str(tmp_path / "m.nir"), "--target", "onnx", "-o", str(out)]) == 0
    html = tmp_path / "r.html"
    args = ["report", str(out), "-o", str(html), "--samples", "10", "--timesteps", "6", "-q"]
    assert main(args) == 0
    nb = json.loads(html.with_suffix(".json").read_text())["targets"][0]["neurobench"]
    assert nb["version"] == "2.3.0" and nb["effective_acs"] > 0
    assert (nb["samples"], nb["of_samples"], nb["timesteps"]) == (8, 10, 6)
    assert "(on 8 of 10 samples, 6 steps, in its own environment)" in html.read_text()
