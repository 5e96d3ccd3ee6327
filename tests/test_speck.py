"""Speck: integer reference == per-core event emulator == sinabs, on random graphs and the
fixture."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from conftest import need_witness
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nrf_deploy.targets.speck import SpeckTarget
from test_speck_graphs import branchy

from nrf_deploy.inputs import random_events
from nrf_deploy.ir import Semantics, load_graph, run_float
from nrf_deploy.ir import nodes as ir
from nrf_deploy.verify import compare

TARGET = SpeckTarget()


def _compare(deployment, x, ref, backend):
    return compare(
        ref,
        TARGET.run(deployment, backend, x),
        "reference",
        backend,
        deployment.sidecar["schedule"],
    )


def _emulator_agrees(deployment, x):
    """Reference vs emulator: zero mismatches on every output and state; the reference trace."""
    ref = TARGET.run(deployment, "reference", x)
    c = _compare(deployment, x, ref, "emulator")
    assert c.compared_values > 0 and c.ok, (
        f"emulator: {c.mismatches} mismatches, first {c.first.describe()}"
    )
    return ref


def _sinabs_traces(cases: list) -> list:
    """The sinabs backend on every ``(deployment, x)`` of `cases`, in one process of the sinabs
    witness environment (one torch import for all), as ``TARGET.run`` would give them."""
    from nrf_deploy.targets.speck import sinabs_witness as w

    from nrf_deploy.witness import call_many

    spec = TARGET.backend(cases[0][0], "sinabs")
    programs = [TARGET.program_for(d, spec) for d, _ in cases]
    xs = [TARGET.check_input(d, x) for d, x in cases]
    requests = [w.witness_request(p, x, True) for p, x in zip(programs, xs, strict=True)]
    answers = call_many(w.ENV, w.RUNNER, "run", requests, what=f"sinabs on {len(cases)} cases")
    return [
        TARGET.finish_trace(d, w.witness_trace(p, x, a, True), True)
        for (d, _), p, x, a in zip(cases, programs, xs, answers, strict=True)
    ]


def _sinabs_agrees(cases: list, refs: list) -> None:
    """sinabs gives the reference's outputs and states on every case (skipped without the sinabs
    environment, a failure in CI)."""
    need_witness("sinabs")
    for i, ((deployment, x), ref, trace) in enumerate(
        zip(cases, refs, _sinabs_traces(cases), strict=True)
    ):
        c = compare(ref, trace, "reference", "sinabs", deployment.sidecar["schedule"])
        assert c.compared_values > 0 and c.ok, (
            f"case {i}: sinabs: {c.mismatches} mismatches, first {c.first.describe()}"
        )


def test_reference_emulator_and_sinabs_agree_on_random_graphs():
    """Reference == emulator on 40 drawn graphs (hypothesis shrinks a failure), then sinabs on
    all of them in one witness process."""
    cases = []

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        seed=st.integers(0, 9999),
        channels=st.integers(1, 4),
        kernel=st.sampled_from([1, 3, 5]),
        pool=st.sampled_from([2, 4]),
        mean=st.sampled_from([-0.3, 0.0, 0.4]),
        scale=st.sampled_from([0.3, 1.0, 4.0]),
        bias=st.sampled_from([0.0, 0.3]),
        reset=st.sampled_from(["subtract", "zero"]),
        low=st.sampled_from(["threshold", "min"]),
        rate=st.sampled_from([0.1, 0.7]),
        counts=st.sampled_from([1, 4, 60]),
    )
    def emulator_agrees(seed, channels, kernel, pool, mean, scale, bias, reset, low, rate, counts):
        graph = branchy(seed, channels, 8, kernel, mean, scale, bias, reset, pool)
        deployment = TARGET.build(load_graph(graph), {"speck_threshold_low": low})
        x = random_events(deployment.input_shape, 16, 2, rate, seed, max_count=counts)
        cases.append((deployment, x, _emulator_agrees(deployment, x)))

    emulator_agrees()
    _sinabs_agrees([(d, x) for d, x, _ in cases], [ref for _, _, ref in cases])


@st.composite
def _chains(draw):
    """Feed-forward conv chains over the geometry Speck allows: kernels 1..16, strides 1/2/4/8,
    padding 0..7, sum pooling 1/2/4 between layers, maps that shrink to at least 1x1."""
    size, layers, h = draw(st.integers(8, 24)), [], None
    h = size
    for _ in range(draw(st.integers(1, 3))):
        pool = draw(st.sampled_from([1, 2, 4])) if layers else 1
        if h // pool < 1:
            break
        h //= pool
        k = draw(st.integers(1, min(16, h + 2 * 7)))
        p = draw(st.integers(max(0, (k - h + 1) // 2), 7))
        s = draw(st.sampled_from([1, 2, 4, 8]))
        layers.append(
            {
                "out": draw(st.integers(1, 3)),
                "kernel": k,
                "stride": s,
                "padding": p,
                "pool_before": pool,
            }
        )
        h = (h + 2 * p - k) // s + 1
        if h > 64:
            layers.pop()
            break
    return size, layers


def test_reference_emulator_and_sinabs_agree_on_random_geometry():
    """Reference == emulator on 25 drawn conv chains, then sinabs on all of them in one process."""
    from hypothesis import assume
    from test_speck_graphs import chain

    cases = []

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(spec=_chains(), seed=st.integers(0, 999), counts=st.sampled_from([1, 30]))
    def emulator_agrees(spec, seed, counts):
        size, layers = spec
        assume(layers)
        deployment = TARGET.build(load_graph(chain(layers, (2, size, size), seed)), {})
        x = random_events(deployment.input_shape, 12, 2, 0.4, seed, max_count=counts)
        cases.append((deployment, x, _emulator_agrees(deployment, x)))

    emulator_agrees()
    _sinabs_agrees([(d, x) for d, x, _ in cases], [ref for _, _, ref in cases])


def test_folded_structures_agree():
    """Flat input with Affine/Linear; odd map sizes, stride (1, 2), asymmetric padding, AvgPool2d
    and
    a per-channel Scale folded into a grouped, dilated convolution: all three backends agree."""
    from test_speck_graphs import neuron

    rng = np.random.default_rng(0)
    flat = ir.NIRGraph(
        nodes={
            "in": ir.Input({"input": np.array([20])}),
            "a": ir.Affine(rng.normal(0.2, 1, (8, 20)), rng.normal(0, 0.2, 8)),
            "n": neuron((8,)),
            "b": ir.Linear(rng.normal(0, 1, (4, 8))),
            "m": neuron((4,), 0.5, "zero"),
            "out": ir.Output({"output": np.array([4])}),
        },
        edges=[("in", "a"), ("a", "n"), ("n", "b"), ("b", "m"), ("m", "out")],
    )
    h1, w1 = 9, 5  # (9 + 2 - 3) // 1 + 1, (11 - 3) // 2 + 1
    folded = ir.NIRGraph(
        nodes={
            "in": ir.Input({"input": np.array([2, 9, 11])}),
            "c1": ir.Conv2d(
                (9, 11), rng.normal(0.2, 1, (4, 2, 3, 3)), (1, 2), (1, 0), 1, 1, np.zeros(4)
            ),
            "n1": neuron((4, h1, w1)),
            "p": ir.AvgPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0])),
            "s": ir.Scale(np.array([1.0, 2.0, 0.5, 1.0])[:, None, None] * np.ones((4, 4, 2))),
            "c2": ir.Conv2d(
                (4, 2), rng.normal(0, 1, (4, 2, 3, 3)), 1, (2, 2), (2, 2), 2, np.zeros(4)
            ),
            "n2": neuron((4, 4, 2)),
            "out": ir.Output({"output": np.array([4, 4, 2])}),
        },
        edges=[
            ("in", "c1"),
            ("c1", "n1"),
            ("n1", "p"),
            ("p", "s"),
            ("s", "c2"),
            ("c2", "n2"),
            ("n2", "out"),
        ],
    )
    cases = []
    for graph in (flat, folded):
        deployment = TARGET.build(load_graph(graph), {})
        x = random_events(deployment.input_shape, 20, 2, 0.5, 1, max_count=3)
        cases.append((deployment, x))
    assert deployment.program.layers[1].kernel == 5 and deployment.program.layers[0].stride == (
        1,
        2,
    )
    refs = [_emulator_agrees(d, x) for d, x in cases]
    assert all(ref.output().sum() > 0 for ref in refs)
    _sinabs_agrees(cases, refs)


def test_long_saturating_runs_agree_and_hit_both_16_bit_limits():
    """Positive weights and dense multi-count input push the first layer past +2**15-1 in one step
    (the state saturates, then fires and resets); negative weights with threshold_low = -2**15 pin
    membranes at the bottom of the range. All three implementations agree throughout."""
    graph = branchy(7, 2, 8, 3, weight_mean=3.0, weight_scale=0.01, bias=0.0, reset="zero")
    up = TARGET.build(load_graph(graph), {"speck_threshold_low": "min"})
    x = random_events(up.input_shape, 60, 2, 0.9, 3, max_count=200)
    graph = branchy(7, 2, 8, 3, weight_mean=-3.0, weight_scale=0.01, bias=0.0)
    down = TARGET.build(load_graph(graph), {"speck_threshold_low": "min"})
    refs = [_emulator_agrees(d, x) for d in (up, down)]
    assert refs[0].states["n1"]["saturated"].sum() > 0
    n1 = refs[1].states["n1"]
    assert (n1["v"] == -(2**15)).sum() > 0 and n1["saturated"].sum() > 0
    _sinabs_agrees([(up, x), (down, x)], refs)


def test_every_backend_notices_one_corrupted_weight_or_threshold():
    """Change one integer parameter by one unit in the emulator's copy: verification must fail."""
    import copy

    deployment = TARGET.build(load_graph(branchy(3, 3, 8, 3)), {})
    x = random_events(deployment.input_shape, 20, 2, 0.5, 5, max_count=3)
    ref = TARGET.run(deployment, "reference", x)
    for field in ("weight", "threshold_high", "threshold_low", "bias"):
        bad = copy.deepcopy(deployment)
        layer = bad.program.layers[0]
        if field == "weight":
            layer.weight[0, 0, 1, 1] += 1
        elif field == "bias":
            layer.bias = layer.bias.copy()
            layer.bias[0] += 1
        else:
            setattr(layer, field, getattr(layer, field) + 1)
        c = compare(
            ref,
            TARGET.run(bad, "emulator", x),
            "reference",
            "emulator",
            deployment.sidecar["schedule"],
        )
        assert not c.ok, f"a corrupted {field} went unnoticed"


