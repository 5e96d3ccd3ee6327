"""Speck: integer reference == event-scatter emulator == sinabs, and clear refusals."""
from __future__ import annotations

import subprocess
import sys

import nir
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CLI
from nrf_deploy.errors import DoesNotFitError, GraphError
from nrf_deploy.inputs import random_events
from nrf_deploy.ir import load_graph
from nrf_deploy.targets.speck import SpeckTarget
from nrf_deploy.verify import compare

TARGET = SpeckTarget()


def _conv_graph(seed: int, channels: int, kernel: int, stride: int, pool: int, weight_scale: float,
                reset: str, size: int = 12) -> nir.NIRGraph:
    rng = np.random.default_rng(seed)
    pad = kernel // 2
    h1 = (size + 2 * pad - kernel) // stride + 1
    if1 = nir.IF(np.ones((channels, h1, h1)), np.full((channels, h1, h1), 1.0))
    if1.metadata = {"reset": reset}
    h2 = h1 // pool
    n_out = 4
    if2 = nir.IF(np.ones(n_out), np.full(n_out, 0.7))
    nodes = {"in": nir.Input({"input": np.array([2, size, size])}),
             "c1": nir.Conv2d((size, size), rng.normal(0.1, weight_scale, (channels, 2, kernel, kernel)), stride, pad,
                              1, 1, rng.normal(0, 0.05, channels)),
             "n1": if1,
             "p1": nir.SumPool2d(np.array([pool, pool]), np.array([pool, pool]), np.array([0, 0])),
             "f": nir.Flatten({"input": np.array([channels, h2, h2])}, 0, -1),
             "fc": nir.Affine(rng.normal(0, weight_scale, (n_out, channels * h2 * h2)), np.zeros(n_out)),
             "n2": if2, "out": nir.Output({"output": np.array([n_out])})}
    edges = [("in", "c1"), ("c1", "n1"), ("n1", "p1"), ("p1", "f"), ("f", "fc"), ("fc", "n2"), ("n2", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def _agree(deployment, x, backends=("emulator", "sinabs")):
    ref = TARGET.run(deployment, "reference", x)
    if any(s["saturated"].any() for s in ref.states.values()):
        backends = tuple(b for b in backends if b != "sinabs")   # sinabs has no 16-bit state (documented)
    for name in backends:
        c = compare(ref, TARGET.run(deployment, name, x), "reference", name, deployment.sidecar["schedule"])
        assert c.ok, f"{name}: {c.mismatches} mismatches, first {c.first.describe()}"
    return ref


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 9999), channels=st.integers(1, 6), kernel=st.sampled_from([1, 3, 5]),
       stride=st.sampled_from([1, 2]), pool=st.sampled_from([1, 2]), scale=st.sampled_from([0.2, 1.0, 5.0]),
       reset=st.sampled_from(["subtract", "zero"]), rate=st.sampled_from([0.1, 0.6]),
       counts=st.sampled_from([1, 3]))
def test_reference_emulator_and_sinabs_agree_on_random_graphs(seed, channels, kernel, stride, pool, scale,
                                                               reset, rate, counts):
    deployment = TARGET.build(load_graph(_conv_graph(seed, channels, kernel, stride, pool, scale, reset)), {})
    x = random_events(deployment.input_shape, 25, 3, rate, seed, max_count=counts)
    _agree(deployment, x)


def test_fixture_exports_and_verifies_against_sinabs(fixture_path, tmp_path):
    out = tmp_path / "speck"
    proc = subprocess.run([*CLI, "export", str(fixture_path), "--target", "speck", "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "cores_used 5" in proc.stdout
    config = __import__("json").loads((out / "chip_config.json").read_text())
    assert len(config["cnn_layers"]) == 5 and all(
        len(layer["destinations"]) <= 2 for layer in config["cnn_layers"].values())
    proc = subprocess.run([*CLI, "verify", str(out), "--samples", "16", "--witness-samples", "8",
                           "--timesteps", "12"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sinabs vs reference: OK" in proc.stdout


def test_too_big_lists_every_violation():
    g = _conv_graph(1, 4, 3, 1, 1, 1.0, "subtract", size=140)     # input beyond 128x128
    nodes = dict(g.nodes)
    nodes["c1"] = nir.Conv2d((140, 140), np.ones((4, 2, 17, 17)), 3, 8, 1, 1, np.zeros(4))
    nodes["n1"] = nir.IF(np.ones((4, 47, 47)), np.ones((4, 47, 47)))
    nodes["f"] = nir.Flatten({"input": np.array([4, 47, 47])}, 0, -1)
    nodes["fc"] = nir.Affine(np.ones((4, 4 * 47 * 47)), np.zeros(4))
    g2 = nir.NIRGraph(nodes=nodes, edges=g.edges)
    with pytest.raises((DoesNotFitError, GraphError)) as info:
        TARGET.build(load_graph(g2), {})
    text = info.value.format()
    for fragment in ("input 140x140", "kernel 17x17", "stride 3", "padding 8"):
        assert fragment in text, text


def test_leaky_neurons_are_refused_with_every_node_named():
    g = _conv_graph(2, 2, 3, 1, 1, 1.0, "subtract")
    nodes = dict(g.nodes)
    shape = load_graph(g).nodes["n1"].out_shape
    nodes["n1"] = nir.LIF(np.full(shape, 0.01), np.ones(shape), np.zeros(shape), np.ones(shape))
    nodes["n2"] = nir.LI(np.full(4, 0.01), np.ones(4), np.zeros(4))
    with pytest.raises(GraphError) as info:
        TARGET.build(load_graph(nir.NIRGraph(nodes=nodes, edges=g.edges)), {})
    assert "'n1' (LIF)" in info.value.format() and "'n2' (LI)" in info.value.format()


def test_a_corrupted_emulator_is_detected(monkeypatch):
    import nrf_deploy.targets.speck.emulator as emulator

    deployment = TARGET.build(load_graph(_conv_graph(5, 3, 3, 1, 2, 1.0, "subtract")), {})
    x = random_events(deployment.input_shape, 20, 2, 0.5, 5)
    ref = TARGET.run(deployment, "reference", x)
    monkeypatch.setattr(emulator, "_LO", -100)          # a wrong saturation bound
    c = compare(ref, TARGET.run(deployment, "emulator", x), "reference", "emulator", deployment.sidecar["schedule"])
    assert not c.ok


def test_samna_is_not_imported_by_the_speck_flow(fixture_path, tmp_path):
    code = (f"import sys; from nrf_deploy.cli import main; "
            f"rc = main(['export', {str(fixture_path)!r}, '--target', 'speck', '-o', {str(tmp_path / 's')!r}]); "
            f"rc |= main(['verify', {str(tmp_path / 's')!r}, '--samples', '2', '--witness-samples', '2', '--timesteps', '3']); "
            f"bad = [m for m in sys.modules if m.startswith('samna') or m.startswith('sinabs.backend.dynapcnn')]; "
            f"print('BAD', bad); sys.exit(rc or bool(bad))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "BAD []" in proc.stdout, proc.stdout + proc.stderr
