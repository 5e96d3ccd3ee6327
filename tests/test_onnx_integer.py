"""ONNX target, integer models: the integer reference of a Speck export as an int64 ONNX model,
run by onnxruntime and compared exactly with the Speck target's own integer reference (torch,
targets/speck/reference.py — an independent implementation)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from nrf_deploy.targets.onnx import OnnxTarget
from onnx import numpy_helper

from nrf_deploy.cli import main
from nrf_deploy.cli.export import export
from nrf_deploy.errors import NrfError
from nrf_deploy.inputs import random_events
from nrf_deploy.verify import verify_deployment


@pytest.fixture(scope="module")
def speck_dir(fixture_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("speck") / "speck"
    export(fixture_path, "speck", out)
    return out


@pytest.fixture(scope="module")
def int_dir(fixture_path, speck_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx_int") / "onnx"
    export(fixture_path, "onnx", out, {"onnx_integer_from": str(speck_dir), "onnx_unroll": 6})
    return out


def _exact(target, deployment, x):
    result = verify_deployment(target, deployment, x, witness_samples=0)
    (c,) = result.comparisons
    assert (c.reference, c.other) == ("speck-reference", "onnxruntime")
    assert c.ok and c.max_abs_error == 0 and c.compared_values > 0, c.first and c.first.describe()
    return result.traces["speck-reference"], result.traces["onnxruntime"]


def test_integer_model_checks_and_equals_the_speck_reference(int_dir):
    model = onnx.load(str(int_dir / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert {o.type.tensor_type.elem_type for o in model.graph.output} == {onnx.TensorProto.INT64}
    target = OnnxTarget()
    deployment = target.load(int_dir)
    assert target.backend_names(deployment) == ("speck-reference", "onnxruntime")
    ref, ort = _exact(target, deployment, random_events(deployment.input_shape, 10, 16, 0.2, 0))
    assert ort.outputs["12"].dtype == np.int64 and ref.outputs["1"].sum() > 0


def test_saturation_and_multi_spike_are_exact(int_dir):
    """Inputs of up to 40 events per pixel drive the 16-bit state into saturation."""
    target = OnnxTarget()
    deployment = target.load(int_dir)
    ref, _ = _exact(
        target, deployment, random_events(deployment.input_shape, 6, 6, 0.5, 1, max_count=40)
    )
    assert sum(int(s["saturated"].sum()) for s in ref.states.values()) > 0
    assert ref.outputs["1"].max() > 1


def test_unrolled_integer_model_equals_stepwise(int_dir):
    import onnxruntime as ort

    target = OnnxTarget()
    deployment = target.load(int_dir)
    x = random_events(deployment.input_shape, 6, 3, 0.3, 2, max_count=3)
    session = ort.InferenceSession(
        str(int_dir / "model_unrolled.onnx"), providers=["CPUExecutionProvider"]
    )
    unrolled = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"x": x})))
    reference = target.run(deployment, "speck-reference", x)
    for layer in ("1", "3", "6", "10", "12"):
        np.testing.assert_array_equal(unrolled[f"out.{layer}"], reference.outputs[layer])


def test_a_weight_one_unit_off_is_caught_by_verify(int_dir, tmp_path, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(int_dir, bad)
    model = onnx.load(str(bad / "model.onnx"))
    init = next(i for i in model.graph.initializer if i.name == "3.weight")
    w = numpy_helper.to_array(init).copy()
    w[0, 0, 1, 1] += 1.0
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(model, str(bad / "model.onnx"))
    assert main(["verify", str(bad), "--samples", "8", "--timesteps", "8"]) == 2
    assert "changed: model.onnx" in capsys.readouterr().err  # the seal notices first
    assert main(["verify", str(bad), "--samples", "8", "--timesteps", "8", "--allow-modified"]) == 1
    text = capsys.readouterr().out
    assert "MISMATCH" in text and "speck-reference" in text


def test_inputs_the_integer_model_cannot_take(int_dir):
    target = OnnxTarget()
    deployment = target.load(int_dir)
    limit = deployment.sidecar["max_input_count"]
    x = np.zeros((2, 1, *deployment.input_shape), np.int64)
    x[0, 0, 0, 0, 0] = -1
    with pytest.raises(NrfError, match="non-negative"):
        target.run(deployment, "onnxruntime", x)
    x[0, 0, 0, 0, 0] = limit + 1
    with pytest.raises(NrfError, match="exceeds"):
        target.run(deployment, "onnxruntime", x)
    with pytest.raises(NrfError, match="unknown backend 'float'"):
        target.run(deployment, "float", x)


def test_integer_source_must_be_a_speck_export_of_the_same_model(fixture_path, speck_dir, tmp_path):
    loihi = tmp_path / "loihi"
    loihi.mkdir()
    (loihi / "deploy.json").write_text('{"format": "nrf-deploy/1", "target": "loihi"}')
    with pytest.raises(NrfError, match="speck exports only"):
        export(fixture_path, "onnx", tmp_path / "o1", {"onnx_integer_from": str(loihi)})
    other = tmp_path / "other"
    shutil.copytree(speck_dir, other)
    data = json.loads((other / "deploy.json").read_text())
    data["source"]["fingerprint"] = "0" * 64
    (other / "deploy.json").write_text(json.dumps(data))
    with pytest.raises(NrfError, match="different model"):
        export(fixture_path, "onnx", tmp_path / "o2", {"onnx_integer_from": str(other)})
    with pytest.raises(NrfError, match="does not exist"):
        export(
            fixture_path, "onnx", tmp_path / "o3", {"onnx_integer_from": str(tmp_path / "missing")}
        )
    with pytest.raises(NrfError, match="float exports only"):
        export(
            fixture_path,
            "onnx",
            tmp_path / "o4",
            {"onnx_integer_from": str(speck_dir), "onnx_semantics": "sinabs"},
        )
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 5))
