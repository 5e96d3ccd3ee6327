"""SpiNNaker: integer reference == per-core emulator, bit for bit; the quantised model tracks the
float executor; partitioning limits, artefacts and refusals."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from graphs import random_neuron, recurrent_cubalif, threshold_chain
from helpers import assert_backends_agree, assert_same_files, cli, run_emulator_with_states
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nrf_deploy.targets.spinnaker import SpiNNakerTarget
from nrf_deploy.targets.spinnaker.format import ONE, Population, Projection, SpiNNakerProgram
from nrf_deploy.targets.spinnaker.mapper import partition

from nrf_deploy.errors import DoesNotFitError, GraphError, NrfError, RangeError
from nrf_deploy.inputs import random_events
from nrf_deploy.ir import Semantics, load_graph, run_float
from nrf_deploy.ir import nodes as ir
from nrf_deploy.ir.write import write_nir
from nrf_deploy.target import Deployment
from nrf_deploy.verify import compare

TARGET = SpiNNakerTarget()


_agree = functools.partial(assert_backends_agree, TARGET)


def _neuron(kind: str, h: int, tau_steps: float, rng: np.random.Generator):
    return random_neuron(
        kind, h, tau_steps, rng, syn_floor_steps=1.5, w_in=1.5, zero_reset=("IF", "LIF", "CubaLIF")
    )


def _random_graph(
    seed: int,
    kind: str,
    n_in: int,
    n_hidden: int,
    weight_scale: float,
    tau_steps: float,
    readout: bool,
    recurrent: bool,
    skip: bool,
) -> ir.NIRGraph:
    """Input -> Affine -> hidden (-> Linear -> hidden, recurrent) [-> Affine -> second <- Affine <-
    Input
    (a skip path: delay 2)] [-> Affine -> LI read-out]."""
    rng = np.random.default_rng(seed)
    h = n_hidden
    nodes = {
        "in": ir.Input({"input": np.array([n_in])}),
        "fc": ir.Affine(
            rng.normal(0.2, weight_scale, (h, n_in)), rng.normal(0, 0.1 * weight_scale, h)
        ),
        "hidden": _neuron(kind, h, tau_steps, rng),
    }
    edges = [("in", "fc"), ("fc", "hidden")]
    last, size = "hidden", h
    if recurrent:
        nodes["rec"] = ir.Linear(rng.normal(0, 0.5, (h, h)))
        edges += [("hidden", "rec"), ("rec", "hidden")]
    if skip:
        nodes |= {
            "fc2": ir.Affine(rng.normal(0.3, 1, (4, h)), np.zeros(4)),
            "skip": ir.Affine(rng.normal(0.3, 1, (4, n_in)), np.zeros(4)),
            "second": _neuron("LIF", 4, 4.0, rng),
        }
        edges += [("hidden", "fc2"), ("fc2", "second"), ("in", "skip"), ("skip", "second")]
        last, size = "second", 4
    if readout:
        nodes |= {
            "fc3": ir.Affine(rng.normal(0, 1, (3, size)), np.zeros(3)),
            "ro": ir.LI(np.full(3, 2 * tau_steps * 1e-3), np.ones(3), np.zeros(3)),
        }
        edges += [(last, "fc3"), ("fc3", "ro")]
        last, size = "ro", 3
    nodes["out"] = ir.Output({"output": np.array([size])})
    edges.append((last, "out"))
    return ir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3})


graph_params = st.tuples(
    st.integers(0, 10_000),
    st.sampled_from(["IF", "LIF", "CubaLIF"]),
    st.integers(1, 10),
    st.integers(1, 14),
    st.sampled_from([0.05, 1.0, 8.0, 200.0]),
    st.sampled_from([1.0, 1.5, 4.0, 40.0, 3000.0]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    params=graph_params,
    rate=st.sampled_from([0.05, 0.5, 1.0]),
    steps=st.integers(1, 40),
    per_core=st.sampled_from([2, 5, 256]),
)
def test_reference_equals_emulator_on_random_graphs(params, rate, steps, per_core):
    deployment = TARGET.build(
        load_graph(_random_graph(*params)), {"spinnaker_neurons_per_core": per_core}
    )
    x = random_events(deployment.input_shape, steps, 3, rate, seed=params[0])
    _agree(deployment, x)


def test_recurrent_cubalif_graph_agrees_across_cores():
    deployment = TARGET.build(
        load_graph(recurrent_cubalif(n_in=3, n=7)), {"dt": 1e-3, "spinnaker_neurons_per_core": 3}
    )
    assert len(deployment.program.cores["cuba"]) == 3
    assert {p.delay for p in deployment.program.projections} == {1}
    x = random_events(deployment.input_shape, 40, 4, 0.4, seed=1)
    ref = TARGET.run(deployment, "reference", x)
    assert ref.outputs["cuba"].sum() > 0 and np.abs(ref.states["cuba"]["i_inh"]).max() > 0
    _agree(deployment, x)


def test_a_loop_through_two_populations_gets_consistent_lags():
    """in -> a <-> y (a loop of two populations) and in -> x -> y: y lags 2 steps, so a must lag 2
    as well for y's recurrent synapse onto a to keep its one-step delay."""
    rng = np.random.default_rng(0)
    lin = lambda: ir.Linear(rng.normal(0.5, 1.0, (3, 3)))
    nodes = {
        "in": ir.Input({"input": np.array([3])}),
        "out": ir.Output({"output": np.array([3])}),
    }
    nodes |= {f: lin() for f in ("f1", "f2", "f3", "f4", "f5")}
    nodes |= {n: _neuron("CubaLIF", 3, 4.0, rng) for n in ("a", "x", "y")}
    edges = [
        ("in", "f1"),
        ("f1", "a"),
        ("in", "f2"),
        ("f2", "x"),
        ("x", "f3"),
        ("f3", "y"),
        ("y", "f4"),
        ("f4", "a"),
        ("a", "f5"),
        ("f5", "y"),
        ("y", "out"),
    ]
    deployment = TARGET.build(load_graph(ir.NIRGraph(nodes=nodes, edges=edges)), {})
    assert deployment.sidecar["delays"] == {"a": 2, "x": 1, "y": 2}
    assert {p.name: p.delay for p in deployment.program.projections} == {
        "in->a": 2,
        "y->a": 1,
        "in->x": 1,
        "x->y": 1,
        "a->y": 1,
    }
    _agree(deployment, random_events(deployment.input_shape, 30, 3, 0.5, seed=6))


