"""verify, run and the report when a vendor witness runs in its own environment: without the
environment, verify still proves reference == emulator and names the install command; with it,
verify records the environment's versions and prints a progress line while the witness runs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import CLI
from graphs import lif_chain
from helpers import cli

from nrf_deploy.errors import NrfError
from nrf_deploy.ir.write import write_nir
from nrf_deploy.witness import install, run
from nrf_deploy.witness.envs import InstallStep, WitnessEnv

HINT = "not installed: nrf-deploy witnesses install lava"


@pytest.fixture(scope="module")
def loihi_export(tmp_path_factory) -> Path:
    """A small Loihi export (Input -> Affine -> LIF)."""
    root = tmp_path_factory.mktemp("wv")
    write_nir(root / "m.nir", lif_chain(3, 4, seed=2))
    proc = cli("export", root / "m.nir", "--target", "loihi", "-o", root / "loihi")
    assert proc.returncode == 0, proc.stderr
    return root / "loihi"


def _without_witnesses(tmp_path: Path) -> dict[str, str]:
    import os

    return {**os.environ, install.HOME_VARIABLE: str(tmp_path / "no-witnesses")}


def test_verify_without_the_environment_proves_reference_equals_emulator(loihi_export, tmp_path):
    import subprocess

    report = tmp_path / "verify-report.json"
    proc = subprocess.run(
        [*CLI, "verify", str(loihi_export), "--samples", "4", "--witness-samples", "2",
         "--timesteps", "10", "--report", str(report)],
        capture_output=True, text=True, timeout=300, env=_without_witnesses(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "emulator vs reference: OK" in proc.stdout
    assert f"lava vs reference: SKIPPED  {HINT}" in proc.stdout
    data = json.loads(report.read_text())
    assert data["ok"] is True and "witness_environments" not in data
    emulator, lava = data["comparisons"]
    assert emulator["other"] == "emulator" and emulator["ok"] is True
    assert emulator["compared_values"] > 0 and "skipped" not in emulator
    assert lava == {**lava, "other": "lava", "ok": None, "skipped": HINT, "compared_values": 0}


def test_report_shows_the_skipped_witness_and_still_counts_the_export_verified(
    loihi_export, tmp_path, monkeypatch
):
    import shutil

    from nrf_deploy.report import _verification
    from nrf_deploy.report.html import _verification as html_verification
    from nrf_deploy.seal import load_export
    from nrf_deploy.verify import verify_deployment

    monkeypatch.setenv(install.HOME_VARIABLE, str(tmp_path / "no-witnesses"))
    out = tmp_path / "e"
    shutil.copytree(loihi_export, out)
    loaded = load_export(out)
    x = np.zeros((5, 2, 3), np.int64)
    result = verify_deployment(loaded.target, loaded.deployment, x, witness_samples=1)
    assert [c.skipped for c in result.comparisons] == ["", HINT] and result.ok
    (out / "verify-report.json").write_text(
        json.dumps(result.record(loaded.seal.digest, None, {}, []))
    )
    verdict = _verification(out, loaded.seal)
    assert verdict["status"] == "verified"
    assert f"lava vs reference: not run — {HINT}" in html_verification(verdict)


def test_sharded_verify_skips_the_same_way(loihi_export, tmp_path, monkeypatch):
    from nrf_deploy.inputset import InputSet
    from nrf_deploy.seal import load_export
    from nrf_deploy.shard import make_plan, verify_inputs

    monkeypatch.setenv(install.HOME_VARIABLE, str(tmp_path / "no-witnesses"))
    loaded = load_export(loihi_export)
    plan = make_plan(loaded.target, loaded.deployment, witness_samples=3, batch_size=2)
    assert plan.skipped == {"lava": HINT}
    x = np.zeros((4, 7, 3), np.int64)
    result = verify_inputs(loaded.target, loaded.deployment, InputSet.from_array(x, "z"), plan, 2)
    assert [(c.other, c.samples, c.skipped) for c in result.comparisons] == [
        ("emulator", 7, ""),
        ("lava", 0, HINT),
    ]
    plan = make_plan(loaded.target, loaded.deployment, witness_samples=0, batch_size=2)
    result = verify_inputs(loaded.target, loaded.deployment, InputSet.from_array(x, "z"), plan, 2)
    assert [c.other for c in result.comparisons] == ["emulator"]  # not asked for: not listed


def test_run_with_the_missing_witness_exits_2_with_the_install_command(loihi_export, tmp_path):
    import subprocess

    np.save(tmp_path / "x.npy", np.zeros((5, 1, 3), np.int64))
    proc = subprocess.run(
        [*CLI, "run", str(loihi_export), "--backend", "lava", "--input",
         str(tmp_path / "x.npy"), "-o", str(tmp_path / "o.npz")],
        capture_output=True, text=True, timeout=300, env=_without_witnesses(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "nrf-deploy witnesses install lava" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o.npz").exists()


def test_verify_records_the_environment_and_prints_progress(
    lava_env, loihi_export, tmp_path, monkeypatch, capsys
):
    """The witness's environment, Python and versions go into verify-report.json (from its
    manifest); while the witness runs, verify's log gets a line at least every HEARTBEAT_S."""
    from nrf_deploy.cli import main

    monkeypatch.setattr(run, "HEARTBEAT_S", 0.2)
    report = tmp_path / "r.json"
    argv = ["verify", str(loihi_export), "--samples", "3", "--witness-samples", "3"]
    assert main([*argv, "--timesteps", "20", "--report", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "lava vs reference: OK" in printed
    assert "Lava witness (3 samples x 20 steps): still running" in printed
    env = json.loads(report.read_text())["witness_environments"]["lava"]
    manifest = run.ready("lava").manifest()
    assert env["environment"] == "lava" and env["python"] == manifest["python"]
    assert env["versions"]["lava-nc"] == "0.10.0" and env["versions"] == manifest["versions"]
    assert env["prepared"]["sha256_patched"] == manifest["prepared"]["sha256_patched"]


# --- the Lava environment's patch and the installer's tool check ---------------------------------


def test_the_lava_patch_changes_exactly_the_eight_defaults_and_the_import():
    from nrf_deploy.targets.loihi import lava_env

    lines = ["from dataclasses import dataclass, InitVar\n", "class ByteEncoder: pass\n"]
    lines += [f"    f{i}: ByteEncoder = ByteEncoder()\n" for i in range(8)]
    patched = lava_env.patched_var_model("".join(lines)).splitlines(keepends=True)
    changed = [i for i, (a, b) in enumerate(zip(lines, patched, strict=True)) if a != b]
    assert changed == [0, *range(2, 10)]
    assert patched[2] == "    f0: ByteEncoder = field(default_factory=ByteEncoder)\n"
    with pytest.raises(ValueError, match="expected 8"):
        lava_env.patched_var_model("".join(lines[:-1]))


def test_the_lava_patch_refuses_a_file_it_does_not_know(tmp_path):
    from nrf_deploy.targets.loihi import lava_env

    site = tmp_path / "lib" / "python3.12" / "site-packages"
    target = site / lava_env.VAR_MODEL
    target.parent.mkdir(parents=True)
    target.write_text("x: ByteEncoder = ByteEncoder()\n")
    env = install.InstalledEnv(lava_env.LAVA_ENV, tmp_path)
    with pytest.raises(NrfError, match="refusing to patch"):
        lava_env.patch_var_model(env)
    assert target.read_text() == "x: ByteEncoder = ByteEncoder()\n"  # untouched


def test_the_installed_lava_is_patched_as_recorded(lava_env):
    from nrf_deploy.targets.loihi import lava_env as spec

    env = run.ready("lava")
    data = (env.site_packages() / spec.VAR_MODEL).read_bytes()
    assert hashlib.sha256(data).hexdigest() == spec.PATCHED_SHA256
    assert env.manifest()["prepared"]["sha256_original"] == spec.ORIGINAL_SHA256
    assert env.manifest()["check"]["ok"] is True


def test_a_missing_compiler_is_named_before_anything_is_created(tmp_path, monkeypatch):
    spec = WitnessEnv("needs-cc", "", "3.12", (InstallStep(("xylosim==0.1.3",), tools=("g++",)),))
    monkeypatch.setenv(install.HOME_VARIABLE, str(tmp_path))
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(install.shutil, "which", lambda name: None)
    monkeypatch.setattr(install, "find_python", lambda version: Path("/usr/bin/python3"))
    with pytest.raises(NrfError) as info:
        install.install(spec, log=lambda line: None)
    text = info.value.format()
    assert "needs g++" in text and "apt-get install g++" in text
    assert not (tmp_path / "needs-cc").exists()
