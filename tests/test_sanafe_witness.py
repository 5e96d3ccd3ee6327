"""SANA-FE 2.2.9 as a second opinion on Loihi energy and latency (issue #19, item 1).

The translation is read back from SANA-FE's own netlist file and compared with the export's
program.npz / deploy.json read here directly (not through the translation)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nir
import numpy as np
import pytest
from graphs import lif_chain
from nrf_deploy.targets import get_target
from nrf_deploy.targets.loihi import sanafe_witness as sw

from nrf_deploy.api import export
from nrf_deploy.cli import main

needs_sanafe = pytest.mark.skipif(
    importlib.util.find_spec("sanafe") is None, reason="sanafe not installed (witness extra)"
)


@pytest.fixture(scope="module")
def fixture_export(fixture_path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sanafe") / "loihi"
    export(fixture_path, "loihi", out)
    return out


def _netlist(network, path: Path) -> tuple[int, dict[str, int]]:
    """Edges and neuron -> core id ("g.n" -> tile * 4 + offset) in SANA-FE's netlist file."""
    network.save(str(path), use_netlist_format=True)
    edges, cores = 0, {}
    with open(path) as f:
        for line in f:
            if line.startswith("e "):
                edges += 1
            elif line.startswith("& "):
                neuron, core = line[2:].strip().split("@")
                tile, offset = core.split(".")
                cores[neuron] = int(tile) * 4 + int(offset)
    return edges, cores


@needs_sanafe
def test_translation_keeps_every_synapse_on_the_exports_cores(fixture_export, tmp_path):
    sidecar = json.loads((fixture_export / "deploy.json").read_text())
    with np.load(fixture_export / "program.npz") as npz:
        synapses = sum(int(npz[f"proj/{p['index']}/data"].size) for p in sidecar["projections"])
    assert synapses == 1_085_709  # the fixture's export (deploy.json resources)
    deployment = get_target("loihi").load(fixture_export)
    program = deployment.program
    spikes = np.zeros((4, program.input_size), bool)
    network = sw.translate(program, sw.architecture(sw.cores_needed(program)), spikes)
    edges, cores = _netlist(network, tmp_path / "net.txt")
    assert edges == synapses
    names = sorted([*sidecar["populations"], sidecar["input_name"]])  # SANA-FE numbers groups
    for name, pop in sidecar["populations"].items():  # by name
        g = names.index(name)
        for core, first, stop in pop["cores"]:
            assert {cores[f"{g}.{i}"] for i in range(first, stop)} == {core}, (name, core)
    assert max(c for pop in sidecar["populations"].values() for c, _, _ in pop["cores"]) == 18
    g = names.index(sidecar["input_name"])
    inputs = [cores[f"{g}.{i}"] for i in range(program.input_size)]
    assert inputs == [19 + i // 1024 for i in range(2312)]  # 1024 input somas per core


@needs_sanafe
def test_sanafe_fires_the_references_spikes_and_misses_a_dropped_projection(fixture_export):
    """The translated constants compute what the export computes (SANA-FE's float arithmetic
    fires the integer reference's spikes to within 1 %: a mis-scaled weight, threshold or decay
    would not); an unfaithful translation is visible: the same input without one projection."""
    target = get_target("loihi")
    deployment = target.load(fixture_export)
    program = deployment.program
    rng = np.random.default_rng(0)
    x = (rng.random((8, 1, program.input_size)) < 0.1).reshape(8, 1, *program.input_shape)
    (faithful,), _ = sw.simulate(program, x)
    reference = target.run(deployment, "reference", x.astype(np.float32), record_states=False)
    fired = x.sum() + sum(float(np.sum(reference.outputs[p])) for p in program.populations)
    assert faithful["neurons_fired"] == pytest.approx(fired, rel=0.01)
    program.projections = program.projections[:-1]  # the last: 2 500 synapses of 1 085 709
    (dropped,), _ = sw.simulate(program, x)
    assert dropped["synaptic_events"] < faithful["synaptic_events"]
    assert dropped["energy_j"] < faithful["energy_j"]


@needs_sanafe
def test_one_chip_reset_between_samples_equals_a_fresh_chip_each(tmp_path):
    out = tmp_path / "loihi"
    model = tmp_path / "m.nir"
    nir.write(model, lif_chain(n_in=100, n_out=150, tau=0.05))
    export(model, "loihi", out)
    program = get_target("loihi").load(out).program
    x = np.random.default_rng(1).random((10, 3, 100)) < 0.3
    together, _ = sw.simulate(program, x)
    alone = [sw.simulate(program, x[:, b : b + 1])[0][0] for b in range(3)]
    assert together == alone
    assert len({r["energy_j"] for r in together}) == 3  # the samples differ, so would a mix-up
    budgeted, _ = sw.simulate(program, x, budget_s=0.0)
    assert budgeted == together[:1]  # a spent budget stops after the first sample


def test_a_network_too_big_for_memory_is_refused(fixture_export, monkeypatch):
    from nrf_deploy.errors import NrfError

    program = get_target("loihi").load(fixture_export).program
    monkeypatch.setattr(sw, "_available_memory", lambda: 1_000_000_000)
    with pytest.raises(NrfError, match=r"about 2\.7 GB for 1,085,709 synapses, 1\.0 GB"):
        sw.check_memory(program)


@needs_sanafe
def test_widened_mesh_for_more_than_128_cores():
    arch = sw.architecture(321)
    assert arch.widened and arch.cores == 352  # 11 rows of 8 tiles x 4 cores
    assert len(arch.arch.cores()) == 352
    assert not sw.architecture(128).widened
    with pytest.raises(Exception, match="not the 8 x 4 mesh"):
        sw.widened_description(sw._packaged_text().replace("height: 4", "height: 5"), 11)


@needs_sanafe
def test_report_shows_sanafe_beside_the_cost_model(tmp_path):
    model = tmp_path / "m.nir"
    nir.write(model, lif_chain(n_in=40, n_out=30, tau=0.05))
    out = tmp_path / "loihi"
    export(model, "loihi", out)
    html = tmp_path / "r.html"
    assert main(["report", str(out), "-o", str(html), "--samples", "3", "--timesteps", "10"]) == 0
    entry = json.loads(html.with_suffix(".json").read_text())["targets"][0]
    (opinion,) = entry["second_opinions"]
    assert opinion["tool"] == "SANA-FE" and opinion["available"], opinion
    assert opinion["version"] == "2.2.9" and opinion["details"]["samples"] == 3
    rows = {r["quantity"]: r for r in opinion["rows"]}
    for quantity in ("energy per inference", "latency per inference"):
        row = rows[quantity]
        assert row["ours"] > 0 and row["theirs"] > 0
        assert row["ratio"] == pytest.approx(row["theirs"] / row["ours"])
    loihi1 = next(h for h in entry["hardware"] if h["chip"] == "loihi1")  # same 3 samples
    assert rows["energy per inference"]["ours"] == pytest.approx(loihi1["energy_j"])
    assert rows["latency per inference"]["ours"] == pytest.approx(loihi1["latency_s"])
    text = html.read_text()
    assert "SANA-FE" in text and "latency per inference" in text


def test_missing_sanafe_says_install_the_witness_extra(monkeypatch):
    from nrf_deploy.opinions import gather

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "sanafe" else real(name, *a)
    )
    (entry,) = gather(get_target("loihi").second_opinions, None, None)
    assert not entry["available"]
    assert entry["reason"] == "not available (install nrf-deploy[witness]: sanafe)"
