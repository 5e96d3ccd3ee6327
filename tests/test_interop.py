"""Files written by the real NIR writers (tests/fixtures/interop, made by make_fixtures.py in side
venvs): they load, carry the right reset record, deploy with 0 mismatches, and the float executor
with each writer's preset gives the writer's own recorded spikes exactly."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from conftest import CLI
from nrf_deploy.targets import get_target

from nrf_deploy.errors import GraphError
from nrf_deploy.inputs import random_events
from nrf_deploy.ir import Semantics, load_graph, run_float
from nrf_deploy.ir.load import read_nir_file
from nrf_deploy.ir.write import write_nir
from nrf_deploy.verify import verify_deployment

HERE = Path(__file__).parent / "fixtures" / "interop"
ALL = sorted(p.stem for p in HERE.glob("*.nir"))
WRITER_PRESET = {  # fixture -> preset reproducing its writer's own simulation
    "snntorch_leaky": "snntorch",
    "snntorch_synaptic": "snntorch",
    "snntorch_rleaky": "snntorch",
    "snntorch_rsynaptic": "snntorch",
    "rockpool_lif": "rockpool",
    "sinabs_iaf": "sinabs",
    "norse_lifbox_li": "norse",
    "norse_lif_cuba": "norse",
}


def _fixture(name: str) -> tuple[Path, dict[str, np.ndarray]]:
    return HERE / f"{name}.nir", dict(np.load(HERE / f"{name}.npz"))


def _writer_output(graph, trace, name: str) -> np.ndarray:
    """The writer recorded its network output; norse's fixtures record the spiking hidden layer."""
    if name.startswith("norse"):
        return trace.outputs[next(n.name for n in graph.compute_nodes if n.spiking)]
    return trace.outputs[graph.output_names[0]]


def test_fixture_set_covers_the_writers_and_file_layouts():
    assert set(WRITER_PRESET) <= set(ALL)
    versions, compressed = set(), set()
    for name in ALL:
        with h5py.File(HERE / f"{name}.nir") as f:
            versions.add(f["version"][()].decode())
            for ds in _datasets(f):
                compressed.add(ds.compression)
    assert versions == {"1.0.0", "1.0.4", "1.0.8"}
    assert compressed == {None, "gzip"}


def _datasets(group: h5py.Group):
    for item in group.values():
        yield from (_datasets(item) if isinstance(item, h5py.Group) else [item])


@pytest.mark.parametrize("name", ALL)
def test_every_fixture_loads_with_the_files_reset_rule(name):
    graph = load_graph(HERE / f"{name}.nir")
    with h5py.File(HERE / f"{name}.nir") as f:
        version = f["version"][()].decode()
    spiking = [n for n in graph.compute_nodes if n.kind in ("IF", "LIF", "CubaLIF")]
    assert spiking
    for node in spiking:
        raw = _raw_node(HERE / f"{name}.nir", node.name)
        if "v_reset" not in raw:  # nir <= 1.0.5: today's rule, subtraction
            assert version != "1.0.8" and node.reset == "subtract"
        elif np.any(raw["v_reset"]):  # nir >= 1.0.6: reset to the value
            assert node.reset == "value"
            np.testing.assert_array_equal(
                node.v_reset, np.broadcast_to(raw["v_reset"], node.out_shape)
            )
        else:
            assert node.reset == "zero"


def _raw_node(path: Path, dotted: str) -> dict[str, np.ndarray]:
    """A node's datasets read straight from the HDF5 file: a literal name (nirtorch writes
    ``1.lif``) or a nested subgraph path (``rec.lif``)."""
    with h5py.File(path) as f:
        nodes = f["node/nodes"]
        if dotted in nodes:
            group = nodes[dotted]
        else:
            outer, inner = dotted.split(".", 1)
            group = nodes[outer]["nodes"][inner]
        return {k: v[()] for k, v in group.items() if isinstance(v, h5py.Dataset)}


@pytest.mark.parametrize("name", sorted(WRITER_PRESET))
def test_writer_preset_gives_the_writers_own_spikes(name):
    path, data = _fixture(name)
    graph = load_graph(path)
    trace = run_float(graph, data["x"], semantics=Semantics.named(WRITER_PRESET[name]))
    out = _writer_output(graph, trace, name)
    assert data["spikes"].sum() > 0
    np.testing.assert_array_equal(out, data["spikes"])
    if "li_out" in data:  # norse: the LI read-out's membrane, to float32 rounding (a matmul's
        # last bit depends on the CPU's vector kernels)
        np.testing.assert_allclose(
            trace.outputs[graph.output_names[0]], data["li_out"], rtol=1e-5, atol=1e-6
        )


