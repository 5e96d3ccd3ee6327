"""ONNX step model == float executor (spikes exact, values within 1e-5); unrolled == stepwise."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

from graphs import lif_chain, recurrent_cubalif
from nrf_deploy.cli.export import export
from nrf_deploy.inputs import random_events
from nrf_deploy.ir import load_graph
from nrf_deploy.targets.onnx import OnnxTarget, measure_cpu_baseline
from nrf_deploy.verify import compare

TARGET = OnnxTarget()


def _check(deployment, x):
    ref = TARGET.run(deployment, "float", x)
    ort = TARGET.run(deployment, "onnxruntime", x)
    c = compare(ref, ort, "float", "onnxruntime", deployment.sidecar["schedule"], TARGET.tolerance,
                spiking=frozenset(deployment.sidecar["spiking_nodes"]))
    assert c.ok, c.first and c.first.describe()
    assert c.max_abs_error <= 1e-5 and c.compared_values > 0
    return ref, ort


def test_fixture_exports_checks_and_verifies(fixture_path, tmp_path):
    deployment = export(fixture_path, "onnx", tmp_path / "onnx", {"onnx_unroll": 4})
    onnx.checker.check_model(onnx.load(str(tmp_path / "onnx" / "model.onnx")))
    deployment = TARGET.load(tmp_path / "onnx")
    ref, _ = _check(deployment, random_events((2, 34, 34), 10, 8, 0.2, 0).astype(np.float32))
    assert ref.output().sum() > 0


@pytest.mark.parametrize("graph", [recurrent_cubalif(n_in=3, n=6), lif_chain(tau=0.002, reset="subtract")])
def test_recurrent_and_reset_variants(graph):
    deployment = TARGET.build(load_graph(graph), {"dt": 1e-3})
    ref, _ = _check(deployment, random_events(deployment.input_shape, 40, 4, 0.5, 2).astype(np.float32))
    assert ref.output().sum() > 0


def test_unrolled_model_equals_stepwise(tmp_path):
    import onnxruntime as ort

    deployment = TARGET.build(load_graph(recurrent_cubalif(n_in=3, n=6)), {"dt": 1e-3, "onnx_unroll": 12})
    x = random_events(deployment.input_shape, 12, 3, 0.5, 4).astype(np.float32)
    session = ort.InferenceSession(deployment.program["unrolled"].SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    unrolled = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"x": x})))
    stepwise = TARGET.run(deployment, "onnxruntime", x)
    np.testing.assert_array_equal(unrolled["out.cuba"], stepwise.outputs["cuba"])


def test_a_perturbed_weight_is_detected():
    from onnx import numpy_helper

    deployment = TARGET.build(load_graph(lif_chain(n_in=4, n_out=6, reset="zero")), {"dt": 1e-3})
    model = deployment.program["model"]
    for init in model.graph.initializer:
        if init.name == "fc.weight":
            w = numpy_helper.to_array(init).copy()
            w[0, 0] += 0.05
            init.CopyFrom(numpy_helper.from_array(w, init.name))
    x = random_events(deployment.input_shape, 30, 4, 0.6, 1).astype(np.float32)
    c = compare(TARGET.run(deployment, "float", x), TARGET.run(deployment, "onnxruntime", x), "float", "onnxruntime",
                deployment.sidecar["schedule"], TARGET.tolerance, spiking=frozenset(deployment.sidecar["spiking_nodes"]))
    assert not c.ok


def test_cpu_baseline_figures(fixture_path, tmp_path):
    export(fixture_path, "onnx", tmp_path / "o")
    figures = measure_cpu_baseline(TARGET.load(tmp_path / "o"), timesteps=3, batch_sizes=(1, 4), repeats=2)
    assert figures["batch_1"]["cpu_latency_per_step_s"] > 0 and figures["batch_4"]["batch"] == 4
    assert figures["dense_macs_per_step"] == 903680
