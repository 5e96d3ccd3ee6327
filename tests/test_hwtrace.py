"""`verify --hardware-trace`: synthetic chip recordings (the emulator's trace with injected faults)
must be reported at the exact step, node and neuron; pinned scales reproduce another mapping."""

from __future__ import annotations

import numpy as np
import pytest
from nrf_deploy.targets import get_target

from nrf_deploy.cli import main
from nrf_deploy.cli.export import export
from nrf_deploy.hwtrace import Recording, verify_recording
from nrf_deploy.ir import nodes as ir
from nrf_deploy.ir.write import write_nir

T, B = 30, 2


def _lif_graph() -> ir.NIRGraph:
    rng = np.random.default_rng(7)
    lif = ir.LIF(tau=np.full(4, 0.01), r=np.ones(4), v_leak=np.zeros(4), v_threshold=np.ones(4))
    return ir.NIRGraph(
        nodes={
            "in": ir.Input({"input": np.array([3])}),
            "fc": ir.Affine(rng.uniform(2.0, 6.0, (4, 3)), np.zeros(4)),
            "lif": lif,
            "out": ir.Output({"output": np.array([4])}),
        },
        edges=[("in", "fc"), ("fc", "lif"), ("lif", "out")],
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """An exported LIF layer, an input and the emulator's trace on it (the 'chip' recording)."""
    out = tmp_path_factory.mktemp("hw") / "lif"
    export(_lif_graph(), "loihi", out)
    x = (np.random.default_rng(3).random((T, B, 3)) < 0.3).astype(np.int64)
    target = get_target("loihi")
    dep = target.load(out)
    trace = target.run(dep, "emulator", x)
    assert 5 <= trace.outputs["lif"].sum() < x.size  # the recording has spikes to get wrong
    return out, x, trace, target, dep


def _recording(setup, late: int = 0) -> dict[str, np.ndarray]:
    _, x, trace, _, _ = setup
    arrays = {
        "input": x,
        "spikes/lif": trace.outputs["lif"].copy(),
        "v/lif": trace.states["lif"]["v"].copy(),
        "u/lif": trace.states["lif"]["u"].copy(),
    }
    for k, values in list(arrays.items()):
        if k != "input" and late:
            shifted = np.zeros_like(values)
            shifted[late:] = values[:-late]
            arrays[k] = shifted
    return arrays


def _verify(setup, tmp_path, arrays, *flags) -> int:
    rec = tmp_path / "rec.npz"
    np.savez(rec, **arrays)
    return main(
        [
            "verify",
            str(setup[0]),
            "--hardware-trace",
            str(rec),
            "--report",
            str(tmp_path / "r.json"),
            *flags,
        ]
    )


def _first(setup, arrays, offset: int = 0, rule: str = "exact"):
    _, _, _, target, dep = setup
    spikes = {k[7:]: v for k, v in arrays.items() if k.startswith("spikes/")}
    states = {"lif": {k[:1]: v for k, v in arrays.items() if k[:2] in ("v/", "u/")}}
    return verify_recording(
        target, dep, Recording("rec", arrays["input"], spikes, states), offset, rule
    )


def _a_spike(setup, after: int = 0) -> tuple[int, int, int]:
    t, b, n = np.argwhere(setup[2].outputs["lif"][after:] == 1)[0]
    return int(t) + after, int(b), int(n)


def test_the_emulator_recording_verifies(setup, tmp_path, capsys):
    assert _verify(setup, tmp_path, _recording(setup)) == 0
    text = capsys.readouterr().out
    assert "0 mismatches" in text and "lif/spikes: 100.00% agree" in text
    assert "lif/v: 100.00% agree" in text


def test_a_missing_spike_is_found_at_its_step_and_neuron(setup, tmp_path, capsys):
    arrays = _recording(setup)
    t, b, n = _a_spike(setup, after=5)
    arrays["spikes/lif"][t, b, n] = 0
    assert _verify(setup, tmp_path, arrays) == 1
    assert f"sample {b}, timestep {t}, node 'lif' (out), neuron ({n},)" in capsys.readouterr().out
    diff = np.load(tmp_path / "hwtrace-diff.npz")
    assert diff["emulator/out/lif"][t, n] == 1 and diff["hardware/out/lif"][t, n] == 0
    result = _first(setup, arrays)
    assert result.comparison.mismatches == 1 and result.detected_offset is None


def test_a_shifted_spike_is_found_where_it_should_have_been(setup, tmp_path):
    arrays = _recording(setup)
    spikes = arrays["spikes/lif"]
    t, b, n = next(
        (t, b, n) for t, b, n in np.argwhere(spikes[:-1] == 1) if spikes[t + 1, b, n] == 0
    )
    spikes[t, b, n], spikes[t + 1, b, n] = 0, 1
    first = _first(setup, arrays).comparison.first
    assert (first.timestep, first.sample, first.node, first.neuron) == (t, b, "lif", [n])
    assert _first(setup, arrays).comparison.mismatches == 2


def test_one_wrong_voltage_is_found(setup, tmp_path, capsys):
    arrays = _recording(setup)
    arrays["v/lif"][17, 1, 2] += 5
    assert _verify(setup, tmp_path, arrays) == 1
    out = capsys.readouterr().out
    assert "sample 1, timestep 17, node 'lif' (v), neuron (2,)" in out
    assert "lif/v: " in out and "(1 of 240 values differ" in out


def test_a_constant_probe_offset_is_diagnosed_not_absorbed(setup, tmp_path, capsys):
    arrays = _recording(setup, late=2)
    assert _verify(setup, tmp_path, arrays) == 1
    out = capsys.readouterr().out
    assert "spikes agree if shifted by 2 step(s)" in out
    assert _first(setup, arrays).detected_offset == 2
    assert _verify(setup, tmp_path, arrays, "--probe-offset", "2") == 0
    assert "declared probe offset: recording is 2 step(s) late" in capsys.readouterr().out
    assert _verify(setup, tmp_path, arrays, "--probe-offset", str(T)) == 2
    assert "leaves no step" in capsys.readouterr().err
    # a fault after a declared offset is reported at the recording's own step
    arrays["spikes/lif"][_a_spike(setup, after=3)[0] + 2, 0, 0] ^= 1
    assert _first(setup, arrays, offset=2).comparison.first.timestep >= 5


def test_readout_rule_separates_spike_step_readings(setup, tmp_path, capsys):
    arrays = _recording(setup)
    fired = setup[2].outputs["lif"] == 1
    arrays["v/lif"][fired] = 999_999  # a probe that reads v before the reset
    assert _verify(setup, tmp_path, arrays) == 1
    capsys.readouterr()
    assert _verify(setup, tmp_path, arrays, "--readout-rule", "spike-step-differs") == 0
    assert f"read-out differs at spike steps: {int(fired.sum())}" in capsys.readouterr().out
    t, b, n = np.argwhere(~fired)[40]  # the rule does not hide other steps
    arrays["v/lif"][t, b, n] += 1
    first = _first(setup, arrays, rule="spike-step-differs").comparison.first
    assert (first.timestep, first.sample, first.neuron, first.variable) == (t, b, [n], "v")


@pytest.mark.parametrize(
    "fault, message",
    [
        (
            lambda a: a.update({"spikes/lif": a["spikes/lif"][..., :3]}),
            "does not match [T, B, *shape]",
        ),
        (lambda a: a.update({"spikes/hidden": a["spikes/lif"]}), "unknown node 'hidden'"),
        (lambda a: a.pop("input"), "no 'input' array"),
        (lambda a: a.update({"input": a["input"][..., :2]}), "recording input has shape"),
        (lambda a: a.update({"w/lif": a["v/lif"]}), "no state variable 'w'"),
    ],
)
def test_malformed_recordings_exit_2_with_where_and_what_to_do(
    setup, tmp_path, capsys, fault, message
):
    arrays = _recording(setup)
    fault(arrays)
    assert _verify(setup, tmp_path, arrays) == 2
    err = capsys.readouterr().err
    assert message in err and "where:" in err and "what to do:" in err


def test_malformed_csv_recordings_exit_2(setup, tmp_path, capsys):
    csv = tmp_path / "bad.csv"
    csv.write_text("t,spike,v\n0,0,0\n1,0,0\n")
    assert main(["verify", str(setup[0]), "--hardware-trace", str(csv)]) == 2
    assert "no 'input' column" in capsys.readouterr().err
    csv.write_text("t,input,v\n0,1,0\n2,0,0\n")
    assert main(["verify", str(setup[0]), "--hardware-trace", str(csv)]) == 2
    assert "column 't' counting timesteps" in capsys.readouterr().err
    csv.write_text("t,input:a,v\n0,1,0\n")
    assert main(["verify", str(setup[0]), "--hardware-trace", str(csv)]) == 2
    assert "input:<flat index>" in capsys.readouterr().err


def test_a_fractional_voltage_is_not_rounded_into_agreement(setup):
    arrays = _recording(setup)
    arrays["v/lif"] = arrays["v/lif"].astype(float)
    arrays["v/lif"][9, 0, 1] += 0.5
    first = _first(setup, arrays).comparison.first
    assert (first.timestep, first.sample, first.neuron, first.variable) == (9, 0, [1], "v")


# --- a single LIF neuron mapped by "another tool" at scale 256 ------------------------------

THETA, TAU, DT, W = 1.0, 0.01, 1e-3, 5.0


def _single_neuron(name: str, neuron: ir.NIRNode) -> ir.NIRGraph:
    """Input -> Affine (weight W) -> one neuron `name` -> Output, dt = DT."""
    graph = ir.NIRGraph(
        nodes={
            "in": ir.Input({"input": np.array([1])}),
            "fc": ir.Affine(np.array([[W]]), np.zeros(1)),
            name: neuron,
            "out": ir.Output({"output": np.array([1])}),
        },
        edges=[("in", "fc"), ("fc", name), (name, "out")],
    )
    graph.metadata = {"dt": DT}
    return graph


def _single_lif() -> ir.NIRGraph:
    lif = ir.LIF(
        tau=np.array([TAU]), r=np.ones(1), v_leak=np.zeros(1), v_threshold=np.array([THETA])
    )
    return _single_neuron("lif", lif)


def _other_tool_recording(x: np.ndarray, scale: float) -> list[tuple[int, int, int, int]]:
    """Lava's bit-accurate LIF written out by hand with integers picked at `scale` (vth units
    per model unit, weight exponent 0): (t, input, spike, v) per step."""
    vth, dv = round(scale * THETA), round(4096 * DT / TAU)
    w = round(scale * W * DT / TAU)  # the LIF's input gain r·dt/τ at scale λ
    v, rows, arriving = 0, [], 0
    for t, s in enumerate(x):
        u = arriving * w << 6  # du = 4095: the current is fresh each step
        d = v * (4096 - dv)
        v = (1 if d >= 0 else -1) * (abs(d) >> 12) + u
        spike = int(v > vth << 6)
        v = 0 if spike else v
        rows.append((t, int(s), spike, v))
        arriving = int(s)  # Dense delivers one timestep later
    return rows


def test_single_lif_with_pinned_scale_verifies_spike_and_voltage(tmp_path, capsys):
    x = (np.random.default_rng(0).random(60) < 0.5).astype(int)
    rows = _other_tool_recording(x, 256.0)
    assert sum(r[2] for r in rows) >= 5
    csv = tmp_path / "probe.csv"
    csv.write_text("t,input,spike,v\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    pinned, free = tmp_path / "pinned", tmp_path / "free"
    assert (
        main(
            [
                "export",
                _save(tmp_path),
                "--target",
                "loihi",
                "-o",
                str(pinned),
                "--loihi-scale",
                "256",
                "--loihi-weight-exp",
                "0",
            ]
        )
        == 0
    )
    assert main(["verify", str(pinned), "--hardware-trace", str(csv)]) == 0
    assert "lif/spikes: 100.00% agree" in capsys.readouterr().out
    # the quantiser's own scale: the same spikes, but every probed voltage differs by the scale
    assert main(["export", _save(tmp_path), "--target", "loihi", "-o", str(free)]) == 0
    assert main(["verify", str(free), "--hardware-trace", str(csv)]) == 1
    out = capsys.readouterr().out
    assert "lif/spikes: 100.00% agree" in out and "node 'lif' (v)" in out


def _save(tmp_path) -> str:
    path = tmp_path / "single.nir"
    if not path.exists():
        write_nir(path, _single_lif())
    return str(path)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--loihi-scale", "1e6"], "beyond the 17-bit maximum"),
        (["--loihi-scale", "256", "--loihi-weight-exp", "-8"], "pin a smaller --loihi-scale"),
        (["--loihi-weight-exp", "0"], "needs --loihi-scale"),
    ],
)
def test_pinned_scales_that_do_not_fit_are_refused(tmp_path, capsys, flags, message):
    assert (
        main(["export", _save(tmp_path), "--target", "loihi", "-o", str(tmp_path / "o"), *flags])
        == 2
    )
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_spinnaker_scale_is_pinned_or_refused(tmp_path, capsys):
    out = tmp_path / "spin"
    assert (
        main(
            [
                "export",
                _save(tmp_path),
                "--target",
                "spinnaker",
                "-o",
                str(out),
                "--spinnaker-scale",
                "1",
            ]
        )
        == 0
    )
    dep = get_target("spinnaker").load(out)
    assert dep.sidecar["quantisation"]["lif"]["scale"] == 1.0
    assert int(dep.program.populations["lif"].v_thresh[0]) == 2**15  # θ = 1 as s16.15
    # the same core checks a SpiNNaker recording: one wrong membrane word is found
    x = (np.random.default_rng(1).random((40, 1, 1)) < 0.5).astype(np.int64)
    trace = get_target("spinnaker").run(dep, "emulator", x)
    v = trace.states["lif"]["v"].copy()
    v[23, 0, 0] += 1
    rec = Recording("rec", x, {"lif": trace.outputs["lif"]}, {"lif": {"v": v}})
    result = verify_recording(get_target("spinnaker"), dep, rec)
    assert result.comparison.mismatches == 1 and result.comparison.first.timestep == 23
    assert (
        main(
            [
                "export",
                _save(tmp_path),
                "--target",
                "spinnaker",
                "-o",
                str(tmp_path / "x"),
                "--spinnaker-scale",
                "1e9",
            ]
        )
        == 2
    )
    assert "does not fit" in capsys.readouterr().err


def test_a_pinned_scale_that_overflows_a_readout_is_refused(tmp_path, capsys):
    graph = _single_neuron("li", ir.LI(tau=np.array([TAU]), r=np.ones(1), v_leak=np.zeros(1)))
    path = tmp_path / "li.nir"
    write_nir(path, graph)
    assert (
        main(
            [
                "export",
                str(path),
                "--target",
                "loihi",
                "-o",
                str(tmp_path / "a"),
                "--loihi-scale",
                "256",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "export",
                str(path),
                "--target",
                "loihi",
                "-o",
                str(tmp_path / "b"),
                "--loihi-scale",
                "30000",
            ]
        )
        == 2
    )  # |v| ≤ W = 5: 64·30000·5 > 2^23
    assert "read-out membrane can reach" in capsys.readouterr().err