def test_preset_check_can_fail():
    """Dropping one convention of a preset breaks the equality (so the tests above can fail)."""
    import dataclasses

    for name, field, value in (
        ("snntorch_leaky", "late_reset", False),
        ("rockpool_lif", "cuba", "nir"),
        ("norse_lif_cuba", "cuba", "nir"),
        ("sinabs_iaf", "if_min_v", False),
    ):
        path, data = _fixture(name)
        graph = load_graph(path)
        sem = dataclasses.replace(Semantics.named(WRITER_PRESET[name]), **{field: value})
        out = _writer_output(graph, run_float(graph, data["x"], semantics=sem), name)
        assert not np.array_equal(out, data["spikes"]), (name, field)


def test_reset_to_value_and_cubali_follow_the_nir_equations():
    """nir 1.0.8 semantics written out in numpy (independent of the executor)."""
    path, data = _fixture("nir108_lif_vreset_cubali")
    graph = load_graph(path)
    raw = {n: _raw_node(path, n) for n in ("fc1", "lif", "fc2", "cubali")}
    dt = 1e-3
    x = data["x"].astype(np.float64)
    v = np.zeros((x.shape[1], 8))
    i_s, v_o = np.zeros((x.shape[1], 3)), np.zeros((x.shape[1], 3))
    expect_z, expect_v = [], []
    lif, cli = raw["lif"], raw["cubali"]
    for t in range(x.shape[0]):
        drive = x[t] @ raw["fc1"]["weight"].T + raw["fc1"]["bias"]
        v = v + dt / lif["tau"] * (lif["v_leak"] - v + lif["r"] * drive)
        z = (v > lif["v_threshold"]).astype(np.float64)
        v = np.where(z > 0, lif["v_reset"], v)
        i_s = i_s + dt / cli["tau_syn"] * (cli["w_in"] * (z @ raw["fc2"]["weight"].T) - i_s)
        v_o = v_o + dt / cli["tau_mem"] * (cli["v_leak"] - v_o + cli["r"] * i_s)
        expect_z.append(z)
        expect_v.append(v_o)
    trace = run_float(graph, x, dtype=torch.float64)
    np.testing.assert_array_equal(trace.outputs["lif"], np.stack(expect_z))
    np.testing.assert_allclose(trace.outputs["cubali"], np.stack(expect_v), rtol=1e-12, atol=1e-12)
    assert np.stack(expect_z).sum() > 0 and np.any(np.stack(expect_z)[:-1] > 0)


