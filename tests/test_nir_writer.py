"""nrf-deploy's NIR writer (nrf_deploy.ir.write) writes the bytes nir 1.0.4's ``nir.write`` wrote:
tests/fixtures/nir104/all_kinds.nir was written by nir 1.0.4 itself (make_golden.py) from the
graph all_kinds.py builds; the same graph built from nrf_deploy.ir.nodes must give the same file.
sinabs 3.1.3 reads .nir files with nir 1.0.4, whose reader accepts exactly these fields."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np

from nrf_deploy.ir import load_graph
from nrf_deploy.ir import nodes as ir
from nrf_deploy.ir.load import read_nir_file
from nrf_deploy.ir.write import FILE_VERSION, nir_bytes, write_nir

GOLDEN = Path(__file__).parent / "fixtures" / "nir104"
sys.path.insert(0, str(GOLDEN))
from all_kinds import build


def test_every_node_kind_is_written_as_nir_104_wrote_it(tmp_path):
    graph = build(ir, ir.CubaLI)
    write_nir(tmp_path / "all.nir", graph)
    assert (tmp_path / "all.nir").read_bytes() == (GOLDEN / "all_kinds.nir").read_bytes()
    assert nir_bytes(graph) == (GOLDEN / "all_kinds.nir").read_bytes()


def test_files_declare_nir_104_and_carry_only_its_fields():
    with h5py.File(GOLDEN / "all_kinds.nir") as f:
        assert f["version"][()].decode() == FILE_VERSION == "1.0.4"
        nodes = f["node/nodes"]
        assert "metadata" not in nodes["conv"] and "metadata" in nodes["lif"]
        assert sorted(nodes["input"]) == ["shape", "type"]
        assert "v_reset" not in nodes["lif"]  # the reset rule travels in metadata


def test_what_is_written_reads_back_as_written(tmp_path):
    graph = build(ir, ir.CubaLI)
    write_nir(tmp_path / "all.nir", graph)
    back = read_nir_file(tmp_path / "all.nir")
    assert list(back.nodes) == sorted(graph.nodes)  # HDF5 lists a group's members by name
    assert back.edges == graph.edges
    for name, node in graph.nodes.items():
        assert type(back.nodes[name]) is type(node), name
    np.testing.assert_array_equal(back.nodes["fc"].weight, graph.nodes["fc"].weight)
    assert back.nodes["lif"].metadata["nested"]["a"] == 1
    assert back.metadata["nir_version"] == "1.0.4"


def test_a_graph_loaded_and_written_again_keeps_its_bytes(tmp_path):
    """A file nrf-deploy wrote, loaded and written again, gives the same bytes (what sealed
    exports and ``verify --rebuild`` rely on)."""
    source = Path(__file__).parent / "fixtures" / "interop" / "nir108_lif_vreset_cubali.nir"
    write_nir(tmp_path / "once.nir", load_graph(source).to_nir())
    twice = nir_bytes(load_graph(tmp_path / "once.nir").to_nir())
    (tmp_path / "twice.nir").write_bytes(twice)
    assert nir_bytes(load_graph(tmp_path / "twice.nir").to_nir()) == twice
