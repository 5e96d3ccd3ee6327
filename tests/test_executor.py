"""Float executor cross-checks against closed forms, sinabs and norse (independent
implementations)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from graphs import lif_chain, recurrent_cubalif

from nrf_deploy.ir import Semantics, load_graph, run_float
from nrf_deploy.ir import nodes as ir


def _single_neuron(node: ir.NIRNode) -> ir.NIRGraph:
    return ir.NIRGraph(
        nodes={
            "in": ir.Input({"input": np.array([1])}),
            "n": node,
            "out": ir.Output({"output": np.array([1])}),
        },
        edges=[("in", "n"), ("n", "out")],
    )


def test_li_matches_exact_solution_of_its_difference_equation_and_the_ode():
    tau, dt, r, v_leak, current, steps = 0.02, 1e-4, 2.0, 0.1, 0.7, 400
    g = load_graph(_single_neuron(ir.LI(np.array([tau]), np.array([r]), np.array([v_leak]))))
    x = np.full((steps, 1, 1), current)
    v = run_float(g, x, dt=dt, dtype=torch.float64).output()[:, 0, 0]
    t = np.arange(1, steps + 1)
    v_inf = v_leak + r * current
    euler_closed_form = v_inf * (1 - (1 - dt / tau) ** t)
    np.testing.assert_allclose(v, euler_closed_form, rtol=1e-10, atol=1e-12)
    ode = v_inf * (1 - np.exp(-t * dt / tau))
    assert np.max(np.abs(v - ode)) < 0.01 * v_inf  # forward Euler error O(dt/tau)


def test_single_lif_spike_times_match_the_analytic_solution():
    """Constant drive: spike every time the closed-form membrane crosses threshold."""
    tau, dt, current, thr = 0.01, 1e-3, 1.5, 1.0
    node = ir.LIF(np.array([tau]), np.array([1.0]), np.array([0.0]), np.array([thr]))
    node.metadata = {"reset": "zero"}
    g = load_graph(_single_neuron(node))
    spikes = run_float(g, np.full((60, 1, 1), current), dt=dt, dtype=torch.float64).output()[
        :, 0, 0
    ]
    a = 1 - dt / tau
    # v_k after k steps from 0 is current*(1 - a**k); the first k with v_k > thr is the period
    period = int(np.ceil(np.log(1 - thr / current) / np.log(a)))
    if current * (1 - a**period) <= thr:
        period += 1
    expected = np.zeros(60)
    expected[period - 1 :: period] = 1
    np.testing.assert_array_equal(spikes, expected)


def test_subtract_and_zero_reset_differ_as_defined():
    for reset, expected_after in (("zero", 0.0), ("subtract", 0.5)):
        node = ir.IF(np.array([1.0]), np.array([1.0]))
        node.metadata = {"reset": reset}
        trace = run_float(load_graph(_single_neuron(node)), np.array([[[1.5]]]), record_states=True)
        assert trace.output()[0, 0, 0] == 1
        assert trace.states["n"]["v"][0, 0, 0] == pytest.approx(expected_after)


def test_fixture_matches_sinabs_from_nir_spike_for_spike(sinabs_env, fixture_path):
    """sinabs' own reading of the file (``sinabs.from_nir``, in the sinabs witness environment
    with its nir 1.0.4) fires the same spike counts as the float executor with sinabs semantics."""
    from nrf_deploy.targets.speck import sinabs_witness

    from nrf_deploy.witness import call

    graph = load_graph(fixture_path)
    steps, batch = 25, 6
    x = (np.random.default_rng(7).random((steps, batch, 2, 34, 34)) < 0.15).astype(np.float32)
    ours = run_float(graph, x, semantics=Semantics.named("sinabs")).output()
    answer = call("sinabs", sinabs_witness.RUNNER, "from_nir", {"path": str(fixture_path), "x": x})
    assert answer["forbidden_modules"] == []
    out = answer["y"].reshape(steps, batch, 10)
    assert out.sum() > 50, (
        "the input must drive the network to spike for the check to mean anything"
    )
    np.testing.assert_array_equal(ours, out)  # spike counts: exact small integers in float32


def test_lif_graph_matches_norse_lif_box():
    from norse.torch.functional.lif_box import (
        LIFBoxFeedForwardState,
        LIFBoxParameters,
        lif_box_feed_forward_step,
    )

    graph = load_graph(lif_chain(n_in=6, n_out=8, tau=0.005, reset="zero", seed=3))
    x = np.random.default_rng(3).random((200, 5, 6)) * 3
    ours = run_float(graph, x, dt=1e-3, dtype=torch.float64, record_states=True)
    fc = graph.nodes["fc"].nir_node
    w, b = torch.tensor(fc.weight), torch.tensor(fc.bias)
    p = LIFBoxParameters(
        tau_mem_inv=torch.tensor(1 / 0.005, dtype=torch.float64),
        v_th=torch.tensor(1.0, dtype=torch.float64),
    )
    state = LIFBoxFeedForwardState(v=torch.zeros(5, 8, dtype=torch.float64))
    spikes = []
    for t in range(200):
        z, state = lif_box_feed_forward_step(torch.tensor(x[t]) @ w.T + b, state, p, dt=1e-3)
        spikes.append(z.numpy())
    spikes = np.stack(spikes)
    assert spikes.sum() > 100
    np.testing.assert_array_equal(ours.output(), spikes)


def test_recurrent_cubalif_matches_a_scalar_python_loop():
    graph = load_graph(recurrent_cubalif(n_in=3, n=5, seed=2))
    assert graph.delayed_edges == {("rec", "cuba")}
    x = (np.random.default_rng(2).random((80, 2, 3)) < 0.3).astype(np.float64)
    trace = run_float(graph, x, dt=1e-3, dtype=torch.float64)
    fc, rec, cuba = (graph.nodes[n].nir_node for n in ("fc", "rec", "cuba"))
    dt = 1e-3
    for b in range(2):
        i = [0.0] * 5
        v = [0.0] * 5
        z_prev = [0.0] * 5
        for t in range(80):
            z = [0.0] * 5
            for k in range(5):
                drive = sum(fc.weight[k][j] * x[t, b, j] for j in range(3)) + fc.bias[k]
                drive += sum(rec.weight[k][j] * z_prev[j] for j in range(5))
                i[k] = i[k] + dt / cuba.tau_syn[k] * (cuba.w_in[k] * drive - i[k])
                v[k] = v[k] + dt / cuba.tau_mem[k] * (cuba.v_leak[k] - v[k] + cuba.r[k] * i[k])
                if v[k] > cuba.v_threshold[k]:
                    z[k] = 1.0
                    v[k] -= cuba.v_threshold[k]
            np.testing.assert_array_equal(trace.output()[t, b], z)
            z_prev = z
    assert trace.output().sum() > 5


def test_states_are_recorded_per_step(fixture_path):
    graph = load_graph(fixture_path)
    x = np.zeros((3, 2, 2, 34, 34))
    trace = run_float(graph, x, record_states=True)
    assert set(trace.states) == {"1", "3", "6", "10", "12"}
    assert trace.states["1"]["v"].shape == (3, 2, 16, 16, 16)
