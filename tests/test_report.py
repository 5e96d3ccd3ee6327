"""Reports: every figure traces to a sourced constant, counts equal an independent count, unknown
or missing pieces degrade to "not available", user constants are used and labelled."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from nrf_deploy.targets import target_names

from nrf_deploy.cli.export import export
from nrf_deploy.inputs import random_events
from nrf_deploy.profile import (
    KINDS,
    Constant,
    Ledger,
    load_profiles,
    parse_overrides,
    timestepped_latency,
)
from nrf_deploy.report import build_report

X = random_events((2, 34, 34), 12, 3, 0.1, 0)

# Published figures, typed in from the papers (docs/energy.md lists them with their sources), not
# read from the code under test.
PUBLISHED = {
    "loihi1": {
        "sop_pj": 23.6,
        "sop_ns": 3.5,
        "update_active_pj": 81.0,
        "update_inactive_pj": 52.0,
        "spike_pj": 1.7,
    },
    "speck": {"event_latency_us": 3.36, "resting_mw": 0.42},
    "spinnaker1": {"synaptic_event_uj": 0.6, "timestep_ms": 1.0, "chip_peak_w": 1.0},
    "cpu": {"mac_pj": 4.6, "ac_pj": 0.9, "dram_pj": 640.0},
}
NEVER_INVENTED = {
    "loihi2": ("sop_pj", "update_pj", "sop_ns", "update_ns", "barrier_ns"),
    "spinnaker2": ("sop_pj", "update_pj"),
    "speck": ("sop_pj",),
}


@pytest.fixture(scope="module")
def exports(fixture_path, tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    for target in ("loihi", "onnx", "spinnaker"):
        if target in target_names():
            export(fixture_path, target, root / target)
    return root


@pytest.fixture(scope="module")
def report(exports, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    # second opinions have their own tests (test_sanafe_witness, test_spinnaker_witnesses)
    build_report(sorted(p for p in exports.iterdir()), out, x=X, second_opinions=False)
    return json.loads(out.with_name("report.json").read_text())


def test_every_profile_constant_is_sourced_and_published_figures_are_exact():
    chips = {p.chip: p for t in [*target_names(), "spinnaker"] for p in load_profiles(t)}
    assert {"loihi1", "loihi2", "speck", "cpu", "spinnaker1", "spinnaker2"} <= set(chips)
    for chip, profile in chips.items():
        for key, c in profile.constants.items():
            assert c.kind in KINDS and len(c.source) > 10, (chip, key)
            assert (c.value is None) == (c.kind in ("unpublished", "unset")), (chip, key)
    for chip, values in PUBLISHED.items():
        for key, value in values.items():
            assert chips[chip].constants[key].value == value, (chip, key)
    for chip, keys in NEVER_INVENTED.items():
        for key in keys:
            assert (
                chips[chip].constants[key].value is None
                and chips[chip].constants[key].kind == "unpublished"
            )
    with pytest.raises(ValueError):
        Constant(
            1.0, "pJ", "x", "somewhere", "unpublished"
        )  # an unpublished figure cannot carry a value


def test_every_energy_and_latency_figure_names_its_constant_and_source(report):
    assert report["format"] == "nrf-deploy-report/1"
    hardware = {h["chip"]: (e, h) for e in report["targets"] for h in e.get("hardware", [])}
    assert {"loihi1", "loihi2", "cpu"} <= set(hardware)
    for _entry, h in hardware.values():
        constants = h["constants"]
        for what, unit_total in (("energy", "energy_j"), ("latency", "latency_s")):
            total = 0.0
            for term in h[f"{what}_terms"]:
                c = constants[term["constant"]]  # every term names a constant of the table...
                assert term["source"] == c["source"] and term["kind"] == c["kind"] and c["source"]
                if c["value"] is None:
                    assert term["value"] is None
                    continue
                si = {
                    "pJ": 1e-12,
                    "nJ": 1e-9,
                    "uJ": 1e-6,
                    "mW": 1e-3,
                    "W": 1.0,
                    "ns": 1e-9,
                    "us": 1e-6,
                    "ms": 1e-3,
                    "s": 1.0,
                }[c["unit"]]
                # ... and is exactly count x that constant's value
                assert term["value"] == pytest.approx(term["count"] * c["value"] * si, rel=1e-12)
                total += term["value"]
            if h[unit_total] is not None:
                assert h[unit_total] == pytest.approx(total, rel=1e-12)
    loihi, l1 = hardware["loihi1"]
    syn = next(t for t in l1["energy_terms"] if t["count_name"] == "effective_sops")
    assert syn["value"] == pytest.approx(loihi["counts"]["effective_sops"] * 23.6e-12)
    assert l1["energy_status"] == "complete" and l1["latency_status"] == "complete"
    # update time and barrier from SANA-FE 2.2.9's loihi.yaml: 6.0 ns per neuron, and the
    # latency_sync entry for 4-28 tiles (1.4 us) for the fixture's 19 cores = 5 tiles of 4
    barrier = next(t for t in l1["latency_terms"] if t["constant"] == "loihi1.barrier_ns")
    assert loihi["resources"]["cores_used"] == 19
    assert barrier["constant_value"] == 1400.0 and barrier["kind"] == "derived"
    assert "sanafe/examples/loihi.yaml, sanafe 2.2.9" in barrier["source"]
    update = next(t for t in l1["latency_terms"] if t["constant"] == "loihi1.update_ns")
    assert update["constant_value"] == 6.0 and update["value"] == pytest.approx(
        update["count"] * 6e-9
    )
    _, l2 = hardware["loihi2"]
    assert l2["energy_j"] is None and "loihi2.sop_pj" in l2["missing_constants"]  # never invented
    _, cpu = hardware["cpu"]
    assert cpu["latency_s"] > 0 and cpu["constants"]["cpu.step_s"]["kind"] == "measured"
    rows = {(r["target"], r["chip"]): r for r in report["summary"]}
    assert rows[("loihi", "loihi1")]["energy_vs_cpu"] == pytest.approx(
        l1["energy_j"] / cpu["energy_j"]
    )
    assert rows[("loihi", "loihi1")]["verified"] == "not verified"  # not verified: says so
    if "spinnaker1" in hardware:
        sp_entry, sp = hardware["spinnaker1"]
        # the all-in system figure: effective synaptic events x 0.6 uJ and nothing else
        assert sp["energy_j"] == pytest.approx(sp_entry["counts"]["effective_sops"] * 0.6e-6)
        assert len(sp["energy_terms"]) == 1


def test_reference_counts_take_the_reference_backends_spikes(report, fixture_path):
    """The report counts the quantised reference's activity (the SOP definitions themselves are
    checked against NeuroBench 2.3.0 in tests/test_neurobench.py)."""
    from nrf_deploy.targets.loihi import LoihiTarget

    target = LoihiTarget()
    dep = target.load(next(e["export_dir"] for e in report["targets"] if e["target"] == "loihi"))
    trace = target.run(dep, "reference", X, record_states=False)
    t_steps, batch = X.shape[:2]
    counts = next(e["counts"] for e in report["targets"] if e["target"] == "loihi")
    assert all(p["effective_sops"] > 0 for p in counts["projections"])
    assert counts["acs"] == counts["effective_sops"] and counts["macs"] == 0  # binary events only
    spikes = sum(float(np.abs(trace.outputs[n]).sum()) for n in ("1", "3", "6", "10", "12")) / batch
    assert counts["spikes"] == pytest.approx(spikes)
    assert counts["neuron_updates"] == (4096 + 4096 + 512 + 256 + 10) * t_steps


def test_report_without_second_opinions_skips_neurobench(report):
    for entry in report["targets"]:
        nb = entry.get("neurobench")
        assert nb == "skipped (--no-second-opinions)"  # test_neurobench.py reports them


def test_time_stepped_latency_takes_the_busiest_core_of_every_step():
    sops = np.array([[[10, 0, 3]], [[0, 7, 1]]], dtype=float)  # [T=2, B=1, C=3]
    neurons = np.array([100, 10, 500])
    ledger = Ledger(
        "chip",
        {
            "s": Constant(2.0, "ns", "op", "a paper", "measured"),
            "u": Constant(1.0, "ns", "update", "a paper", "measured"),
            "b": Constant(None, "ns", "barrier", "nobody", "unpublished"),
        },
    )
    timestepped_latency(
        ledger, {"timesteps": 2, "cores": {"sops": sops, "neurons": neurons}}, "s", "u", "b"
    )
    result = ledger.result()
    # step 0: core 2 (3*2 + 500 = 506 ns) beats core 0 (120); step 1: core 2 again (2 + 500)
    assert result["latency_s"] == pytest.approx((506 + 502) * 1e-9)
    assert result["latency_status"] == "partial" and result["missing_constants"] == ["chip.b"]


def test_spinnaker_real_time_latency_follows_the_exports_machine_timestep():
    """The PyNN script runs sim.setup(timestep=dt): 16 steps of 50 ms take 0.8 s of wall clock,
    not 16 ms; a user-supplied timestep still wins."""
    from nrf_deploy.profile import load_profiles

    (profile,) = [p for p in load_profiles("spinnaker") if p.chip == "spinnaker1"]
    counts = {"timesteps": 16, "dt": 0.05, "effective_sops": 1000.0}
    result = profile.evaluate(counts, {"chips": 2})
    assert result["latency_s"] == pytest.approx(16 * 0.05)
    assert result["info"]["peak_power_bound"]["value"] == pytest.approx(2 * 1.0 * 16 * 0.05)
    user = profile.with_overrides({"timestep_ms": 1.0}).evaluate(counts, {"chips": 2})
    assert user["latency_s"] == pytest.approx(16e-3)


def test_user_constants_are_used_and_labelled_and_bad_ones_refused(exports, tmp_path, capsys):
    from nrf_deploy.cli import main

    out = tmp_path / "r.html"
    code = main(
        [
            "report",
            str(exports / "loihi"),
            "-o",
            str(out),
            "--no-second-opinions",
            "--samples",
            "2",
            "--timesteps",
            "8",
            "--emulator-samples",
            "0",
            "--energy-constant",
            "loihi2.sop_pj=10",
            "--energy-constant",
            "loihi2.update_pj=20",
            "--energy-constant",
            "loihi1.barrier_ns=1000",
        ]
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "loihi1" in printed.out and "loihi2" in printed.out  # the terminal summary table
    entry = json.loads(out.with_suffix(".json").read_text())["targets"][0]
    hw = {h["chip"]: h for h in entry["hardware"]}
    c = hw["loihi2"]["constants"]["loihi2.sop_pj"]
    assert c["value"] == 10.0 and c["kind"] == "user" and "supplied by the user" in c["source"]
    counts = entry["counts"]
    assert hw["loihi2"]["energy_j"] == pytest.approx(
        counts["effective_sops"] * 10e-12 + counts["neuron_updates"] * 20e-12
    )
    assert hw["loihi1"]["latency_s"] >= 8 * 1000e-9  # one barrier per step, as supplied
    barrier = hw["loihi1"]["constants"]["loihi1.barrier_ns"]
    assert barrier["value"] == 1000.0 and barrier["kind"] == "user"  # not SANA-FE's table
    for bad, message in (
        ("loihi1.nope=1", "unknown constant"),
        ("nochip.sop_pj=1", "unknown chip"),
        ("loihi2.sop_pj", "cannot parse"),
        ("loihi2.sop_pj=-3", ">= 0"),
    ):
        code = main(
            [
                "report",
                str(exports / "loihi"),
                "-o",
                str(tmp_path / "bad.html"),
                "--energy-constant",
                bad,
            ]
        )
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err, (bad, err)
    assert not (tmp_path / "bad.html").exists()  # refused before any work
    assert parse_overrides(["speck.sop_pj=2.5"]) == {"speck": {"sop_pj": 2.5}}


def test_missing_pieces_are_reported_not_crashed_on(exports, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(exports / "loihi", broken)
    (broken / "source.nir").unlink()  # an export made before reports
    alien = tmp_path / "alien"
    alien.mkdir()
    sidecar = json.loads((exports / "loihi" / "deploy.json").read_text())
    (alien / "deploy.json").write_text(json.dumps({**sidecar, "target": "truenorth"}))
    report = build_report(
        [broken, alien, exports / "onnx"],
        tmp_path / "r.html",
        x=X[:, :1],
        failures={"speck": "error: LIF neurons are not supported"},
    )
    status = {e["target"]: e for e in report["targets"]}
    assert status["loihi"]["status"] == "not available" and "source.nir" in status["loihi"]["error"]
    assert (
        status["truenorth"]["status"] == "not available"
        and "unknown target" in status["truenorth"]["error"]
    )
    assert status["speck"]["status"] == "refused"
    assert status["onnx"]["status"] == "ok"
    html = (tmp_path / "r.html").read_text()
    assert "LIF neurons are not supported" in html and "truenorth" in html


def test_every_constant_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "energy.md").read_text()
    for target in [*target_names(), "spinnaker"]:
        for profile in load_profiles(target):
            for key in profile.constants:
                assert f"{profile.chip}.{key}" in doc, (
                    f"{profile.chip}.{key} missing from docs/energy.md"
                )


def test_reset_flag_follows_the_targets_exact_reset_rules():
    """A model that resets to zero on a chip that resets to zero (or to a value) is not flagged;
    on a chip that only subtracts it is."""
    from graphs import lif_chain

    from nrf_deploy.ir import load_graph
    from nrf_deploy.report import model_flags

    graph = load_graph(lif_chain(reset="zero"))
    sidecar = {"reset": "to V_reset (lambda v_reset for reset-to-value nodes, else 0)"}
    assert not model_flags(graph, sidecar, frozenset({"zero", "value"}))
    (flag,) = model_flags(graph, sidecar, frozenset({"subtract"}))
    assert flag["kind"] == "approximation" and "resets by zero" in flag["note"]


def test_second_opinion_figures_are_readable():
    from nrf_deploy.report.html import _second_opinions_section

    rows = [
        {"quantity": "SDRAM", "unit": "bytes", "ours": 37_426_048, "theirs": 191_589_776},
        {"quantity": "correlation", "unit": "r", "ours": 1.0, "theirs": 0.5, "kind": "agreement"},
        {"quantity": "equal spikes", "unit": "share", "ours": 1.0, "theirs": 0.25},
    ]
    rows[2]["kind"] = "agreement"
    page = _second_opinions_section(
        [
            {"tool": "T", "version": "1", "available": True, "rows": rows, "notes": ["n1"]},
            {"tool": "U", "available": False, "reason": "not available (install X)"},
        ]
    )
    assert "37.4 MB" in page and "192 MB" in page and "5.1× more" in page
    assert "r = 0.5" in page and "25 %" in page and "T: n1" in page
    assert "not available (install X)" in page
