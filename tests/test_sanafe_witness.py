"""SANA-FE 2.2.9 as a second opinion on Loihi energy and latency (issue #19, item 1), run in its
own witness environment ``sanafe`` (issue #28) on a bounded network (issues #27, #29).

The translation is read back from SANA-FE's own netlist file and compared with the export's
program.npz / deploy.json read here directly (not through the translation)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import need_witness
from graphs import lif_chain
from nrf_deploy.targets import get_target
from nrf_deploy.targets.loihi import sanafe_runner as runner
from nrf_deploy.targets.loihi import sanafe_witness as sw

from nrf_deploy.api import export
from nrf_deploy.cli import main
from nrf_deploy.ir.write import write_nir
from nrf_deploy.opinions import OpinionContext
from nrf_deploy.witness import call
from nrf_deploy.witness.install import HOME_VARIABLE


@pytest.fixture(scope="module")
def fixture_export(fixture_path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sanafe") / "loihi"
    export(fixture_path, "loihi", out)
    return out


@pytest.fixture(scope="module")
def sanafe():
    need_witness("sanafe")


def _events(program, steps: int, batch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.random((steps, batch, program.input_size)) < 0.1
    return x.reshape(steps, batch, *program.input_shape).astype(np.float32)


def test_translation_keeps_every_synapse_on_the_exports_cores(sanafe, fixture_export):
    sidecar = json.loads((fixture_export / "deploy.json").read_text())
    with np.load(fixture_export / "program.npz") as npz:
        synapses = sum(int(npz[f"proj/{p['index']}/data"].size) for p in sidecar["projections"])
    assert synapses == 1_085_709  # the fixture's export (deploy.json resources)
    program = get_target("loihi").load(fixture_export).program
    request = sw.translate(program, np.zeros((4, 1, program.input_size), bool))
    placed = call("sanafe", sw.RUNNER, "netlist", request)  # SANA-FE's own netlist file
    assert placed["edges"] == synapses
    groups = [g["name"] for g in request["groups"]]
    for name, pop in sidecar["populations"].items():
        cores = placed[f"g{groups.index(name)}/core"]
        for core, first, stop in pop["cores"]:
            assert set(cores[first:stop].tolist()) == {core}, (name, core)
    assert max(c for pop in sidecar["populations"].values() for c, _, _ in pop["cores"]) == 18
    inputs = placed[f"g{groups.index(sidecar['input_name'])}/core"].tolist()
    assert inputs == [19 + i // 1024 for i in range(2312)]  # 1024 input somas per core


def test_sanafe_fires_the_references_spikes_and_misses_a_dropped_projection(sanafe, fixture_export):
    """The translated constants compute what the export computes (SANA-FE's float arithmetic
    fires the integer reference's spikes to within 1 %: a mis-scaled weight, threshold or decay
    would not); an unfaithful translation is visible: the same input without one projection."""
    target = get_target("loihi")
    deployment = target.load(fixture_export)
    program = deployment.program
    x = _events(program, 8, 1, 0)
    faithful = sw.simulate(program, x)
    reference = target.run(deployment, "reference", x, record_states=False)
    fired = x.sum() + sum(float(np.sum(reference.outputs[p])) for p in program.populations)
    assert faithful["neurons_fired"][0] == pytest.approx(fired, rel=0.01)
    assert faithful["peak_rss_bytes"] > 0 and faithful["version"] == "2.2.9"
    program.projections = program.projections[:-1]  # the last: 2 500 synapses of 1 085 709
    dropped = sw.simulate(program, x)
    assert dropped["synaptic_events"][0] < faithful["synaptic_events"][0]
    assert dropped["energy_j"][0] < faithful["energy_j"][0]


def test_one_chip_reset_between_samples_equals_a_fresh_chip_each(sanafe, tmp_path):
    out = tmp_path / "loihi"
    model = tmp_path / "m.nir"
    write_nir(model, lif_chain(n_in=100, n_out=150, tau=0.05))
    export(model, "loihi", out)
    program = get_target("loihi").load(out).program
    x = np.random.default_rng(1).random((10, 3, 100)) < 0.3
    together = sw.simulate(program, x)
    alone = [sw.simulate(program, x[:, b : b + 1]) for b in range(3)]
    for key in ("synaptic_events", "neurons_fired", "neurons_updated", "packets_sent"):
        assert together[key].tolist() == [a[key][0] for a in alone], key  # counts: exact
    for key in ("energy_j", "latency_s"):
        assert together[key] == pytest.approx([a[key][0] for a in alone], rel=1e-9), key
    assert len(set(together["energy_j"].round(15).tolist())) == 3  # the samples differ
    budgeted = sw.simulate(program, x, budget_s=0.0)
    assert budgeted["energy_j"].tolist() == together["energy_j"][:1].tolist()  # stops after one


def test_a_big_network_is_sampled_by_cores_of_every_population(fixture_export):
    from nrf_deploy.opinions import NotRun

    program = get_target("loihi").load(fixture_export).program
    whole = sw.sample_cores(program, 2e9)
    assert whole.whole and whole.synapses == whole.total_synapses == 1_085_709
    assert whole.estimate == pytest.approx(sw.estimate_bytes(1_085_709, 2312))
    sample = sw.sample_cores(program, 0.6e9)
    assert not sample.whole and 0 < sample.synapses < 1_085_709 and sample.estimate <= 0.6e9
    assert sample.synapses == sum(sw.synapses_per_core(program)[c] for c in sample.cores)
    assert all(k >= 1 for k, _n in sample.per_population.values())  # every population sampled
    assert sample.per_population == {
        name: (len(set(sample.cores) & {c for c, _a, _b in slices}), len(slices))
        for name, slices in program.cores.items()
    }
    with pytest.raises(NotRun, match=r"not run: even one core of each population .* 0\.1 GB"):
        sw.sample_cores(program, 0.1e9)


def test_a_sampled_network_fires_the_references_spikes_on_its_cores(sanafe, fixture_export):
    """Sampled cores, their sources outside the sample replayed from the reference: the sampled
    neurons fire the reference's spikes (within 2 %), their synaptic events are those the chip's
    weights give for the reference's spikes, and the SANA-FE process stays small."""
    target = get_target("loihi")
    deployment = target.load(fixture_export)
    program = deployment.program
    x = _events(program, 10, 2, 3)
    reference = target.run(deployment, "reference", x, record_states=False)
    sample = sw.sample_cores(program, 0.6e9)
    got = sw.simulate(program, x, sample=sample, replay=reference.outputs)
    spikes, events = np.zeros(2), np.zeros(2)
    flat = {p: np.asarray(reference.outputs[p]).reshape(10, 2, -1) for p in program.populations}
    flat[program.input_name] = x.reshape(10, 2, -1)
    for name in program.populations:
        keep = np.isin(sw._core_of(program, name), sample.cores)
        spikes += flat[name][:, :, keep].sum(axis=(0, 2))
        for syn in program.into(name):
            fan = (syn.weights.tocsr()[keep] != 0).astype(np.int64).T  # sources x kept targets
            sent = flat[syn.source]  # SANA-FE processes the last step's spikes too
            arriving = np.asarray(sent.reshape(-1, sent.shape[2]) @ fan).reshape(10, 2, -1)
            events += arriving.sum(axis=(0, 2))
    assert got["neurons_fired"] - got["source_spikes"] == pytest.approx(spikes, rel=0.02)
    assert got["synaptic_events"] == pytest.approx(events, rel=0.02)
    assert got["peak_rss_bytes"] < sample.estimate  # the estimate holds (it has a margin)


