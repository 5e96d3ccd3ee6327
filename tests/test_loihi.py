"""Loihi: integer reference == per-core emulator == Lava bit-accurate models, bit for bit."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.sparse as sp
from graphs import random_neuron, recurrent_cubalif, threshold_chain
from helpers import assert_backends_agree, assert_same_files, cli, run_emulator_with_states
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from nrf_deploy.targets.loihi import LoihiTarget
from nrf_deploy.targets.loihi.format import Compartments, LoihiProgram, Synapses, sign_mode_of
from nrf_deploy.targets.loihi.mapper import map_cores

from nrf_deploy.errors import DoesNotFitError, GraphError, NrfError, RangeError
from nrf_deploy.inputs import random_events
from nrf_deploy.ir import load_graph
from nrf_deploy.ir import nodes as ir
from nrf_deploy.quant import zero_weight_policy
from nrf_deploy.verify import compare

TARGET = LoihiTarget()


_agree = functools.partial(assert_backends_agree, TARGET)


def _random_graph(
    seed: int,
    kind: str,
    n_in: int,
    n_hidden: int,
    weight_scale: float,
    tau_steps: float,
    readout: bool,
) -> ir.NIRGraph:
    rng = np.random.default_rng(seed)
    dt = 1e-3
    h = n_hidden
    neuron = random_neuron(kind, h, tau_steps, rng, dt=dt)
    nodes = {
        "in": ir.Input({"input": np.array([n_in])}),
        "fc": ir.Affine(
            rng.normal(0, weight_scale, (h, n_in)), rng.normal(0, 0.1 * weight_scale, h)
        ),
        "hidden": neuron,
    }
    edges = [("in", "fc"), ("fc", "hidden")]
    if readout:
        nodes["fc2"] = ir.Affine(rng.normal(0, 1, (3, h)), np.zeros(3))
        nodes["ro"] = ir.LI(np.full(3, 2 * tau_steps * dt), np.ones(3), np.zeros(3))
        edges += [("hidden", "fc2"), ("fc2", "ro"), ("ro", "out")]
        nodes["out"] = ir.Output({"output": np.array([3])})
    else:
        nodes["out"] = ir.Output({"output": np.array([h])})
        edges.append(("hidden", "out"))
    return ir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt})


graph_params = st.tuples(
    st.integers(0, 10_000),
    st.sampled_from(["IF", "LIF", "CubaLIF"]),
    st.integers(1, 12),
    st.integers(1, 20),
    st.sampled_from([0.05, 1.0, 8.0, 200.0]),
    st.sampled_from([1.0, 1.5, 4.0, 40.0, 3000.0]),
    st.booleans(),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=graph_params, rate=st.sampled_from([0.05, 0.5, 1.0]), steps=st.integers(1, 60))
def test_reference_equals_emulator_on_random_graphs(params, rate, steps):
    with zero_weight_policy(True):  # random graphs may quantise a projection to all zeros
        deployment = TARGET.build(load_graph(_random_graph(*params)), {})
    x = random_events(deployment.input_shape, steps, 3, rate, seed=params[0])
    _agree(deployment, x)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=graph_params, rate=st.sampled_from([0.2, 1.0]))
# every weight into the LIF quantises to zero: Lava ran no process unconnected to the source
@example(params=(0, "CubaLIF", 1, 1, 0.05, 3000.0, False), rate=0.2)
def test_lava_equals_reference_on_random_graphs(lava_env, params, rate):
    with zero_weight_policy(True):  # random graphs may quantise a projection to all zeros
        deployment = TARGET.build(load_graph(_random_graph(*params)), {})
    x = random_events(deployment.input_shape, 12, 1, rate, seed=params[0])
    _agree(deployment, x, ("emulator", "lava"))


def _extreme_program(
    du: int, dv: int, weight: int, weight_exp: int, bias_mant: int
) -> LoihiProgram:
    """Hand-built program at the format's limits: u wraps at 2**23, v saturates."""
    n_in, n = 4, 3
    comp = Compartments(
        "p",
        "CubaLIF",
        (n,),
        np.full(n, du),
        np.full(n, dv),
        np.array([131071, 5, 1000]),
        np.full(n, bias_mant),
        np.full(n, 7),
        1.0,
    )
    w = sp.csr_matrix(np.array([[weight] * n_in, [-weight] * n_in, [weight, -weight, weight, 0]]))
    syn = Synapses("in", "p", w, weight_exp, sign_mode_of(w.data))
    program = LoihiProgram("in", (n_in,), {"p": comp}, [syn], 1e-3)
    map_cores(program)
    return program


