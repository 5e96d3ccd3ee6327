"""The SpiNNaker export's PyNN network run for real, in the witness environment ``pynn``: under
PyNN 0.13 on NEST 3.10 (spike agreement with the integer reference and the float model) and through
sPyNNaker 7.4.1's mapper on a virtual board (cores, chips, SDRAM beside nrf-deploy's partition),
both in the report — always with the script nrf-deploy generates from the export's chip data,
never the export's own run_pynn.py (issue #31)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import need_witness
from graphs import lif_chain, recurrent_cubalif

from nrf_deploy.cli import main
from nrf_deploy.inputs import random_events
from nrf_deploy.ir import nodes as ir
from nrf_deploy.ir import run_float
from nrf_deploy.ir.write import write_nir
from nrf_deploy.opinions import OpinionContext, spike_agreement


def _three_layers() -> ir.NIRGraph:
    """Input -> CubaLIF (recurrent; IF_curr_exp) -> LIF (IF_curr_delta with a leak, so PyNN's
    weight units differ between the backends) -> LI read-out (v only)."""
    rng = np.random.default_rng(5)
    g = recurrent_cubalif(n_in=12, n=10, seed=5)
    nodes = dict(g.nodes)
    lif = ir.LIF(
        tau=np.full(6, 0.004), r=np.ones(6), v_leak=np.zeros(6), v_threshold=np.full(6, 0.6)
    )
    nodes |= {
        "fc2": ir.Affine(rng.normal(0.8, 1.0, (6, 10)), np.zeros(6)),
        "if2": lif,
        "fc3": ir.Affine(rng.normal(0, 1, (2, 6)), np.array([0.1, -0.2])),
        "ro": ir.LI(np.array([0.004, 0.008]), np.ones(2), np.zeros(2)),
        "out": ir.Output({"output": np.array([2])}),
    }
    edges = [e for e in g.edges if e != ("cuba", "out")]
    edges += [("cuba", "fc2"), ("fc2", "if2"), ("if2", "fc3"), ("fc3", "ro"), ("ro", "out")]
    return ir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3})


@pytest.fixture(scope="module")
def pynn():
    need_witness("pynn")


@pytest.fixture(scope="module")
def reported(pynn, tmp_path_factory):
    root = tmp_path_factory.mktemp("witness")
    write_nir(root / "g.nir", _three_layers())
    out = root / "export"
    args = ["export", str(root / "g.nir"), "--target", "spinnaker", "-o", str(out)]
    assert main([*args, "--spinnaker-neurons-per-core", "4"]) == 0
    html = root / "r.html"
    assert main(["report", str(out), "-o", str(html), "--samples", "3", "-q"]) == 0
    entry = json.loads(html.with_suffix(".json").read_text())["targets"][0]
    return out, html, {o["tool"]: o for o in entry["second_opinions"]}


def _rows(opinion: dict) -> dict[str, dict]:
    return {r["quantity"]: r for r in opinion["rows"]}


def test_script_runs_under_nest_and_agrees_with_the_reference(reported):
    _, html, opinions = reported
    nest = opinions["PyNN on NEST"]
    assert nest["available"], nest.get("reason")
    assert nest["version"] == "PyNN 0.13.0 / nest-simulator 3.10.0"
    rows = _rows(nest)
    same = rows["spikes at the same neuron and step as the reference"]
    assert same["kind"] == "agreement" and 0.85 <= same["theirs"] <= 1.0
    assert rows["per-neuron spike-count correlation with the reference"]["theirs"] > 0.95
    spikes = rows["spikes per run"]
    assert spikes["ours"] >= 20 and spikes["ratio"] == pytest.approx(1.0, abs=0.15)
    to_float = rows["spikes at the same neuron and step as the float model"]
    assert 0 < to_float["theirs"] <= 1 and 0 < to_float["ours"] <= 1
    details = nest["details"]
    assert details["samples"] == 2 and details["of_samples"] == 3 and details["steps"] == 20
    assert any(n.startswith("ran on 2 of 3 samples, 20 steps") for n in nest["notes"])
    # NEST's iaf_psc_exp takes one step longer than sPyNNaker's IF_curr_exp (docs/report.md)
    assert {k: v["nest_lag_steps"] for k, v in details["per_population"].items()} == {
        "cuba": 1,
        "if2": 1,
    }
    readout = rows["read-out membrane correlation with the reference"]
    assert readout["theirs"] > 0.95 and details["readout_lag"] == 1
    page = html.read_text()
    assert "PyNN on NEST" in page and "sPyNNaker mapping" in page


def test_spynnaker_virtual_mapping_is_shown_beside_ours(reported):
    out, _, opinions = reported
    mapping = opinions["sPyNNaker mapping"]
    assert mapping["available"], mapping.get("reason")
    assert mapping["version"] == "sPyNNaker 1!7.4.1"
    rows = _rows(mapping)
    partition = json.loads((out / "partition.json").read_text())
    cores = rows["application cores"]
    # 3 input cores (12 sources), 3 CubaLIF (10), 2 LIF (6), 1 LI (2): 4 neurons per core
    assert cores["ours"] == partition["resources"]["cores_used"] == 9 and cores["theirs"] == 9
    assert rows["chips holding them"]["theirs"] == 1
    sdram = rows["SDRAM of the application cores"]
    assert sdram["ours"] == sum(c["sdram_bytes"] for c in partition["cores"])
    assert sdram["theirs"] > sdram["ours"] > 0 and sdram["ratio"] > 1
    per_pop = mapping["details"]["per_population"]
    assert {k: v["cores"] for k, v in per_pop.items()} == {
        "in": [3, 3],
        "cuba": [3, 3],
        "if2": [2, 2],
        "ro": [1, 1],
    }
    assert any("system cores" in n for n in mapping["notes"])
    regions = mapping["details"]["sdram_by_region"]
    assert regions["SYNAPTIC_MATRIX"] > 0 and 0 < sum(regions.values()) <= sdram["theirs"]


def test_a_changed_threshold_in_the_network_lowers_nests_agreement(reported, tmp_path):
    """The agreement can fail: the same network with if2's threshold doubled, run on NEST,
    agrees less with the reference than the faithful export does."""
    from nrf_deploy.targets import get_target
    from nrf_deploy.targets.spinnaker.witnesses import nest_opinion

    from nrf_deploy.api import load_export

    out = reported[0]
    tampered = tmp_path / "tampered"
    shutil.copytree(out, tampered)
    net = json.loads((tampered / "network.json").read_text())
    pop = next(p for p in net["populations"] if p["label"] == "if2")
    pop["cellparams"]["v_thresh"] = float(np.asarray(pop["cellparams"]["v_thresh"]).max()) * 2.0
    (tampered / "network.json").write_text(json.dumps(net))

    target, deployment = load_export(out)
    x = random_events(deployment.program.input_shape, 20, 2, 0.3, seed=4)
    reference = target.run(deployment, "reference", x, False)
    floating = run_float(deployment.graph, x, dt=deployment.sidecar["dt"], record_states=False)

    def agreement(export_dir) -> tuple[float, float]:
        context = OpinionContext(x, 1e-3, [], {}, reference, floating, export_dir)
        loaded = get_target("spinnaker").load(export_dir)  # its network.json, unsealed
        opinion = nest_opinion(loaded, context).to_json()
        overall = _rows(opinion)["spikes at the same neuron and step as the reference"]["theirs"]
        return overall, opinion["details"]["per_population"]["if2"]["equal_vs_reference"]

    faithful, faithful_if2 = agreement(out)
    assert faithful > 0.85 and faithful_if2 > 0.85
    changed, changed_if2 = agreement(tampered)
    assert changed < faithful and changed_if2 < faithful_if2 - 0.15


def test_spike_agreement_measures():
    a = np.zeros((4, 3))
    a[1, 0] = a[2, 1] = 1
    b = a.copy()
    same = spike_agreement([(a, b)])
    assert same["equal"] == pytest.approx(1.0) and same["correlation"] == pytest.approx(1.0)
    assert (same["theirs"], same["ours"]) == (2, 2)  # spike counts: exact
    b[2, 1], b[3, 1] = 0, 1  # one spike a step late: half the spikes equal, same counts
    got = spike_agreement([(a, b)])
    assert got["equal"] == pytest.approx(0.5) and got["correlation"] == pytest.approx(1.0)
    assert spike_agreement([(a, np.zeros_like(a))])["equal"] == 0.0
    assert spike_agreement([(np.zeros(3), np.zeros(3))])["equal"] == 1.0


def test_pynn_nest_and_spynnaker_import_no_samna(pynn):
    import subprocess

    from nrf_deploy.witness import ready

    code = (
        "import sys, pyNN.nest, pyNN.spiNNaker, spynnaker.pyNN.data\n"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'samna']\n"
        "print('IMPORTED:', bad)"
    )
    python = str(ready("pynn").python)
    done = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "IMPORTED: []" in done.stdout, done.stderr[-2000:]


# --- an export is data, never code (issue #31) ------------------------------------------------

PAYLOAD = "open({marker!r}, 'w').write('ran')  # planted\n"


@pytest.fixture
def small_export(tmp_path):
    write_nir(tmp_path / "m.nir", lif_chain(4, 3))
    out = tmp_path / "export"
    assert main(["export", str(tmp_path / "m.nir"), "--target", "spinnaker", "-o", str(out)]) == 0
    return out


def _plant(path, marker, after: str) -> None:
    text = path.read_text()
    assert after in text
    path.write_text(text.replace(after, after + PAYLOAD.format(marker=str(marker)), 1))


def _reseal(export_dir) -> None:
    """A consistent forgery: the manifest rewritten to match the edited files."""
    from nrf_deploy.seal import MANIFEST_KEY, seal_export

    options = json.loads((export_dir / "deploy.json").read_text())[MANIFEST_KEY]["options"]
    seal_export(export_dir, None, options)


def _opinions_after_report(export_dir, tmp_path, *flags) -> dict[str, dict]:
    html = tmp_path / "r.html"
    args = ["report", str(export_dir), "-o", str(html), "--samples", "1", "-q", *flags]
    assert main(args) == 0
    entry = json.loads(html.with_suffix(".json").read_text())["targets"][0]
    return {o["tool"]: o for o in entry["second_opinions"]}


@pytest.mark.parametrize("resealed", [True, False])
def test_a_payload_planted_in_run_pynn_never_runs(pynn, small_export, tmp_path, resealed):
    """run_pynn.py with a line that writes a file: report's second opinions refuse with the
    difference (re-sealed manifest, or --allow-modified on an edited export) and never run it."""
    marker = tmp_path / "payload-ran"
    _plant(small_export / "run_pynn.py", marker, "import os\n")
    flags = () if resealed else ("--allow-modified",)
    if resealed:
        _reseal(small_export)
    opinions = _opinions_after_report(small_export, tmp_path, *flags)
    assert not marker.exists()
    for tool in ("PyNN on NEST", "sPyNNaker mapping"):
        reason = opinions[tool]["reason"]
        assert not opinions[tool]["available"]
        assert "run_pynn.py differs from the script nrf-deploy generates" in reason, reason
        assert "open(" in reason and "never a file from an export" in reason


def test_code_planted_in_network_json_is_refused_not_generated(pynn, small_export, tmp_path):
    """network.json is data: a cell class that would smuggle code into the generated script is
    refused before any script exists."""
    marker = tmp_path / "payload-ran"
    net = json.loads((small_export / "network.json").read_text())
    evil = f"IF_curr_exp(); open({str(marker)!r}, 'w').write('ran'); x = sim.IF_curr_exp"
    net["populations"][1]["cellclass"] = evil
    (small_export / "network.json").write_text(json.dumps(net))
    _reseal(small_export)
    opinions = _opinions_after_report(small_export, tmp_path)
    assert not marker.exists()
    for tool in ("PyNN on NEST", "sPyNNaker mapping"):
        assert "populations[1].cellclass is not what nrf-deploy writes" in opinions[tool]["reason"]


def test_the_generated_script_is_the_shipped_one(small_export):
    """For an export nrf-deploy wrote, the generator gives back run_pynn.py byte for byte."""
    from nrf_deploy.targets import get_target
    from nrf_deploy.targets.spinnaker.witnesses import generated_script

    deployment = get_target("spinnaker").load(small_export)
    files = generated_script(deployment, small_export)
    assert files["script"] == (small_export / "run_pynn.py").read_text()
    assert files["network"] == (small_export / "network.json").read_text()
    assert files["connections"].tobytes() == (small_export / "connections.npz").read_bytes()


def test_missing_environment_says_how_to_install_it(small_export, tmp_path, monkeypatch):
    from nrf_deploy.witness.install import HOME_VARIABLE

    monkeypatch.setenv(HOME_VARIABLE, str(tmp_path / "none"))
    opinions = _opinions_after_report(small_export, tmp_path)
    for tool in ("PyNN on NEST", "sPyNNaker mapping"):
        assert opinions[tool]["reason"] == "not installed: nrf-deploy witnesses install pynn"


def test_a_network_beyond_the_memory_bound_is_not_run_and_says_why(pynn, small_export, tmp_path):
    """report --witness-memory bounds every second opinion's process: below NEST's and
    sPyNNaker's base needs, neither runs, and each says why."""
    opinions = _opinions_after_report(small_export, tmp_path, "--witness-memory", "0.1")
    for tool, what in (("PyNN on NEST", "NEST"), ("sPyNNaker mapping", "sPyNNaker's mapping")):
        reason = opinions[tool]["reason"]
        assert reason.startswith(f"not run: {what} would need about 0.2 GB"), reason
        assert "more than the 0.1 GB a second opinion may use" in reason
