"""ONNX target: bad options, damaged or mismatched files and misuse of the baseline give one clear
NrfError (exit 2 from the CLI), never a traceback."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
from graphs import lif_chain, recurrent_cubalif
from nrf_deploy.targets.onnx import OnnxTarget, measure_cpu_baseline
from nrf_deploy.targets.onnx.model import export_float

from nrf_deploy.cli import main
from nrf_deploy.cli.export import export
from nrf_deploy.errors import NrfError
from nrf_deploy.ir import load_graph
from nrf_deploy.ir.write import write_nir


@pytest.fixture
def lif_nir(tmp_path):
    path = tmp_path / "lif.nir"
    write_nir(path, lif_chain())
    return path


@pytest.mark.parametrize(
    "options, message",
    [
        (["--onnx-semantics", "spinnaker"], "unknown --onnx-semantics 'spinnaker'"),
        (["--onnx-unroll", "0"], "--onnx-unroll 0 is outside 1..1000"),
        (["--onnx-unroll", "5000"], "outside 1..1000"),
        (["--onnx-unroll", "three"], "invalid option for target 'onnx'"),
        (["--onnx-fast"], "unrecognized option"),
    ],
)
def test_bad_export_options_are_one_clear_error(lif_nir, tmp_path, capsys, options, message):
    code = main(["export", str(lif_nir), "--target", "onnx", "-o", str(tmp_path / "o"), *options])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "what to do" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_damaged_and_mismatched_models_are_refused(lif_nir, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    export(lif_nir, "onnx", a)
    other = tmp_path / "rec.nir"
    write_nir(other, recurrent_cubalif())
    export(other, "onnx", b)
    shutil.copy(b / "model.onnx", a / "model.onnx")  # a model of another graph
    with pytest.raises(NrfError, match="does not match deploy.json"):
        OnnxTarget().load(a)
    (a / "model.onnx").write_bytes((b / "model.onnx").read_bytes()[:100])  # truncated
    assert main(["verify", str(a)]) == 2
    assert "modified" in capsys.readouterr().err  # the seal notices first
    assert main(["verify", str(a), "--allow-modified"]) == 2
    assert "model.onnx is missing or corrupt" in capsys.readouterr().err
    (b / "source.nir").unlink()
    with pytest.raises(NrfError, match="no source.nir"):
        OnnxTarget().load(b)


def test_wrong_backend_and_input_shape(lif_nir, tmp_path):
    target = OnnxTarget()
    deployment = export(lif_nir, "onnx", tmp_path / "o")
    with pytest.raises(NrfError, match="unknown backend 'emulator'"):
        target.run(deployment, "emulator", np.zeros((2, 1, 3)))
    with pytest.raises(NrfError, match="expects"):
        target.run(deployment, "float", np.zeros((2, 1, 4)))


def test_baseline_refuses_what_it_cannot_time(lif_nir, tmp_path):
    export(lif_nir, "onnx", tmp_path / "o", {"onnx_unroll": 3})
    with pytest.raises(NrfError, match="step model"):
        measure_cpu_baseline(tmp_path / "o" / "model_unrolled.onnx")
    with pytest.raises(NrfError, match="no ONNX model"):
        measure_cpu_baseline(tmp_path / "missing")
    with pytest.raises(NrfError, match="repeats must be at least 1"):
        measure_cpu_baseline(tmp_path / "o", repeats=0)
    plain = onnx.load(str(tmp_path / "o" / "model.onnx"))
    del plain.metadata_props[:]
    with pytest.raises(NrfError, match="no nrf-deploy interface metadata"):
        measure_cpu_baseline(plain)


def test_exporter_checks_its_own_output():
    model = export_float(load_graph(lif_chain()), 1e-3)
    onnx.checker.check_model(model, full_check=True)
    assert {p.key for p in model.metadata_props} >= {
        "nrf_deploy.interface",
        "nrf_deploy.opset",
        "nrf_deploy.dt",
    }