@pytest.mark.parametrize(
    "du,dv,weight,weight_exp,bias",
    [(0, 0, 254, 7, 4095), (0, 4095, -256, 7, -4096), (4095, 1, 254, -8, 0), (17, 0, 254, 7, 0)],
)
def test_wrap_and_saturation_agree_with_lava(lava_env, du, dv, weight, weight_exp, bias):
    from nrf_deploy.target import Deployment

    program = _extreme_program(du, dv, weight, weight_exp, bias)
    deployment = Deployment("loihi", {"schedule": ["in", "p"], "output_names": []}, program)
    x = np.ones((40, 1, 4), dtype=np.int64)
    ref = TARGET.run(deployment, "reference", x)
    if du == 0 and weight_exp == 7:
        assert np.abs(ref.states["p"]["u"]).max() > 2**22, "the test must drive u near the wrap"
    _agree(deployment, x, ("emulator", "lava"))


def test_recurrent_cubalif_graph_agrees(lava_env):
    deployment = TARGET.build(load_graph(recurrent_cubalif(n_in=3, n=5)), {"dt": 1e-3})
    x = random_events(deployment.input_shape, 30, 2, 0.4, seed=1)
    _agree(deployment, x, ("emulator", "lava"))


def test_lava_run_in_one_call_equals_the_reference(lava_env):
    """Without recorded states Lava runs every step in one call (the benchmark's path)."""
    deployment = TARGET.build(load_graph(_random_graph(11, "CubaLIF", 5, 7, 1.0, 4.0, False)), {})
    x = random_events(deployment.input_shape, 25, 1, 0.5, seed=11)
    ref = TARGET.run(deployment, "reference", x, record_states=False)
    whole = TARGET.run(deployment, "lava", x, record_states=False)
    assert whole.states == {} and ref.outputs["hidden"].sum() > 0
    for name, values in ref.outputs.items():
        np.testing.assert_array_equal(whole.outputs[name], values, err_msg=name)


def test_a_corrupted_emulator_is_detected(monkeypatch):
    from nrf_deploy.targets.loihi import emulator

    deployment = TARGET.build(load_graph(_random_graph(3, "LIF", 6, 8, 1.0, 4.0, True)), {})
    x = random_events(deployment.input_shape, 30, 2, 0.5, seed=3)
    ref = TARGET.run(deployment, "reference", x)
    monkeypatch.setattr(
        emulator, "_toward_zero", lambda p: np.floor_divide(p, 4096)
    )  # floor, not trunc
    bad = TARGET.run(deployment, "emulator", x)
    c = compare(ref, bad, "reference", "emulator", list(deployment.sidecar["schedule"]))
    assert not c.ok and c.first is not None and c.first.variable in ("u", "v", "out")


def test_fixture_exports_and_verifies_with_zero_mismatches(lava_env, fixture_path, tmp_path):
    out = tmp_path / "loihi"
    proc = cli("export", fixture_path, "--target", "loihi", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert {"deploy.json", "program.npz", "model.q.nir", "README.md"} <= {
        p.name for p in out.iterdir()
    }
    proc = cli("verify", out, "--samples", "24", "--lava-samples", "1", "--timesteps", "8")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "lava vs reference: OK" in proc.stdout and "emulator vs reference: OK" in proc.stdout
    assert run_emulator_with_states(out, tmp_path)["state/1/v"].shape == (5, 2, 16, 16, 16)


def test_exports_are_byte_identical(fixture_path, tmp_path):
    from nrf_deploy.cli.export import export

    for name in ("a", "b"):
        export(fixture_path, "loihi", tmp_path / name)
    assert_same_files(tmp_path / "a", tmp_path / "b")


def test_unrepresentable_models_are_refused():
    g = _random_graph(1, "LIF", 3, 4, 1.0, 0.5, False)  # tau = dt/2
    with pytest.raises(RangeError, match="shorter than dt"):
        TARGET.build(load_graph(g), {})
    with pytest.raises(GraphError, match="Threshold"):
        TARGET.build(load_graph(threshold_chain()), {})


def test_graph_too_big_lists_the_violation():
    g = _random_graph(2, "IF", 4, 200_000, 1.0, 4.0, False)
    with pytest.raises(DoesNotFitError) as info:
        TARGET.build(load_graph(g), {})
    assert "cores" in info.value.format() and "--loihi-chips" in info.value.format()


def test_non_binary_input_is_refused(fixture_path):
    deployment = TARGET.build(load_graph(_random_graph(1, "IF", 3, 4, 1.0, 4.0, False)), {})
    with pytest.raises(NrfError, match="binary spikes"):
        TARGET.run(deployment, "reference", np.full((2, 1, 3), 3))
