"""What ships is what is verified: the emulator and the vendor witness run the export's chip files,
the integer reference runs program.npz, so an edit to either side is a mismatch (issue #13.1)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import CLI
from graphs import recurrent_cubalif
from nrf_deploy.targets import get_target
from test_speck_graphs import branchy

from nrf_deploy.cli.export import export
from nrf_deploy.inputs import random_events
from nrf_deploy.ir import load_graph
from nrf_deploy.ir import nodes as ir
from nrf_deploy.ir.load import read_nir_file
from nrf_deploy.ir.write import write_nir
from nrf_deploy.verify import verify_deployment


def mixed_taus(seed: int = 0) -> ir.NIRGraph:
    """in -> fc1 -> lif1 (two time constants: two Lava LIF processes) -> fc2 -> lif2 -> out."""
    rng = np.random.default_rng(seed)

    def lif(taus: np.ndarray) -> ir.LIF:
        n = taus.size
        node = ir.LIF(tau=taus, r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n))
        node.metadata = {"reset": "zero"}
        return node

    return ir.NIRGraph(
        nodes={
            "in": ir.Input({"input": np.array([5])}),
            "fc1": ir.Affine(rng.normal(1.0, 1.5, (6, 5)), np.zeros(6)),
            "lif1": lif(np.repeat([0.01, 0.03], 3)),
            "fc2": ir.Linear(rng.normal(0.5, 1.5, (4, 6))),
            "lif2": lif(np.full(4, 0.02)),
            "out": ir.Output({"output": np.array([4])}),
        },
        edges=[("in", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "out")],
        metadata={"dt": 1e-3},
    )


GRAPHS = {"speck": lambda: branchy(3, 3, 8, 3), "spinnaker": recurrent_cubalif, "loihi": mixed_taus}
RATE = {"speck": 0.3, "spinnaker": 0.3, "loihi": 0.4}


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ship")
    return {name: export(make(), name, root / name).out_dir for name, make in GRAPHS.items()}


def _copy(exports: dict[str, Path], target: str, tmp_path: Path) -> Path:
    out = tmp_path / target
    shutil.copytree(exports[target], out)
    return out


def _mismatches(target_name: str, out: Path, witness: int = 0) -> dict[str, int]:
    """Mismatches per backend of a fresh load of `out` against its reference."""
    target = get_target(target_name)
    deployment = target.load(out)
    x = random_events(deployment.input_shape, 20, 6, RATE[target_name], seed=3)
    result = verify_deployment(target, deployment, x, witness)
    return {c.other: c.mismatches for c in result.comparisons}


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _edit_npz(path: Path, key: str, edit) -> None:
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays[key] = edit(arrays[key].copy())
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _largest(a: np.ndarray) -> tuple:
    return np.unravel_index(int(np.argmax(np.abs(a))), a.shape)


# --- untampered: 0 mismatches, fresh from build and after load -----------------------------------


@pytest.mark.parametrize("target", ["speck", "spinnaker", "loihi"])
def test_untampered_exports_verify(exports, target):
    assert all(n == 0 for n in _mismatches(target, exports[target]).values())
    t = get_target(target)
    built = t.build(load_graph(GRAPHS[target]()), {})
    on_disk = t.load(exports[target])
    assert t.chip_files_of(built) == on_disk.chip_files, (
        "build and write must give the same chip bytes"
    )


def test_witnesses_read_the_chip_files(lava_env, sinabs_env, exports, tmp_path):
    """sinabs and Lava run the chip files: an edit there shows in their comparison too."""
    out = _copy(exports, "speck", tmp_path)
    assert _mismatches("speck", out, witness=2)["sinabs"] == 0
    _edit_json(
        out / "chip_config.json",
        lambda c: c["cnn_layers"][c["core_of_layer"]["n1"]].update(
            threshold_high=c["cnn_layers"][c["core_of_layer"]["n1"]]["threshold_high"] + 7
        ),
    )
    assert _mismatches("speck", out, witness=2)["sinabs"] > 0
    out = _copy(exports, "loihi", tmp_path)
    _edit_json(
        out / "lava_network.json",
        lambda d: d["processes"][0].update(vth=d["processes"][0]["vth"] // 2),
    )
    found = _mismatches("loihi", out, witness=1)
    assert found["lava"] > 0 and found["emulator"] > 0


# --- Speck --------------------------------------------------------------------------------------


def _speck_weight(config: dict) -> None:
    layer = config["cnn_layers"][config["core_of_layer"]["n1"]]
    w = np.asarray(layer["weights"])
    at = _largest(w)
    w[at] = -w[at] if abs(w[at]) < 128 else 0
    layer["weights"] = w.tolist()


def test_speck_chip_config_weight_edit_is_caught(exports, tmp_path):
    out = _copy(exports, "speck", tmp_path)
    _edit_json(out / "chip_config.json", _speck_weight)
    assert _mismatches("speck", out)["emulator"] > 0
    argv = [*CLI, "verify", str(out), "--samples", "4", "--witness-samples", "0"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2 and "changed: chip_config.json" in proc.stderr  # the seal first
    proc = subprocess.run(
        [*argv, "--allow-modified"], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # then the emulator
    assert "MISMATCH" in proc.stdout


def test_speck_chip_config_bias_needs_leak_enable(exports, tmp_path):
    """Biases enter on the leak clock: switching it off is an edit the chip would run."""
    out = _copy(exports, "speck", tmp_path)
    config = json.loads((out / "chip_config.json").read_text())
    core = config["core_of_layer"]["n1"]
    assert config["cnn_layers"][core]["leak_enable"], "the test graph must have biases"
    _edit_json(out / "chip_config.json", lambda c: c["cnn_layers"][core].update(leak_enable=False))
    assert _mismatches("speck", out)["emulator"] > 0


def test_speck_program_weight_edit_is_caught(exports, tmp_path):
    out = _copy(exports, "speck", tmp_path)
    _edit_npz(out / "program.npz", "layer/0/weight", lambda w: _negated_at(w, _largest(w)))
    assert _mismatches("speck", out)["emulator"] > 0


def _negated_at(w: np.ndarray, at: tuple) -> np.ndarray:
    w[at] = -w[at] if w[at] != 0 else 5
    return w


# --- SpiNNaker ----------------------------------------------------------------------------------


def _population(net: dict, label: str) -> dict:
    return next(p for p in net["populations"] if p["label"] == label)


def test_spinnaker_connection_weight_edit_is_caught(exports, tmp_path):
    out = _copy(exports, "spinnaker", tmp_path)
    key = json.loads((out / "network.json").read_text())["projections"][0]["connections"].split(
        ":"
    )[1]

    def halve_largest(rows: np.ndarray) -> np.ndarray:
        rows[int(np.argmax(rows[:, 2])), 2] *= 0.5
        return rows

    _edit_npz(out / "connections.npz", key, halve_largest)
    assert _mismatches("spinnaker", out)["emulator"] > 0


@pytest.mark.parametrize("field", ["v_thresh", "tau_m", "tau_syn"])
def test_spinnaker_pynn_parameter_edit_is_caught(exports, tmp_path, field):
    """A PyNN-visible value, including one whose chip word is also recorded exactly (tau_m ->
    exp_TC, tau_syn -> decay/init), changes what the emulator runs."""
    out = _copy(exports, "spinnaker", tmp_path)

    def edit(net: dict) -> None:
        params = _population(net, "cuba")["cellparams"]
        if field == "tau_syn":
            params["tau_syn_E"] = params["tau_syn_I"] = params["tau_syn_E"] * 2
        else:
            params[field] = params[field] * (0.5 if field == "v_thresh" else 2)

    _edit_json(out / "network.json", edit)
    assert _mismatches("spinnaker", out)["emulator"] > 0


def test_spinnaker_exact_word_edit_is_caught_and_float_recovery_is_exact(exports, tmp_path):
    out = _copy(exports, "spinnaker", tmp_path)
    _edit_json(
        out / "network.json",
        lambda net: _population(net, "cuba")["chip_words"].update(
            exp_tc=_population(net, "cuba")["chip_words"]["exp_tc"] - 1
        ),
    )
    assert _mismatches("spinnaker", out)["emulator"] > 0
    # without the recorded words, float64 from the PyNN values gives every word back exactly
    out = _copy(exports, "spinnaker", tmp_path / "plain")
    _edit_json(
        out / "network.json", lambda net: [p.pop("chip_words", None) for p in net["populations"]]
    )
    assert _mismatches("spinnaker", out)["emulator"] == 0


def test_spinnaker_program_threshold_edit_is_caught(exports, tmp_path):
    out = _copy(exports, "spinnaker", tmp_path)
    path = out / "program.npz"
    with np.load(path) as npz:  # the deterministic zip, rewritten by numpy
        arrays = {k: npz[k] for k in npz.files}
    arrays["pop/cuba/v_thresh"] = arrays["pop/cuba/v_thresh"] // 2
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    assert _mismatches("spinnaker", out)["emulator"] > 0


# --- Loihi --------------------------------------------------------------------------------------


def test_loihi_lava_weight_edit_is_caught(exports, tmp_path):
    out = _copy(exports, "loihi", tmp_path)
    _edit_npz(
        out / "lava_network.npz",
        "connection/0/data",
        lambda d: _zero_at(d, int(np.argmax(np.abs(d)))),
    )
    assert _mismatches("loihi", out)["emulator"] > 0


def _zero_at(d: np.ndarray, i: int) -> np.ndarray:
    d[i] = 0
    return d


def test_loihi_lava_weight_exp_edit_is_caught(exports, tmp_path):
    out = _copy(exports, "loihi", tmp_path)
    _edit_json(
        out / "lava_network.json",
        lambda d: d["connections"][-1].update(weight_exp=d["connections"][-1]["weight_exp"] + 1),
    )
    assert _mismatches("loihi", out)["emulator"] > 0


def test_loihi_program_vth_edit_is_caught(exports, tmp_path):
    out = _copy(exports, "loihi", tmp_path)
    _edit_npz(out / "program.npz", "pop/lif1/vth", lambda v: v // 2)
    assert _mismatches("loihi", out)["emulator"] > 0


def test_loihi_network_has_one_process_per_time_constant(exports):
    net = json.loads((exports["loihi"] / "lava_network.json").read_text())
    assert [p["population"] for p in net["processes"]] == ["lif1", "lif1", "lif2"]
    # lif1's two processes each feed lif2 through their own Dense
    assert sorted((c["source"], c["target"]) for c in net["connections"]) == [
        (-1, 0),
        (-1, 1),
        (0, 2),
        (1, 2),
    ]


# --- ONNX: onnxruntime runs model.onnx, the float executor source.nir ---------------------------


@pytest.fixture(scope="module")
def onnx_export(tmp_path_factory) -> Path:
    from graphs import lif_chain

    out = tmp_path_factory.mktemp("ship_onnx") / "onnx"
    src = out.parent / "model.nir"
    write_nir(src, lif_chain(n_in=4, n_out=5))
    export(str(src), "onnx", out)
    return out


def _onnx_mismatches(out: Path) -> int:
    target = get_target("onnx")
    deployment = target.load(out)
    x = random_events(deployment.input_shape, 20, 6, 0.4, seed=3)
    return sum(c.mismatches for c in verify_deployment(target, deployment, x, 0).comparisons)


def test_onnx_backends_read_model_onnx_and_source_nir(onnx_export, tmp_path):
    import onnx
    from onnx import numpy_helper

    assert _onnx_mismatches(onnx_export) == 0
    out = tmp_path / "m"
    shutil.copytree(onnx_export, out)
    model = onnx.load(str(out / "model.onnx"))
    init = max(model.graph.initializer, key=lambda t: numpy_helper.to_array(t).size)
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 2, init.name))
    onnx.save(model, str(out / "model.onnx"))
    assert _onnx_mismatches(out) > 0
    out = tmp_path / "s"
    shutil.copytree(onnx_export, out)
    graph = read_nir_file(out / "source.nir")
    graph.nodes["fc"].weight = graph.nodes["fc"].weight * 2
    write_nir(out / "source.nir", graph)
    assert _onnx_mismatches(out) > 0


# --- the typed record and the program's arrays (issue #12.2) -------------------------------------


@pytest.mark.parametrize("target", ["speck", "spinnaker", "loihi"])
def test_record_and_program_are_the_same_after_build_and_load(exports, target):
    t = get_target(target)
    built, loaded = t.build(load_graph(GRAPHS[target]()), {}), t.load(exports[target])
    assert built.record == loaded.record
    record = loaded.record
    assert record.schedule and record.delays and record.resources and record.core_mapping
    placed = {s.population for s in record.core_slices}
    assert placed and placed <= set(record.schedule)
    a, b = built.program.to_arrays(), loaded.program.to_arrays()
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    with np.load(exports[target] / "program.npz") as npz:
        assert set(npz.files) == set(a)
    from nrf_deploy.deployment import graph_fingerprint

    assert "graph" not in loaded.extras and loaded.graph is not None  # source.nir, read on use
    assert (
        graph_fingerprint(loaded.graph)
        == graph_fingerprint(built.graph)
        == record.source_fingerprint
    )


def test_record_reads_neuron_slices_and_core_maps():
    from nrf_deploy.deployment import CoreSlice, DeploymentRecord

    sliced = DeploymentRecord.from_json(
        {
            "populations": {"p": {"cores": [[0, 0, 3], [1, 3, 5]]}},
            "delays": {"p": 2},
            "output_scale": {"p": 64.0},
        }
    )
    assert sliced.core_slices == (CoreSlice("p", 0, 0, 3), CoreSlice("p", 1, 3, 5))
    assert sliced.core_mapping == "neuron slices" and sliced.delays == {"p": 2}
    mapped = DeploymentRecord.from_json(
        {
            "layers": [{"name": "n1", "out_shape": [2, 3, 3]}],
            "core_map": [{"core": 4, "layer": "n1"}, {"core": 5, "layer": None}],
        }
    )
    assert mapped.core_slices == (CoreSlice("n1", 4, 0, 18),) and mapped.core_mapping == "core map"
    assert DeploymentRecord.from_json(mapped.to_json()) == mapped