def test_the_opinion_says_what_it_sampled_and_compares_the_same_cores(
    sanafe, fixture_export, monkeypatch
):
    """A second opinion may use 0.6 GB: SANA-FE is given a sample of the fixture's cores."""
    target = get_target("loihi")
    deployment = target.load(fixture_export)
    x = _events(deployment.program, 10, 3, 5)
    reference = target.run(deployment, "reference", x, record_states=False)
    resources = target.resources(deployment)
    context = OpinionContext(x, 1e-3, [], resources, reference, None, fixture_export, 0.6e9)
    monkeypatch.setattr(sw, "MAX_SAMPLES", 2)
    opinion = sw.sanafe_opinion(deployment, context).to_json()
    rows = {r["quantity"]: r for r in opinion["rows"]}
    sample = sw.sample_cores(deployment.program, 0.6e9)
    assert opinion["details"]["sampled_cores"] == list(sample.cores)
    assert opinion["details"]["samples"] == 2 and opinion["details"]["of_samples"] == 3
    assert any(n.startswith("sampled to bound SANA-FE's memory") for n in opinion["notes"])
    assert opinion["details"]["peak_memory_bytes"] < 0.6e9
    assert any("ran on 2 of 3 samples, 10 steps" in n for n in opinion["notes"])
    energy = rows["energy per inference (sampled cores)"]
    assert energy["ours"] > 0 and 0.5 < energy["ratio"] < 4
    spikes = rows["spikes per inference (sampled cores)"]
    assert spikes["ratio"] == pytest.approx(1.0, abs=0.02)