def test_skip_connections_get_longer_delays():
    deployment = TARGET.build(
        load_graph(_random_graph(4, "LIF", 5, 6, 1.0, 4.0, True, False, True)), {}
    )
    delays = {p.name: p.delay for p in deployment.program.projections}
    assert delays["in->second"] == 2 and delays["hidden->second"] == 1
    assert deployment.sidecar["delays"] == {"hidden": 1, "second": 2, "ro": 3}
    _agree(deployment, random_events(deployment.input_shape, 30, 2, 0.6, seed=4))


def _hand_program(
    weight: int, shift: int, r_bits: int, refract: int, exponential: bool
) -> Deployment:
    """A program at the format's limits: ring-buffer entries that saturate, a multiply that
    saturates, sums that wrap, refractory periods."""
    n_in, n = 4, 3
    full = lambda v: np.full(n, v, np.int64)
    pop = Population(
        "p",
        "CubaLIF" if exponential else "LIF",
        "IF_curr_exp" if exponential else "IF_curr_delta",
        (n,),
        exp_tc=np.array([0, ONE // 2, ONE - 1]),
        r_membrane=full(r_bits),
        v_rest=np.array([0, -(1 << 30), (1 << 31) - 1]),
        i_offset=np.array([0, 5, -(1 << 31)]),
        v_reset=np.array([0, -7, 3]),
        v_thresh=np.array([3, 1 << 20, (1 << 31) - 1]),
        t_refract=np.array([refract, 0, 2]),
        syn_decay=full(3 << 30) if exponential else None,
        syn_init=full(1 << 31) if exponential else None,
        shifts=(shift, max(0, shift - 3)),
    )
    exc = sp.csr_matrix(np.array([[weight] * n_in, [0, weight, 0, weight], [weight, 0, 0, 0]]))
    inh = sp.csr_matrix(np.array([[0, 0, 0, 0], [weight, 0, weight, 0], [0, 1, 1, 0]]))
    program = SpiNNakerProgram(
        "in",
        (n_in,),
        {"p": pop},
        [
            Projection("in", "p", exc, inh, 1),
            Projection(
                "p",
                "p",
                sp.csr_matrix(np.full((n, n), 9)),
                sp.csr_matrix((n, n), dtype=np.int64),
                2,
            ),
        ],
        1e-3,
    )
    partition(program, 2, 1, 10)
    return Deployment("spinnaker", {"schedule": ["in", "p"], "output_names": []}, program)


@pytest.mark.parametrize(
    "weight,shift,r_bits,refract,exponential",
    [
        (0xFFFF, 15, ONE, 3, False),
        (0xFFFF, 15, 1 << 30, 0, True),
        (40000, 7, 3 * ONE, 5, True),
        (1, 0, ONE, 1, False),
    ],
)
def test_saturation_wrap_and_refractory_agree(weight, shift, r_bits, refract, exponential):
    deployment = _hand_program(weight, shift, r_bits, refract, exponential)
    x = np.ones((25, 2, 4), dtype=np.int64)
    x[::3, 1] = 0
    ref = TARGET.run(deployment, "reference", x)
    if refract:
        assert np.any(ref.states["p"]["refract"] > 0), "the test must enter the refractory period"
    _agree(deployment, x)


def test_a_corrupted_emulator_is_detected(monkeypatch):
    from nrf_deploy.targets.spinnaker import emulator

    deployment = TARGET.build(
        load_graph(_random_graph(3, "CubaLIF", 6, 8, 1.0, 4.0, True, True, False)), {}
    )
    x = random_events(deployment.input_shape, 30, 2, 0.5, seed=3)
    ref = TARGET.run(deployment, "reference", x)
    for name, broken in (
        ("_mul_accum", lambda a, b: np.clip((a * b) >> 15, -(2**31), 2**31 - 1)),  # truncates
        ("_decay_s1615", lambda v, d: -((-(v * d)) >> 32)),
    ):  # toward 0
        with monkeypatch.context() as m:
            m.setattr(emulator, name, broken)
            bad = TARGET.run(deployment, "emulator", x)
        c = compare(ref, bad, "reference", "emulator", list(deployment.sidecar["schedule"]))
        assert not c.ok and c.first is not None, name


def test_a_corrupted_weight_is_detected():
    deployment = TARGET.build(
        load_graph(_random_graph(5, "LIF", 6, 8, 1.0, 4.0, False, False, False)), {}
    )
    x = random_events(deployment.input_shape, 20, 2, 0.5, seed=5)
    ref = TARGET.run(deployment, "reference", x)
    proj = deployment.program.projections[0]
    proj.excitatory = proj.excitatory.copy()
    proj.excitatory.data[0] += 1  # one ring-buffer unit on one synapse
    deployment.program._emulator_rows = (
        None  # the emulator rebuilds its rows, the reference keeps its cache
    )
    bad = TARGET.run(deployment, "emulator", x)
    c = compare(ref, bad, "reference", "emulator", list(deployment.sidecar["schedule"]))
    assert not c.ok and c.first.variable == "v"


def _single_layer(kind: str, seed: int) -> ir.NIRGraph:
    rng = np.random.default_rng(seed)
    neuron = _neuron(kind, 8, 5.0, rng)
    if kind == "LIF":
        neuron.v_leak = np.zeros(8)
    return ir.NIRGraph(
        nodes={
            "in": ir.Input({"input": np.array([6])}),
            "fc": ir.Affine(rng.normal(0.3, 0.5, (8, 6)), np.zeros(8)),
            "n": neuron,
            "out": ir.Output({"output": np.array([8])}),
        },
        edges=[("in", "fc"), ("fc", "n"), ("n", "out")],
        metadata={"dt": 1e-3},
    )


@pytest.mark.parametrize("kind", ["IF", "LIF", "CubaLIF"])
def test_quantised_model_tracks_the_float_executor(kind):
    """Independent of both integer implementations: the float executor with the chip's
    conventions (``>=``, reset to 0, one step of synaptic delay) gives the same spikes."""
    graph = load_graph(_single_layer(kind, 7))
    deployment = TARGET.build(graph, {})
    x = random_events(deployment.input_shape, 60, 6, 0.3, seed=2)
    floating = run_float(
        graph, x, record_states=True, semantics=Semantics(threshold_ge=True), dtype=torch.float64
    )
    chip = TARGET.run(deployment, "reference", x)
    lag, scale = (
        deployment.sidecar["delays"]["n"],
        deployment.sidecar["populations"]["n"]["scale"] * ONE,
    )
    assert lag == 1
    assert floating.outputs["n"].sum() > 20
    assert np.array_equal(floating.outputs["n"][:-lag], chip.outputs["n"][lag:])
    v_err = np.abs(floating.states["n"]["v"][:-lag] - chip.states["n"]["v"][lag:] / scale).max()
    assert v_err < (0.03 if kind == "IF" else 1e-3), v_err


def test_fixture_exports_and_verifies_with_zero_mismatches(fixture_path, tmp_path):
    out = tmp_path / "spinnaker"
    proc = cli("export", fixture_path, "--target", "spinnaker", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert {
        "deploy.json",
        "program.npz",
        "model.q.nir",
        "network.json",
        "connections.npz",
        "run_pynn.py",
        "partition.json",
        "README.md",
        "source.nir",
    } <= {p.name for p in out.iterdir()}
    proc = cli("verify", out, "--samples", "12", "--timesteps", "8")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "emulator vs reference: OK" in proc.stdout and " 0 mismatches" in proc.stdout
    report = json.loads((out / "verify-report.json").read_text())
    assert report["comparisons"][0]["compared_values"] > 10**6
    table = json.loads((out / "partition.json").read_text())
    assert table["resources"]["cores_used"] == 46 and table["resources"]["chips"] == 3
    assert all(c["neurons"] <= 256 and c["dtcm_bytes"] <= 65536 for c in table["cores"])
    assert run_emulator_with_states(out, tmp_path)["state/1/v"].shape == (5, 2, 16, 16, 16)


def test_rf_snn_exports_and_verifies(tmp_path):
    from nrf_deploy.exporters.nir import export_rf_snn

    from nrf_deploy.cli.export import export
    from nrf_deploy.models import CONFIGS, RFSNN

    torch.manual_seed(0)
    graph = export_rf_snn(RFSNN(CONFIGS["tiny"]))
    deployment = export(graph, "spinnaker", tmp_path / "rf")
    sidecar = deployment.sidecar
    assert (
        sidecar["populations"]["lif"]["model"] == "IF_curr_delta"
        and sidecar["populations"]["readout"]["readout"]
    )
    assert sidecar["output_scale"]["readout"] > 0 and sidecar["delays"] == {"lif": 1, "readout": 2}
    loaded = TARGET.load(tmp_path / "rf")
    x = random_events(loaded.input_shape, 6, 2, 0.2, seed=1)
    ref = TARGET.run(loaded, "reference", x)
    assert ref.outputs["lif"].sum() > 0
    _agree(loaded, x)


def test_exports_are_byte_identical(tmp_path):
    from nrf_deploy.cli.export import export

    write_nir(tmp_path / "g.nir", _random_graph(8, "CubaLIF", 5, 9, 1.0, 4.0, True, True, True))
    for name in ("a", "b"):
        export(tmp_path / "g.nir", "spinnaker", tmp_path / name, {"spinnaker_neurons_per_core": 4})
    assert_same_files(tmp_path / "a", tmp_path / "b")


def test_unrepresentable_models_are_refused():
    with pytest.raises(RangeError, match="shorter than dt"):
        TARGET.build(load_graph(_random_graph(1, "LIF", 3, 4, 1.0, 0.5, False, False, False)), {})
    with pytest.raises(GraphError, match="Threshold"):
        TARGET.build(load_graph(threshold_chain()), {})
    rng = np.random.default_rng(0)
    nodes = {
        "in": ir.Input({"input": np.array([2])}),
        "out": ir.Output({"output": np.array([2])}),
        "skip": ir.Linear(np.eye(2)),
    }
    edges = [("in", "skip"), ("skip", "n16"), ("n16", "out")]
    for i in range(1, 17):
        nodes |= {f"f{i}": ir.Linear(np.eye(2)), f"n{i}": _neuron("LIF", 2, 4.0, rng)}
        edges += [("in" if i == 1 else f"n{i - 1}", f"f{i}"), (f"f{i}", f"n{i}")]
    with pytest.raises(GraphError, match="delay of 16 steps"):
        TARGET.build(load_graph(ir.NIRGraph(nodes=nodes, edges=edges)), {})
    with pytest.raises(RangeError, match="refractory"):
        TARGET.build(load_graph(_single_layer("LIF", 1)), {"spinnaker_t_refrac": -1.0})


def test_graph_too_big_lists_every_violation(monkeypatch):
    from nrf_deploy.targets.spinnaker import mapper

    graph = load_graph(_random_graph(2, "IF", 4, 300, 1.0, 4.0, False, False, False))
    with pytest.raises(DoesNotFitError) as info:
        TARGET.build(graph, {"spinnaker_neurons_per_core": 1, "spinnaker_chips": 2})
    assert (
        "needs 304 cores" in info.value.format() and "--spinnaker-chips 19" in info.value.format()
    )
    monkeypatch.setattr(mapper, "DTCM_BYTES", 14 * 1024)
    with pytest.raises(DoesNotFitError) as info:
        TARGET.build(graph, {})
    assert "DTCM" in info.value.format() and len(info.value.violations) == 2  # both neuron cores
    with pytest.raises(NrfError, match="1..256"):
        TARGET.build(graph, {"spinnaker_neurons_per_core": 300})


def test_bad_inputs_and_exports_are_refused(tmp_path):
    deployment = TARGET.build(load_graph(_single_layer("IF", 1)), {})
    with pytest.raises(NrfError, match="binary spikes"):
        TARGET.run(deployment, "reference", np.full((2, 1, 6), 2))
    with pytest.raises(NrfError, match="unknown backend"):
        TARGET.run(deployment, "spinn", np.zeros((2, 1, 6)))
    proc = cli(
        "export",
        tmp_path / "missing.nir",
        "--target",
        "spinnaker",
        "-o",
        tmp_path / "o",
        "--spinnaker-neurons-per-core",
        "0",
    )
    assert proc.returncode == 2 and "error:" in proc.stderr and "Traceback" not in proc.stderr
    write_nir(tmp_path / "g.nir", _single_layer("LIF", 2))
    proc = cli(
        "export",
        tmp_path / "g.nir",
        "--target",
        "spinnaker",
        "-o",
        tmp_path / "o",
        "--spinnaker-neurons-per-core",
        "0",
    )
    assert proc.returncode == 2 and "1..256" in proc.stderr and "Traceback" not in proc.stderr
    assert (
        cli("export", tmp_path / "g.nir", "--target", "spinnaker", "-o", tmp_path / "o").returncode
        == 0
    )
    (tmp_path / "o" / "program.npz").write_bytes(b"not a zip")
    proc = cli("verify", tmp_path / "o", "--samples", "2")
    assert proc.returncode == 2 and "changed: program.npz" in proc.stderr  # the seal notices first
    proc = cli("verify", tmp_path / "o", "--samples", "2", "--allow-modified")
    assert proc.returncode == 2 and "program.npz is missing or corrupt" in proc.stderr
