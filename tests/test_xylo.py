"""Xylo: integer reference == event-by-event emulator == SynSense's xylosim, bit for bit (outputs,
Vmem, Isyn); the quantised model tracks the float executor; artefacts, tampering and refusals."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from graphs import braille_cubalif, recurrent_cubalif, two_recurrent_layers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nrf_deploy.targets.xylo import XyloTarget
from nrf_deploy.targets.xylo.format import Group, XyloProgram

from nrf_deploy.cli import main
from nrf_deploy.errors import NrfError
from nrf_deploy.inputs import random_events
from nrf_deploy.ir import load_graph, run_float
from nrf_deploy.ir import nodes as ir
from nrf_deploy.ir.write import write_nir
from nrf_deploy.quant import zero_weight_policy
from nrf_deploy.verify import compare, verify_deployment

TARGET = XyloTarget()
BACKENDS = ("emulator", "xylosim")


def _agree(deployment, x) -> list:
    """Compare every backend with the reference; returns the comparisons (all must be exact)."""
    ref = TARGET.run(deployment, "reference", x)
    out = []
    for name in BACKENDS:
        c = compare(
            ref,
            TARGET.run(deployment, name, x),
            "reference",
            name,
            list(deployment.sidecar["schedule"]),
        )
        assert c.ok, f"{name}: {c.mismatches} mismatches, first {c.first.describe()}"
        out.append(c)
    return out


def _written(graph: ir.NIRGraph, tmp_path, name: str = "model.nir"):
    path = tmp_path / name
    write_nir(path, graph)
    return path


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_braille_graph_verifies_with_zero_mismatches(xylosim_env, reset, tmp_path, capsys):
    """The NIR paper's braille shape exported and verified through the CLI: 16 samples on every
    backend, outputs, Vmem and Isyn of both populations compared."""
    out = tmp_path / "xylo"
    assert (
        main(
            [
                "export",
                str(_written(braille_cubalif(reset), tmp_path)),
                "--target",
                "xylo",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "verify",
                str(out),
                "--samples",
                "16",
                "--witness-samples",
                "16",
                "--timesteps",
                "40",
                "--rate",
                "0.3",
            ]
        )
        == 0
    )
    assert "0 mismatches" in capsys.readouterr().out
    report = json.loads((out / "verify-report.json").read_text())
    assert [c["other"] for c in report["comparisons"]] == list(BACKENDS)
    for c in report["comparisons"]:
        assert c["ok"] and c["mismatches"] == 0 and c["samples"] == 16
        # input echo (12), lif1 (38) and lif2 (7) outputs, the Output alias of lif2 (7), v and i
        assert c["compared_values"] == 40 * 16 * (12 + 38 + 7 + 7 + 2 * (38 + 7))
    trace = TARGET.run(TARGET.load(out), "reference", random_events((12,), 40, 16, 0.3, 0))
    assert trace.outputs["lif1"].sum() > 0 and trace.outputs["lif2"].sum() > 0  # both layers fire
    assert (
        np.abs(trace.states["lif1"]["i"]).max() > 0 and np.abs(trace.states["lif2"]["v"]).max() > 0
    )


@pytest.mark.parametrize(
    "kind,readout,reset",
    [
        ("CubaLIF", "LI", "subtract"),
        ("CubaLIF", "CubaLIF", "zero"),
        ("LIF", "I", "zero"),
        ("IF", "LIF", "subtract"),
    ],
)
def test_recurrent_graphs_agree_on_every_backend(xylosim_env, kind, readout, reset):
    graph = load_graph(two_recurrent_layers(kind, readout, reset, seed=len(kind) + len(readout)))
    with zero_weight_policy(True):  # agreement is tested on any program, degenerate ones too
        deployment = TARGET.build(graph, {})
    x = random_events(deployment.input_shape, 30, 16, 0.3, 1)
    result = verify_deployment(TARGET, deployment, x, witness_samples=16)
    assert result.ok and all(c.samples == 16 and c.compared_values > 0 for c in result.comparisons)
    assert deployment.sidecar["delays"] == {"a": 0, "b": 1, "readout": 2}
    ref = result.traces["reference"]
    assert ref.outputs["a"].sum() > 0 and ref.outputs["b"].sum() > 0


def test_quantised_model_tracks_the_float_model():
    """With time constants that are powers of two of dt the decays are exact, so spike counts of
    the integer reference follow the float executor's closely (the read-out lags by one step)."""
    g = braille_cubalif("subtract", seed=3)
    rng = np.random.default_rng(0)
    for name in ("lif1", "lif2"):
        n = len(g.nodes[name].tau_mem)
        g.nodes[name].tau_mem = 1e-4 * 2.0 ** rng.integers(3, 6, n)
        g.nodes[name].tau_syn = 1e-4 * 2.0 ** rng.integers(1, 4, n)
    graph = load_graph(g)
    deployment = TARGET.build(graph, {})
    assert all(
        q["decay_error_mem"] == 0 and q["decay_error_syn"] == 0
        for q in deployment.sidecar["quantisation"].values()
    )
    x = random_events((12,), 150, 8, 0.3, 0)
    chip, model = TARGET.run(deployment, "reference", x), run_float(graph, x.astype(float))
    for name in ("lif1", "lif2"):
        a, b = model.outputs[name].sum(0).reshape(-1), chip.outputs[name].sum(0).reshape(-1)
        assert np.corrcoef(a, b)[0, 1] > 0.97
        assert abs(a.sum() - b.sum()) < 0.1 * a.sum()


