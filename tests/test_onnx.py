"""ONNX target, float models: onnxruntime vs the float executor (nrf_deploy/ir/executor.py, an
independent implementation) — spikes identical, other values within 1e-5; unrolled == stepwise;
a corrupted model is caught; the CPU baseline figures."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from graphs import lif_chain, recurrent_cubalif
from nrf_deploy.exporters.nir import export_rf_snn
from nrf_deploy.targets.onnx import OnnxTarget, measure_cpu_baseline
from onnx import numpy_helper

from nrf_deploy.cli import main
from nrf_deploy.cli.export import export
from nrf_deploy.inputs import random_events
from nrf_deploy.ir import Semantics, load_graph, run_float
from nrf_deploy.ir import nodes as ir
from nrf_deploy.ir.write import write_nir
from nrf_deploy.models import CONFIGS, RFSNN
from nrf_deploy.verify import verify_deployment


def _verify(deployment, x, target=None):
    """The generic verify (what 'nrf-deploy verify' runs): onnxruntime against the float
    executor."""
    target = target or OnnxTarget()
    result = verify_deployment(target, deployment, x, witness_samples=0)
    (c,) = result.comparisons
    assert (c.reference, c.other) == ("float", "onnxruntime")
    assert c.ok, c.first and c.first.describe()
    assert c.max_abs_error <= 1e-5 and c.compared_values > 0
    return result.traces["float"], result.traces["onnxruntime"]


def _mixed_graph() -> ir.NIRGraph:
    """Every float node type the exporter maps, with a recurrent LIF and two inputs into one
    node."""
    rng = np.random.default_rng(3)
    lif = ir.LIF(
        tau=rng.uniform(0.003, 0.03, 6),
        r=np.full(6, 1.2),
        v_leak=np.full(6, 0.05),
        v_threshold=np.full(6, 0.8),
    )
    lif.metadata = {"reset": "subtract"}
    ifn = ir.IF(r=np.ones((2, 4, 4)), v_threshold=np.full((2, 4, 4), 1.5))
    ifn.metadata = {"reset": "zero"}
    return ir.NIRGraph(
        nodes={
            "in": ir.Input({"input": np.array([1, 8, 8])}),
            "conv": ir.Conv2d(
                input_shape=(8, 8),
                weight=rng.normal(0.4, 0.5, (2, 1, 3, 3)),
                stride=1,
                padding=1,
                dilation=1,
                groups=1,
                bias=rng.normal(0, 0.1, 2),
            ),
            "avg": ir.AvgPool2d(
                kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])
            ),
            "scale": ir.Scale(np.full((2, 4, 4), 1.7)),
            "if": ifn,
            "flat": ir.Flatten({"input": np.array([2, 4, 4])}, start_dim=0, end_dim=-1),
            "fc": ir.Affine(rng.normal(0.2, 0.4, (6, 32)), rng.normal(0, 0.1, 6)),
            "lif": lif,
            "rec": ir.Linear(rng.normal(0, 0.4, (6, 6))),
            "integ": ir.I(r=np.full(6, 0.5)),
            "li": ir.LI(tau=np.full(6, 0.01), r=np.ones(6), v_leak=np.zeros(6)),
            "thr": ir.Threshold(np.full(6, 0.3)),
            "out": ir.Output({"output": np.array([6])}),
            "out2": ir.Output({"output": np.array([6])}),
        },
        edges=[
            ("in", "conv"),
            ("conv", "avg"),
            ("avg", "scale"),
            ("scale", "if"),
            ("if", "flat"),
            ("flat", "fc"),
            ("fc", "lif"),
            ("lif", "rec"),
            ("rec", "lif"),
            ("lif", "integ"),
            ("lif", "li"),
            ("li", "thr"),
            ("thr", "out"),
            ("integ", "out2"),
        ],
    )


def test_fixture_exports_checks_and_verifies(fixture_path, tmp_path):
    export(fixture_path, "onnx", tmp_path / "onnx", {"onnx_unroll": 4})
    for name in ("model.onnx", "model_unrolled.onnx"):
        onnx.checker.check_model(onnx.load(str(tmp_path / "onnx" / name)), full_check=True)
    target = OnnxTarget()
    deployment = target.load(tmp_path / "onnx")
    ref, _ = _verify(deployment, random_events((2, 34, 34), 10, 16, 0.2, 0), target)
    assert ref.output().sum() > 0


def test_sinabs_semantics_follow_the_executor_preset():
    """--onnx-semantics sinabs: spike when v >= threshold, multi-spike, IF clamp at -threshold."""
    target = OnnxTarget()
    graph = load_graph(_mixed_graph())
    deployment = target.build(graph, {"dt": 1e-3, "onnx_semantics": "sinabs"})
    x = random_events(deployment.input_shape, 40, 6, 0.6, 8, max_count=3)
    _, ort = _verify(deployment, x, target)
    sinabs = run_float(graph, x, dt=1e-3, semantics=Semantics.named("sinabs"))
    nir_default = run_float(graph, x, dt=1e-3)
    assert ort.outputs["if"].max() > 1  # several spikes in one step
    np.testing.assert_array_equal(ort.outputs["thr"], sinabs.outputs["thr"])
    assert not np.array_equal(ort.outputs["if"], nir_default.outputs["if"])


@pytest.mark.parametrize(
    "graph",
    [recurrent_cubalif(n_in=3, n=6), lif_chain(tau=0.002, reset="subtract"), _mixed_graph()],
    ids=["recurrent-cubalif", "lif-subtract", "every-node-type"],
)
def test_small_graphs_verify(graph):
    target = OnnxTarget()
    deployment = target.build(load_graph(graph), {"dt": 1e-3})
    ref, ort = _verify(deployment, random_events(deployment.input_shape, 40, 6, 0.5, 2), target)
    spiking = [n for n in deployment.sidecar["spiking_nodes"] if n in ort.outputs]
    assert spiking and all(ref.outputs[n].sum() > 0 for n in spiking)
    assert set(ort.states) == {n for n in ref.states}  # every neuron's state is compared


def test_recurrent_state_layout_is_documented_order():
    model = (
        OnnxTarget()
        .build(load_graph(recurrent_cubalif(n_in=3, n=6)), {"dt": 1e-3})
        .program["model"]
    )
    assert [i.name for i in model.graph.input] == ["x", "state.cuba.i", "state.cuba.v", "prev.rec"]
    assert [o.name for o in model.graph.output] == [
        "out.cuba",
        "out.out",
        "next.state.cuba.i",
        "next.state.cuba.v",
        "next.prev.rec",
    ]
    assert model.opset_import[0].version == 17


def test_rf_snn_exports_and_verifies():
    """The receptive-field SNN's graph (Conv2d, per-channel-tau LIF reset to zero, SumPool, LI
    read-out).

    Untrained RF kernels with binary inputs put membranes *exactly* on the threshold (dt/tau = 1/4,
    kernel sums that are whole numbers), where the spike depends on float32 summation order — a tie
    no two conv implementations break alike (docs/targets/onnx.md). Training moves the weights off
    these ties; a small weight jitter does the same here."""
    graph = export_rf_snn(RFSNN(CONFIGS["tiny"]).eval())
    conv = graph.nodes["conv"]
    conv.weight = conv.weight + np.random.default_rng(0).normal(0, 1e-3, conv.weight.shape)
    target = OnnxTarget()
    deployment = target.build(load_graph(graph), {})
    ref, _ = _verify(deployment, random_events(deployment.input_shape, 12, 8, 0.2, 3), target)
    assert ref.outputs["lif"].sum() > 0 and np.abs(ref.outputs["readout"]).max() > 0


def test_unrolled_model_equals_stepwise():
    import onnxruntime as ort

    target = OnnxTarget()
    deployment = target.build(load_graph(_mixed_graph()), {"dt": 1e-3, "onnx_unroll": 12})
    x = random_events(deployment.input_shape, 12, 3, 0.5, 4).astype(np.float32)
    session = ort.InferenceSession(
        deployment.program["unrolled"].SerializeToString(), providers=["CPUExecutionProvider"]
    )
    unrolled = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"x": x})))
    stepwise = target.run(deployment, "onnxruntime", x)
    executor = target.run(deployment, "float", x)
    for node in ("if", "lif", "integ", "li", "thr", "out", "out2"):
        np.testing.assert_array_equal(unrolled[f"out.{node}"], stepwise.outputs[node])
        np.testing.assert_allclose(
            unrolled[f"out.{node}"], executor.outputs[node], rtol=0, atol=1e-5
        )


def _perturb(path, name: str, delta: float) -> None:
    model = onnx.load(str(path))
    for init in model.graph.initializer:
        if init.name == name:
            w = numpy_helper.to_array(init).copy()
            w.reshape(-1)[0] += delta
            init.CopyFrom(numpy_helper.from_array(w, init.name))
            break
    else:
        raise AssertionError(f"no initializer {name}")
    onnx.save(model, str(path))


def test_verify_cli_passes_then_catches_a_perturbed_weight(tmp_path, capsys):
    graph = tmp_path / "lif.nir"
    write_nir(graph, lif_chain(n_in=4, n_out=6, reset="zero"))
    out = tmp_path / "o"
    assert (
        main(["export", str(graph), "--target", "onnx", "-o", str(out), "--onnx-unroll", "3"]) == 0
    )
    assert main(["verify", str(out), "--samples", "16"]) == 0
    assert "0 mismatches" in capsys.readouterr().out
    _perturb(
        out / "model.onnx", "fc.weight_t", 1e-3
    )  # a small change: values move, spikes mostly not
    assert main(["verify", str(out), "--samples", "16"]) == 2  # the seal notices first
    assert main(["verify", str(out), "--samples", "16", "--allow-modified"]) == 1
    text = capsys.readouterr().out
    assert "MISMATCH" in text and "first divergence" in text


def test_cli_runs_the_onnxruntime_backend(tmp_path, capsys):
    graph, x_path, out = tmp_path / "g.nir", tmp_path / "x.npy", tmp_path / "o"
    write_nir(graph, recurrent_cubalif(n_in=3, n=6))
    x = random_events((3,), 15, 2, 0.5, 9)
    np.save(x_path, x)
    assert main(["export", str(graph), "--target", "onnx", "-o", str(out)]) == 0
    assert (
        main(
            [
                "run",
                str(out),
                "--backend",
                "onnxruntime",
                "--input",
                str(x_path),
                "-o",
                str(tmp_path / "r.npz"),
            ]
        )
        == 0
    )
    saved = np.load(tmp_path / "r.npz")
    key = next(k for k in saved.files if k.endswith("cuba"))
    expected = run_float(load_graph(graph), x, dt=1e-3).outputs["cuba"]
    np.testing.assert_array_equal(saved[key], expected)


def test_cpu_baseline_figures(fixture_path, tmp_path):
    export(fixture_path, "onnx", tmp_path / "o")
    figures = measure_cpu_baseline(
        tmp_path / "o" / "model.onnx", timesteps=3, batch_sizes=(1, 4), repeats=2
    )
    b1, b4 = figures["batch_1"], figures["batch_4"]
    assert 0 < b1["cpu_latency_per_step_s"] < b1["cpu_latency_per_inference_s"] and b4["batch"] == 4
    assert b1["cpu_latency_per_step_s"] == pytest.approx(b1["cpu_latency_per_inference_s"] / 3)
    # conv 16x2x5x5 over 16x16x16, conv 16x16x3x3 over 16x16x16, conv 8x16x3x3 over 8x8x8, fc
    # 128->256, fc 256->10
    assert (
        figures["dense_macs_per_step"]
        == 50 * 4096 + 144 * 4096 + 144 * 512 + 128 * 256 + 256 * 10
        == 903680
    )
    assert figures["dense_macs_per_inference"] == 3 * 903680


def test_exports_are_byte_identical(fixture_path, tmp_path):
    for d in ("a", "b"):
        export(fixture_path, "onnx", tmp_path / d, {"onnx_unroll": 2})
    for name in ("model.onnx", "model_unrolled.onnx", "deploy.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