PACKAGED = """architecture:
  name: loihi_chip
  attributes:
    width: 8
    height: 4
  tile:
    - name: loihi_tile[0..31]
      attributes:
        energy_east_hop: 3.0e-12
      core:
        - name: loihi_core[0..3]
          soma:
            - name: loihi_lif
              attributes:
                model: leaky_integrate_fire
            - name: loihi_inputs[0..1023]
              attributes:
                model: input
          dendrite:
            - name: loihi_dendrites
"""


def test_description_is_widened_with_input_somas_only_where_inputs_are():
    """The runner's text edit of SANA-FE's description (a file of its shape)."""
    text = runner.description(PACKAGED, 11, {0: 3, 1: 3, 80: 1024})
    assert "height: 11\n" in text and "width: 8\n" in text
    assert "loihi_tile[0..1]" in text and "loihi_inputs[0..2]" in text
    assert "loihi_tile[2..79]" in text and "loihi_tile[80..80]" in text
    assert "loihi_tile[81..87]" in text and text.count("loihi_inputs[") == 2
    assert text.count("- name: loihi_lif") == 4 and text.count("loihi_dendrites") == 4
    with pytest.raises(runner.Refusal, match="not the 8 x 4 mesh"):
        runner.description(PACKAGED.replace("height: 4", "height: 5"), 11, {})


def test_check_widens_the_mesh_and_knows_its_answer(sanafe):
    answer = call("sanafe", sw.RUNNER, "check", {})
    assert answer["ok"] is True and answer["sanafe"] == "2.2.9"


def test_report_shows_sanafe_beside_the_cost_model(sanafe, tmp_path):
    model = tmp_path / "m.nir"
    write_nir(model, lif_chain(n_in=40, n_out=30, tau=0.05))
    out = tmp_path / "loihi"
    export(model, "loihi", out)
    html = tmp_path / "r.html"
    assert main(["report", str(out), "-o", str(html), "--samples", "3", "--timesteps", "10"]) == 0
    entry = json.loads(html.with_suffix(".json").read_text())["targets"][0]
    (opinion,) = entry["second_opinions"]
    assert opinion["tool"] == "SANA-FE" and opinion["available"], opinion
    assert opinion["version"] == "2.2.9" and opinion["details"]["samples"] == 3
    assert opinion["details"]["sampled_cores"] is None  # 1 200 synapses: the whole network
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


def test_missing_sanafe_says_how_to_install_it(monkeypatch, tmp_path):
    from nrf_deploy.opinions import gather

    monkeypatch.setenv(HOME_VARIABLE, str(tmp_path))
    (entry,) = gather(get_target("loihi").second_opinions, None, None)
    assert not entry["available"]
    assert entry["reason"] == "not installed: nrf-deploy witnesses install sanafe"