# ---------------------------------------------------------------- property tests on raw programs


@st.composite
def programs(draw):
    """Random Xylo-sized specifications: full int8 weights, every dash (0 included), small and
    large thresholds, biases, shifts up to 8, one or two synapses — saturation and multi-spike
    steps happen often."""
    n_in, n_hid, n_out = draw(st.integers(1, 16)), draw(st.integers(1, 24)), draw(st.integers(1, 8))
    n_syn = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    density = draw(st.floats(0.1, 0.9))

    def weights(*shape):
        return (rng.integers(-128, 128, shape) * (rng.random(shape) < density)).astype(np.int64)

    def thresholds(n):
        return np.where(rng.random(n) < 0.5, rng.integers(1, 200, n), rng.integers(1, 32768, n))

    use_bias = draw(st.booleans())
    prog = XyloProgram(
        "in",
        (n_in,),
        weights(n_in, n_hid, n_syn),
        weights(n_hid, n_hid, n_syn),
        weights(n_hid, n_out),
        rng.integers(0, 16, n_hid),
        rng.integers(0, 16, n_out),
        rng.integers(0, 16, n_hid),
        rng.integers(0, 16, n_hid),
        rng.integers(0, 16, n_out),
        thresholds(n_hid),
        thresholds(n_out),
        rng.integers(-3000, 3000, n_hid) * use_bias,
        rng.integers(-3000, 3000, n_out) * use_bias,
        *(int(s) for s in rng.integers(0, 9, 3)),
        aliases=[[] for _ in range(n_hid)],
        groups=[
            Group("hid", "CubaLIF", "hidden", 0, n_hid, (n_hid,)),
            Group("out", "CubaLIF", "output", 0, n_out, (n_out,)),
        ],
    )
    x = (rng.random((draw(st.integers(1, 12)), 3, n_in)) < draw(st.floats(0.05, 0.9))).astype(
        np.int64
    )
    return prog, x


def _traces_equal(
    prog: XyloProgram, x: np.ndarray, backends: tuple[str, ...] = ("emulator", "xylosim")
) -> None:
    from nrf_deploy.targets.xylo.emulator import run_emulator
    from nrf_deploy.targets.xylo.reference import run_reference
    from nrf_deploy.targets.xylo.xylosim_witness import run_xylosim

    ref = run_reference(prog, x)
    runners = {"emulator": run_emulator, "xylosim": run_xylosim}
    for name in backends:
        c = compare(ref, runners[name](prog, x), "reference", name, ["in", "hid", "out"])
        assert c.ok, f"{name}: {c.per_variable}, first {c.first.describe()}"
        expected = {"hid/out", "hid/v", "hid/i", "out/out", "out/v", "out/i"} | (
            {"hid/i2"} if prog.n_syn == 2 else set()
        )
        assert c.compared_values >= x.shape[0] * x.shape[1] * (3 * prog.n_hidden + 3 * prog.n_out)
        assert not set(c.per_variable) - expected


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_programs_reference_emulator_xylosim_agree(xylosim_env, case):
    _traces_equal(*case)