def _edited_copy(tmp_path: Path, edit) -> Path:
    path = tmp_path / "edited.nir"
    shutil.copy(HERE / "nir108_lif_vreset_cubali.nir", path)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def test_unknown_field_is_refused_naming_node_field_and_version(tmp_path):
    path = _edited_copy(
        tmp_path, lambda f: f["node/nodes/lif"].create_dataset("v_rest", data=np.zeros(8))
    )
    with pytest.raises(GraphError) as err:
        read_nir_file(path)
    text = str(err.value)
    assert "'lif'" in text and "'v_rest'" in text and "1.0.8" in text
    proc = subprocess.run(
        [*CLI, "inspect", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr + proc.stdout
    assert "field 'v_rest'" in proc.stderr and "nir 1.0.8" in proc.stderr


def test_unknown_node_is_refused_naming_the_version(tmp_path):
    def edit(f):
        del f["node/nodes/cubali/type"]
        f["node/nodes/cubali/type"] = np.bytes_("CubaLIFv2")
        del f["version"]
        f["version"] = np.bytes_("1.1.0")

    with pytest.raises(GraphError) as err:
        read_nir_file(_edited_copy(tmp_path, edit))
    assert "'cubali'" in str(err.value) and "CubaLIFv2" in str(err.value)
    assert "nir 1.1.0" in str(err.value)


def test_typing_fields_are_accepted(tmp_path):
    def edit(f):
        f["node/nodes/lif"].create_dataset("input_type", data=np.array([8]))
        f["node/nodes/lif"].create_dataset("output_type", data=np.array([8]))

    graph = load_graph(_edited_copy(tmp_path, edit))
    assert graph.nodes["lif"].reset == "value"


def test_reset_record_and_cubali_survive_a_nir_write(tmp_path):
    graph = load_graph(HERE / "nir108_lif_vreset_cubali.nir")
    write_nir(tmp_path / "again.nir", graph.to_nir())
    again = load_graph(tmp_path / "again.nir")
    assert again.nodes["lif"].reset == "value"
    np.testing.assert_array_equal(again.nodes["lif"].v_reset, graph.nodes["lif"].v_reset)
    assert again.nodes["cubali"].kind == "CubaLI"


@pytest.mark.parametrize("target", ["loihi", "spinnaker", "onnx"])
def test_v_reset_and_cubali_fixture_deploys_with_zero_mismatches(target):
    graph = load_graph(HERE / "nir108_lif_vreset_cubali.nir")
    tgt = get_target(target)
    deployment = tgt.build(graph, {"timesteps": 20})
    x = random_events(graph.input_shape, 20, 16, rate=0.3, seed=1)
    result = verify_deployment(tgt, deployment, x, witness_samples=0)
    assert result.comparisons and all(c.ok and c.compared_values > 0 for c in result.comparisons)
    approximations = " ".join(deployment.sidecar.get("approximations", []))
    assert ("v_reset" in approximations) == (target == "loihi")


WRITER_DT = {"snntorch": 1e-4, "norse": 1e-6}
"""--dt that gives each writer's files their intended decays (docs/interop.md)."""


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("target", ["loihi", "spinnaker", "onnx"])
def test_every_fixture_deploys_with_zero_mismatches(name, target):
    graph = load_graph(HERE / f"{name}.nir")
    tgt = get_target(target)
    deployment = tgt.build(graph, {"timesteps": 10, "dt": WRITER_DT.get(name.split("_")[0])})
    x = random_events(graph.input_shape, 10, 8, rate=0.3, seed=2)
    result = verify_deployment(tgt, deployment, x, witness_samples=0)
    assert result.comparisons and all(c.ok and c.compared_values > 0 for c in result.comparisons)


def test_spinnaker_resets_to_the_scaled_v_reset():
    graph = load_graph(HERE / "nir108_lif_vreset_cubali.nir")
    program = get_target("spinnaker").build(graph, {}).program
    pop = program.populations["lif"]
    np.testing.assert_allclose(pop.v_reset / 2.0**15 / pop.scale, -0.25, atol=2.0**-15 / pop.scale)
    assert program.populations["cubali"].readout


def test_speck_refuses_cubali_and_v_reset(tmp_path):
    proc = subprocess.run(
        [
            *CLI,
            "export",
            str(HERE / "nir108_lif_vreset_cubali.nir"),
            "--target",
            "speck",
            "-o",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "CubaLI" in proc.stderr and "v_reset" in proc.stderr and not (tmp_path / "out").exists()


def test_cli_offers_every_preset():
    from nrf_deploy.cli.run import SEMANTICS_PRESETS
    from nrf_deploy.ir.executor import PRESETS

    assert SEMANTICS_PRESETS == tuple(PRESETS)


def test_onnx_refuses_writer_only_semantics():
    from nrf_deploy.targets.onnx.model import export_float

    from nrf_deploy.errors import NrfError

    graph = load_graph(HERE / "snntorch_leaky.nir")
    with pytest.raises(NrfError, match="late_reset"):
        export_float(graph, 1e-4, None, Semantics.named("snntorch"))


def test_inspect_json_shows_reset_rules():
    from nrf_deploy.cli.inspect import describe

    info = describe(load_graph(HERE / "nir108_if_cubalif_gzip.nir"))
    rules = {n["name"]: n["reset_rule"] for n in info["nodes"] if "reset" in n}
    assert rules == {"if1": "to value 0", "cuba": "to value 0.1"}
    assert info["nir_version"] == "1.0.8"


def test_xylo_records_reset_to_value_as_an_approximation():
    graph = load_graph(HERE / "nir108_if_cubalif_gzip.nir")
    deployment = get_target("xylo").build(graph, {})
    notes = " ".join(deployment.sidecar.get("approximations", []))
    assert "v_reset" in notes and "cuba" in notes