def test_a_corrupted_emulator_is_detected(monkeypatch):
    from nrf_deploy.targets.speck import emulator

    deployment = TARGET.build(
        load_graph(branchy(5, 3, 8, 3, weight_mean=1.0, weight_scale=0.05)), {}
    )
    x = random_events(deployment.input_shape, 30, 2, 0.8, 5, max_count=50)
    ref = TARGET.run(deployment, "reference", x)
    assert _compare(deployment, x, ref, "emulator").ok
    monkeypatch.setattr(emulator, "INT16_MAX", 2**14)  # a wrong saturation bound
    c = _compare(deployment, x, ref, "emulator")
    assert not c.ok and c.first is not None


def test_fixture_maps_exports_and_verifies(sinabs_env, fixture_path, tmp_path, capsys):
    from nrf_deploy.cli import main

    out = tmp_path / "speck"
    assert main(["export", str(fixture_path), "--target", "speck", "-o", str(out)]) == 0
    assert "cores used 5" in capsys.readouterr().out
    for name in (
        "deploy.json",
        "program.npz",
        "chip_config.json",
        "model.q.nir",
        "resources.md",
        "source.nir",
    ):
        assert (out / name).is_file(), name
    assert (
        main(["verify", str(out), "--samples", "12", "--witness-samples", "6", "--timesteps", "10"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "emulator vs reference: OK" in printed and "sinabs vs reference: OK" in printed
    report = json.loads((out / "verify-report.json").read_text())
    assert report["ok"] and all(c["compared_values"] > 0 for c in report["comparisons"])


def test_fixture_memory_and_chip_config_match_hand_computation(fixture_path, tmp_path):
    """Memory formulas by hand for the fixture's layers; the samna-shaped config mirrors program.npz
    (weights transposed to samna's [out][in][x][y]) and the core map."""
    from nrf_deploy.cli.export import export

    deployment = export(str(fixture_path), "speck", tmp_path / "s")
    rows = {r["layer"]: r for r in deployment.sidecar["core_map"] if r["layer"]}
    # layer '1': conv 2->16, 5x5, 16x16 out; '10': Affine 128->256 over (8, 4, 4) = 4x4 kernel;
    # '12': 256->10
    assert (rows["1"]["kernel_memory"], rows["1"]["neuron_memory"]) == (
        2 * 2 ** (5 + 4),
        16 * 2 ** (4 + 4),
    )
    assert (rows["10"]["kernel_memory"], rows["10"]["neuron_memory"]) == (8 * 2 ** (4 + 8), 256)
    assert (rows["12"]["kernel_memory"], rows["12"]["neuron_memory"]) == (
        256 * 2 ** (0 + 4),
        10 * 1,
    )
    assert rows["10"]["kernel_memory_available"] >= 32 * 1024
    config = json.loads((tmp_path / "s" / "chip_config.json").read_text())
    data = np.load(tmp_path / "s" / "program.npz")
    layers = deployment.sidecar["layers"]
    used = [c for c in config["cnn_layers"] if c is not None]
    assert len(config["cnn_layers"]) == 9 and len(used) == 5
    for i, d in enumerate(layers):
        c = config["cnn_layers"][d["core"]]
        w = np.asarray(c["weights"])
        assert np.array_equal(w, data[f"layer/{i}/weight"].transpose(0, 1, 3, 2))
        assert np.abs(w).max() <= 128 and c["threshold_high"] == d["threshold_high"]
        assert c["dimensions"]["kernel_size"] == d["kernel"] and c["leak_enable"] is False
        assert np.asarray(c["neurons_initial_value"]).shape == (
            d["out_shape"][0],
            d["out_shape"][2],
            d["out_shape"][1],
        )
        enabled = [s for s in c["destinations"] if s["enable"]]
        assert len(c["destinations"]) == 2 and [s["layer"] for s in enabled] == [
            config["core_of_layer"][n] for n in d["destinations"]
        ]
        assert c["monitor_enable"] == (d["name"] == "12")
    assert config["cnn_layers"][config["core_of_layer"]["6"]]["destinations"][0]["pooling"] == 2


def test_quantised_nir_is_the_chip_program_and_float_model_is_close(fixture_path, tmp_path):
    """model.q.nir run by the float executor with sinabs semantics reproduces the integer reference
    spike for spike (no state saturates here); the float model differs only by quantisation."""
    from nrf_deploy.cli.export import export

    deployment = export(str(fixture_path), "speck", tmp_path / "s")
    x = random_events(deployment.input_shape, 20, 8, 0.1, 11)
    ref = TARGET.run(deployment, "reference", x)
    assert not any(s["saturated"].any() for s in ref.states.values())
    import torch

    sinabs = Semantics.named("sinabs")
    quantised = run_float(
        load_graph(tmp_path / "s" / "model.q.nir"), x, semantics=sinabs, dtype=torch.float64
    )
    for d in deployment.sidecar["layers"]:
        assert np.array_equal(
            quantised.outputs[d["name"]].reshape(ref.outputs[d["name"]].shape),
            ref.outputs[d["name"]],
        ), d["name"]
    floating = run_float(load_graph(fixture_path), x, semantics=sinabs)
    f_counts, c_counts = floating.output().sum(0), ref.output().sum(0)
    assert np.corrcoef(f_counts.ravel(), c_counts.ravel())[0, 1] > 0.9
    assert abs(f_counts.sum() - c_counts.sum()) < 0.1 * f_counts.sum()


def test_exports_are_byte_identical(fixture_path, tmp_path):
    from nrf_deploy.cli.export import export

    for name in ("a", "b"):
        export(str(fixture_path), "speck", tmp_path / name)
    for f in ("deploy.json", "program.npz", "chip_config.json", "resources.md"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_samna_never_enters_sys_modules_in_the_speck_flow(sinabs_env, fixture_path, tmp_path):
    """Export and verify with the sinabs witness: the core imports neither samna nor sinabs, and
    the witness process reports (and sinabs_witness refuses) any samna import of its own."""
    out = str(tmp_path / "s")
    code = (
        f"import sys; from nrf_deploy.cli import main; "
        f"rc = main(['export', {str(fixture_path)!r}, '--target', 'speck', '-o', {out!r}]); "
        f"rc |= main(['verify', {out!r}, '--samples', '2', '--witness-samples', '2', "
        "'--timesteps', '3']); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('samna', 'sinabs')]; "
        "print('BAD', bad); sys.exit(rc or bool(bad))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0 and "BAD []" in proc.stdout, proc.stdout + proc.stderr
    assert "sinabs vs reference: OK" in proc.stdout