@st.composite
def recurrent_graphs(draw):
    """Random Xylo-sized NIR graphs: Input -> Affine -> recurrent hidden (CubaLIF/LIF/IF) ->
    Affine -> read-out (CubaLIF/LIF/LI/I), random sizes, time constants, weights, resets."""
    n_in, n_hid, n_out = draw(st.integers(1, 16)), draw(st.integers(1, 60)), draw(st.integers(1, 8))
    kind = draw(st.sampled_from(["CubaLIF", "CubaLIF", "LIF", "IF"]))
    readout = draw(st.sampled_from(["CubaLIF", "LIF", "LI", "I"]))
    reset = draw(st.sampled_from(["subtract", "zero"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    scale = draw(st.floats(0.2, 5.0))
    graph = two_recurrent_layers(
        kind, readout, reset, seed=int(rng.integers(1 << 30)), sizes=(n_in, n_hid, 1, n_out)
    )
    graph.nodes.pop("b"), graph.nodes.pop("rec_b"), graph.nodes.pop("fc_b")
    graph.nodes["fc_out"] = ir.Affine(
        rng.normal(0.3, scale, (n_out, n_hid)), rng.normal(0, 0.1, n_out)
    )
    graph.nodes["rec_a"] = ir.Affine(
        rng.normal(0, 0.3 * scale, (n_hid, n_hid)) * (rng.random((n_hid, n_hid)) < 0.5),
        np.zeros(n_hid),
    )
    graph.edges = [e for e in graph.edges if "b" not in e and "fc_b" not in e and "rec_b" not in e]
    graph.edges.append(("a", "fc_out"))
    return graph, draw(st.floats(0.05, 0.6))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recurrent_graphs())
def test_random_recurrent_graphs_agree_on_every_backend(xylosim_env, case):
    graph, rate = case
    with zero_weight_policy(True):  # random graphs may quantise a projection to all zeros
        deployment = TARGET.build(load_graph(graph), {})
    comparisons = _agree(deployment, random_events(deployment.input_shape, 15, 3, rate, 0))
    assert all(c.compared_values > 0 for c in comparisons)


def test_saturating_program_takes_the_ordered_path(xylosim_env):
    """A program whose currents saturate mid-delivery: the chip's event order decides the result,
    and the three implementations still agree (the reference falls back to the ordered scan)."""
    n_in, n_hid = 4, 3
    w_in = np.zeros((n_in, n_hid, 1), np.int64)
    w_in[:, 0, 0] = [127, 127, -128, 5]
    prog = XyloProgram(
        "in",
        (n_in,),
        w_in,
        np.zeros((n_hid, n_hid, 1), np.int64),
        np.ones((n_hid, 1), np.int64),
        np.full(n_hid, 15),
        np.array([1]),
        np.full(n_hid, 1),
        np.zeros(n_hid, np.int64),
        np.array([1]),
        np.full(n_hid, 32767),
        np.array([5]),
        np.zeros(n_hid, np.int64),
        np.zeros(1, np.int64),
        8,
        0,
        0,
        aliases=[[] for _ in range(n_hid)],
        groups=[
            Group("hid", "CubaLIF", "hidden", 0, n_hid, (n_hid,)),
            Group("out", "CubaLIF", "output", 0, 1, (1,)),
        ],
    )
    x = np.zeros((3, 1, n_in), np.int64)
    x[:, 0, :] = 1
    _traces_equal(prog, x)
    from nrf_deploy.targets.xylo.reference import run_reference

    # 0 + 32512 + 32512 saturates at 32767 before -32768 arrives: 32767 - 32768 + 1280 = 1279,
    # then the decay by dash 1 leaves 1279 - 639 = 640 (one saturated sum: 32767 - 16383 = 16384)
    assert run_reference(prog, x).states["hid"]["i"][0, 0, 0] == 640


# ---------------------------------------------------------------- each check can fail


def _mutated(monkeypatch, module: str, attr: str, replacement) -> None:
    import importlib

    monkeypatch.setattr(importlib.import_module(module), attr, replacement)


@pytest.mark.parametrize(
    "module,attr,mutant",
    [
        # the emulator forgets the minimum decay of one unit
        (
            "nrf_deploy.targets.xylo.emulator",
            "_decrement",
            lambda v, d: np.floor_divide(v, 2 ** int(d)),
        ),
        # the emulator's add wraps instead of saturating
        (
            "nrf_deploy.targets.xylo.emulator",
            "_safe_add",
            lambda x, y: ((x + y + 0x8000) % 0x10000) - 0x8000,
        ),
    ],
)
def test_emulator_mutants_are_caught(module, attr, mutant, monkeypatch):
    prog, x = _stress_case()
    _mutated(monkeypatch, module, attr, mutant)
    with pytest.raises(AssertionError, match="emulator"):
        _traces_equal(prog, x, ("emulator",))


def test_reference_without_ordered_saturation_is_caught(monkeypatch):
    from nrf_deploy.targets.xylo import reference

    def receive_sum_only(self, i_syn, counts):
        flat = i_syn.reshape(i_syn.shape[0], -1)
        return reference.sat16(flat + counts @ self.flat).reshape(i_syn.shape)

    prog, x = _stress_case()
    monkeypatch.setattr(reference._Layer, "receive", receive_sum_only)
    with pytest.raises(AssertionError, match="first"):
        _traces_equal(prog, x, ("emulator",))


def test_reference_decay_mutant_is_caught(monkeypatch):
    import torch
    from nrf_deploy.targets.xylo import reference

    prog, x = _stress_case()
    monkeypatch.setattr(reference, "decay", lambda v, d: torch.bitwise_right_shift(v, d))
    with pytest.raises(AssertionError, match="first"):
        _traces_equal(prog, x, ("emulator",))


def _stress_case() -> tuple[XyloProgram, np.ndarray]:
    rng = np.random.default_rng(7)
    n_in, n_hid, n_out = 8, 12, 3
    prog = XyloProgram(
        "in",
        (n_in,),
        rng.integers(-128, 128, (n_in, n_hid, 2)),
        rng.integers(-128, 128, (n_hid, n_hid, 2)),
        rng.integers(-128, 128, (n_hid, n_out)),
        rng.integers(1, 6, n_hid),
        rng.integers(1, 6, n_out),
        rng.integers(1, 6, n_hid),
        rng.integers(1, 6, n_hid),
        rng.integers(1, 6, n_out),
        rng.integers(50, 3000, n_hid),
        rng.integers(50, 3000, n_out),
        rng.integers(-50, 50, n_hid),
        rng.integers(-50, 50, n_out),
        8,
        6,
        6,
        aliases=[[] for _ in range(n_hid)],
        groups=[
            Group("hid", "CubaLIF", "hidden", 0, n_hid, (n_hid,)),
            Group("out", "CubaLIF", "output", 0, n_out, (n_out,)),
        ],
    )
    x = (rng.random((12, 3, n_in)) < 0.5).astype(np.int64)
    _traces_equal(prog, x, ("emulator",))  # the unmutated implementations agree on it
    return prog, x


def test_the_stress_case_agrees_with_xylosim(xylosim_env):
    _traces_equal(*_stress_case())


# ---------------------------------------------------------------- artefacts, tampering, refusals


def test_export_is_deterministic_and_loads_back(tmp_path):
    path = _written(braille_cubalif(), tmp_path)
    for d in ("a", "b"):
        assert main(["export", str(path), "--target", "xylo", "-o", str(tmp_path / d)]) == 0
    for name in ("deploy.json", "program.npz", "xylo_spec.npz", "xylo_spec.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    spec = json.loads((tmp_path / "a" / "xylo_spec.json").read_text())
    assert set(spec) == {
        "weight_shift_in",
        "weight_shift_rec",
        "weight_shift_out",
        "aliases",
        "dt",
        "populations",
    }
    assert len(spec["aliases"]) == 38 and not any(spec["aliases"])
    with np.load(tmp_path / "a" / "xylo_spec.npz") as npz:
        assert npz["weights_in"].shape == (12, 38, 1) and npz["weights_rec"].shape == (38, 38, 1)
        assert npz["weights_out"].shape == (38, 7) and npz["threshold_out"].shape == (7,)
        assert set(npz.files) >= {"dash_mem", "dash_syn", "dash_syn_2", "threshold", "bias"}
    loaded = TARGET.load(tmp_path / "a")
    built = TARGET.build(load_graph(braille_cubalif()), {})
    assert np.array_equal(loaded.program.weights_rec, built.program.weights_rec)


# ---------------------------------------------------------------- what ships is what is verified
# (issue #13.1): emulator and xylosim run xylo_spec.npz + xylo_spec.json, the reference program.npz


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    from nrf_deploy.cli.export import export

    out = tmp_path_factory.mktemp("xylo_ship") / "x"
    return export(braille_cubalif(), "xylo", out).out_dir


def _copy(shipped, tmp_path):
    import shutil

    out = tmp_path / "x"
    shutil.copytree(shipped, out)
    return out


def _inputs(deployment) -> np.ndarray:
    return random_events(deployment.input_shape, 20, 6, 0.3, seed=3)


def _mismatches(out) -> dict[str, int]:
    """Mismatches per backend (emulator, xylosim on every sample) of a fresh load of `out`."""
    deployment = TARGET.load(out)
    x = _inputs(deployment)
    result = verify_deployment(TARGET, deployment, x, witness_samples=6)
    return {c.other: c.mismatches for c in result.comparisons}


def _edit_npz(path, key: str, edit) -> None:
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays[key] = edit(arrays[key].copy())
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _edit_json(path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _negate_largest(w: np.ndarray) -> np.ndarray:
    at = np.unravel_index(int(np.argmax(np.abs(w))), w.shape)
    assert w[at] != 0
    w[at] = -w[at] if w[at] != -128 else 127
    return w


def _halve_first(v: np.ndarray) -> np.ndarray:
    v[0] = max(1, v[0] // 2)
    return v


def _other_dash(v: np.ndarray) -> np.ndarray:
    v[0] = (v[0] + 4) % 16
    return v


def _active_recurrent_weight(shipped):
    """Negates the largest recurrent weight leaving the hidden neuron that fires most (a silent
    neuron's weights change nothing)."""
    deployment = TARGET.load(shipped)
    spikes = TARGET.run(deployment, "reference", _inputs(deployment), False).outputs["lif1"]
    busiest = int(np.argmax(spikes.sum(axis=(0, 1))))
    assert spikes.sum() > 0 and deployment.program.groups[0].name == "lif1"

    def edit(w: np.ndarray) -> np.ndarray:
        w[busiest] = _negate_largest(w[busiest])
        return w

    return edit


def test_untampered_export_verifies_and_build_gives_the_written_bytes(xylosim_env, shipped):
    assert _mismatches(shipped) == {"emulator": 0, "xylosim": 0}
    built, loaded = TARGET.build(load_graph(braille_cubalif()), {}), TARGET.load(shipped)
    assert TARGET.chip_files_of(built) == loaded.chip_files  # in memory == on disk
    assert [b.reads for b in TARGET.backend_table] == ["program", "chip_files", "chip_files"]
    ran = TARGET.program_for(loaded, TARGET.backend(loaded, "xylosim"))
    assert ran is not loaded.program and ran.to_arrays().keys() == loaded.program.to_arrays().keys()


@pytest.mark.parametrize(
    "key,edit",
    [
        ("weights_in", _negate_largest),
        ("weights_rec", _active_recurrent_weight),
        ("threshold", _halve_first),
        ("dash_mem", _other_dash),
        ("dash_syn_out", _other_dash),
    ],
)
def test_spec_npz_edit_is_a_mismatch_on_emulator_and_xylosim(
    xylosim_env, shipped, tmp_path, key, edit
):
    out = _copy(shipped, tmp_path)
    _edit_npz(
        out / "xylo_spec.npz", key, edit(shipped) if edit is _active_recurrent_weight else edit
    )
    found = _mismatches(out)
    assert found["emulator"] > 0 and found["xylosim"] > 0, found


def test_spec_json_shift_edit_is_a_mismatch_on_emulator_and_xylosim(xylosim_env, shipped, tmp_path):
    out = _copy(shipped, tmp_path)
    _edit_json(out / "xylo_spec.json", lambda s: s.update(weight_shift_in=s["weight_shift_in"] - 1))
    found = _mismatches(out)
    assert found["emulator"] > 0 and found["xylosim"] > 0, found


def test_program_npz_edit_is_a_mismatch_and_the_cli_exits_1(
    xylosim_env, shipped, tmp_path, capsys
):
    out = _copy(shipped, tmp_path)
    _edit_npz(out / "program.npz", "weights_in", _negate_largest)
    found = _mismatches(out)
    assert found["emulator"] > 0 and found["xylosim"] > 0, found
    capsys.readouterr()
    assert (
        main(["verify", str(out), "--samples", "4", "--witness-samples", "0", "--allow-modified"])
        == 1
    )
    assert "MISMATCH" in capsys.readouterr().out


def _json_edit(edit):
    return lambda out: _edit_json(out / "xylo_spec.json", edit)


def _npz_edit(key, edit):
    return lambda out: _edit_npz(out / "xylo_spec.npz", key, edit)


def _alias(spec: dict) -> None:
    spec["aliases"][2] = [5]


def _population_beyond(spec: dict) -> None:
    spec["populations"][0]["stop"] += 1


@pytest.mark.parametrize(
    "tamper,message",
    [
        (_json_edit(_alias), "hidden neurons [2] have aliases"),
        (
            _json_edit(lambda s: s.update(weights_rec=[[0]])),
            "carries weights_rec, which xylo_spec.npz",
        ),
        (_json_edit(lambda s: s.update(weight_shift_rec=1.5)), "weight_shift_rec = 1.5 is not an"),
        (_json_edit(lambda s: s.pop("populations")), "lacks ['populations']"),
        (_json_edit(_population_beyond), "do not fit the 38 hidden neurons"),
        (_json_edit(lambda s: s["populations"][0].update(name="other")), "are not the graph's"),
        (
            _npz_edit("threshold", lambda v: v * 0),
            "threshold holds [0, 0], the chip takes [1, 32767]",
        ),
        (_npz_edit("bias", lambda v: v + 0.5), "bias holds float64 values, not integers"),
        (_npz_edit("weights_rec", lambda w: w[0, 0, 0]), "weights_rec has shape (), expected 3"),
        (_json_edit(lambda s: s["aliases"].pop()), "37 alias lists for 38 hidden neurons"),
        (lambda out: (out / "xylo_spec.npz").write_bytes(b"not a zip"), "not a readable .npz"),
    ],
    ids=[
        "alias",
        "weights_in_json",
        "float_shift",
        "no_populations",
        "population_beyond",
        "renamed_population",
        "zero_threshold",
        "float_bias",
        "scalar_weights",
        "short_aliases",
        "not_npz",
    ],
)
def test_malformed_spec_is_refused_with_one_message(shipped, tmp_path, tamper, message):
    out = _copy(shipped, tmp_path)
    tamper(out)
    deployment = TARGET.load(out)
    assert TARGET.run(deployment, "reference", np.zeros((2, 1, 12), np.int64)) is not None
    with pytest.raises(NrfError) as err:
        TARGET.run(deployment, "emulator", np.zeros((2, 1, 12), np.int64))
    assert message in err.value.what, err.value.what


def test_malformed_spec_exits_2_through_the_cli(shipped, tmp_path, capsys):
    out = _copy(shipped, tmp_path)
    _edit_json(out / "xylo_spec.json", _alias)
    modified = ["--allow-modified"]  # past the seal, to the chip-file reader's own check
    assert main(["verify", str(out), "--samples", "2", "--witness-samples", "0", *modified]) == 2
    err = capsys.readouterr().err
    assert "xylo_spec.json" in err and "aliases" in err and "Traceback" not in err
    (out / "xylo_spec.npz").unlink()
    assert main(["verify", str(out), "--samples", "2", "--witness-samples", "0", *modified]) == 2
    assert "chip file xylo_spec.npz is missing" in capsys.readouterr().err


def _refused(graph: ir.NIRGraph, tmp_path, capsys, *messages: str) -> None:
    code = main(
        ["export", str(_written(graph, tmp_path)), "--target", "xylo", "-o", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and "Traceback" not in err, err
    for m in messages:
        assert m in err
    assert not (tmp_path / "o").exists()


def test_too_many_neurons_and_inputs_one_message(tmp_path, capsys):
    _refused(
        braille_cubalif(n_in=20, n_hidden=1001, n_out=9),
        tmp_path,
        capsys,
        "3 problems",
        "20 channels",
        "1001 hidden neurons",
        "9 read-out neurons",
    )


def test_unsupported_structure_lists_every_violation(tmp_path, capsys):
    _refused(
        recurrent_cubalif(),
        tmp_path,
        capsys,
        "the input feeds read-out population 'cuba'",
        "'cuba' feeds Output and population 'cuba'",
    )
    graph = braille_cubalif()
    graph.nodes["lif2"] = ir.Threshold(np.ones(7))
    (tmp_path / "t").mkdir()
    _refused(graph, tmp_path / "t", capsys, "'lif2' is a Threshold")


def test_non_binary_input_is_refused(tmp_path, capsys):
    out = tmp_path / "x"
    assert (
        main(
            [
                "export",
                str(_written(braille_cubalif(), tmp_path)),
                "--target",
                "xylo",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    np.save(tmp_path / "x.npy", np.full((5, 2, 12), 2, np.int64))
    assert main(["verify", str(out), "--input", str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert "Xylo inputs are binary spikes" in err and "Traceback" not in err


def test_rockpool_devices_and_samna_never_imported(xylosim_env):
    """rockpool.devices imports samna at package import: nrf-deploy drives xylosim directly, in
    its own environment (the core imports neither xylosim nor rockpool nor samna)."""
    script = r"""
import importlib, pkgutil, sys
import numpy as np
import nrf_deploy.targets.xylo as xylo
for info in pkgutil.walk_packages(xylo.__path__, xylo.__name__ + "."):
    importlib.import_module(info.name)
from nrf_deploy.targets.xylo.format import Group, XyloProgram
from nrf_deploy.targets.xylo.xylosim_witness import run_xylosim
one = np.ones((1, 1, 1), np.int64)
prog = XyloProgram("in", (1,), one, 0 * one, one[0], *[np.ones(1, np.int64)] * 9,
                   groups=[Group("h", "LIF", "hidden", 0, 1, (1,)),
                           Group("o", "LIF", "output", 0, 1, (1,))],
                   aliases=[[]])
assert run_xylosim(prog, np.ones((3, 1, 1), np.int64)).outputs["h"].shape == (3, 1, 1)
bad = sorted(m for m in sys.modules
             if m.startswith("rockpool.devices") or m.split(".")[0] in ("samna", "xylosim"))
print("IMPORTED:", bad)
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0 and "IMPORTED: []" in proc.stdout, proc.stdout + proc.stderr
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "targets" / "xylo"
    assert not [
        p
        for p in folder.glob("*.py")
        if "import rockpool" in p.read_text() or "from rockpool" in p.read_text()
    ]


def test_profile_terms_are_count_times_sourced_constant():
    from nrf_deploy.targets.xylo.profile import PROFILES, cycles_per_step

    # rockpool's cycles_model by hand for Nin=2, Nhid=3, Nout=1, fan-out 1, event probability 1:
    # inputs 2*(3*3.5+1)=23, hidden Isyn 3*(7+3)=30, output Isyn 3*(1+8)=27,
    # hidden spikes 3*(19+3)=66,
    # output spikes 12
    assert cycles_per_step(2, 3, 1, 1.0, 1.0, 1.0, 1.0) == 23 + 30 + 27 + 66 + 12
    profile = PROFILES[0]
    assert profile.constants["inference_power_mw"].value == 0.291
    assert profile.constants["kws_inference_uj"].value == 6.6
    assert profile.constants["cycle_ns"].value is None and profile.constants["sop_pj"].value is None
    layers = {
        "in": {"kind": "Input", "neurons": 2, "spikes": 20.0},
        "h": {"kind": "CubaLIF", "neurons": 3, "spikes": 30.0},
        "o": {"kind": "CubaLIF", "neurons": 1, "spikes": 0.0},
    }
    counts = {"timesteps": 10, "dt": 1e-4, "effective_sops": 50.0, "layers": layers}
    resources = {
        "input_channels": 2,
        "hidden_neurons": 3,
        "output_neurons": 1,
        "mean_recurrent_fanout": 1.0,
        "groups": {"hidden": ["h"], "output": ["o"]},
    }
    result = profile.evaluate(counts, resources)
    assert (
        result["energy_j"] == pytest.approx(0.291e-3 * 10 * 1e-4)
        and result["energy_status"] == "partial"
    )
    assert result["latency_s"] is None and "xylo2.cycle_ns" in result["missing_constants"]
    timed = profile.with_overrides({"cycle_ns": 100.0}).evaluate(counts, resources)
    assert timed["latency_s"] == pytest.approx(10 * 158 * 100e-9)  # p = 1 everywhere here
