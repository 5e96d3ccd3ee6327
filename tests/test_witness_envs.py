"""The witness-environment machinery on a tiny environment of its own: install (uv or venv + pip),
the manifest, stale detection, the .npz protocol, refusals and crashes, isolation from the core."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from nrf_deploy.errors import NrfError
from nrf_deploy.witness import envs, install, launch, run
from nrf_deploy.witness.envs import InstallStep, WitnessEnv

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
RUNNER = textwrap.dedent(
    '''
    import os
    import sys
    import numpy as np

    class Refusal(Exception):
        pass

    def double(request):
        return {"y": request["x"] * 2, "n": int(request["n"]) + 1, "where": sys.prefix,
                "pid": os.getpid(),
                "core": "nrf_deploy" in sys.modules or any("nrf_deploy" in p for p in sys.path)}

    def refuse(request):
        raise Refusal("this tool cannot run a graph with 3 legs")

    def crash(request):
        raise RuntimeError("boom")

    def check(request):
        return {"ok": True, "numpy": np.__version__}
    '''
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A real environment (this Python, numpy only) under a temporary witness home."""
    home = tmp_path_factory.mktemp("witness-home")
    runner = home / "runner.py"
    runner.write_text(RUNNER)
    spec = WitnessEnv(
        "tiny",
        "numpy only, for the tests",
        PY,
        (InstallStep(("numpy",)),),
        imports=("numpy",),
        check=(str(runner), "check"),
    )
    mp = pytest.MonkeyPatch()
    mp.setenv(install.HOME_VARIABLE, str(home))
    mp.setattr(envs, "CORE_ENVS", (spec,))
    lines: list[str] = []
    env = install.install(spec, log=lines.append)
    yield spec, env, runner, lines
    mp.undo()


def test_install_writes_a_manifest_with_versions_and_check(tiny):
    spec, env, _, lines = tiny
    assert env.status == "installed"
    manifest = json.loads(env.manifest_path.read_text())
    assert manifest["fingerprint"] == spec.fingerprint()
    assert manifest["versions"]["numpy"] not in ("not installed", "unknown")
    assert manifest["check"]["numpy"] == manifest["versions"]["numpy"]
    assert manifest["python"].startswith(PY)
    assert manifest["size_bytes"] > 1_000_000
    assert any("installed in" in line for line in lines)


def test_second_install_reuses(tiny):
    spec, env, _, _ = tiny
    lines: list[str] = []
    install.install(spec, log=lines.append)
    assert lines == [f"tiny: already installed ({env.path})"]


def test_protocol_round_trip_in_a_separate_isolated_process(tiny):
    _, _, runner, _ = tiny
    x = np.arange(12, dtype=np.int64).reshape(3, 4)
    answer = run.call("tiny", runner, "double", {"x": x, "n": 4})
    np.testing.assert_array_equal(answer["y"], 2 * x)
    assert answer["y"].dtype == np.int64
    assert answer["n"] == 5
    assert answer["where"] == str(tiny[1].path)  # its own interpreter, not the core's
    assert answer["core"] is False  # nrf_deploy is neither imported nor importable there


def test_refusal_and_crash_are_one_message_each(tiny):
    _, _, runner, _ = tiny
    with pytest.raises(run.WitnessRefused, match="cannot run a graph with 3 legs"):
        run.call("tiny", runner, "refuse", {})
    with pytest.raises(run.WitnessFailed, match="RuntimeError: boom"):
        run.call("tiny", runner, "crash", {})


def test_missing_and_stale_environments_name_the_install_command(tiny, monkeypatch, tmp_path):
    spec, _, runner, _ = tiny
    changed = WitnessEnv(spec.name, spec.summary, PY, (InstallStep(("numpy", "six")),))
    monkeypatch.setattr(envs, "CORE_ENVS", (changed,))
    with pytest.raises(run.WitnessNotInstalled) as stale:
        run.call("tiny", runner, "double", {"x": np.zeros(1), "n": 0})
    assert stale.value.short == "stale: nrf-deploy witnesses install tiny --force"
    monkeypatch.setenv(install.HOME_VARIABLE, str(tmp_path))
    with pytest.raises(run.WitnessNotInstalled) as missing:
        run.call("tiny", runner, "double", {"x": np.zeros(1), "n": 0})
    assert missing.value.short == "not installed: nrf-deploy witnesses install tiny"


def test_unknown_environment_lists_the_choices(tiny):
    with pytest.raises(NrfError, match="unknown witness environment 'nope'"):
        envs.get_env("nope")


def test_protocol_refuses_object_arrays(tmp_path):
    with pytest.raises(TypeError, match="object arrays"):
        launch.pack({"x": np.array([object()])}, tmp_path / "m.npz")
    launch.pack({"x": np.arange(3), "meta": {"a": [1, 2]}}, tmp_path / "m.npz")
    back = launch.unpack(tmp_path / "m.npz")
    assert back["meta"] == {"a": [1, 2]}
    np.testing.assert_array_equal(back["x"], np.arange(3))


def test_missing_interpreter_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(install, "_python_candidates", lambda version: iter(()))
    with pytest.raises(NrfError, match="Python 3.99 was not found"):
        install.find_python("3.99")


def test_listing_shows_status_and_install_hint(tiny):
    proc = subprocess.run(
        [sys.executable, "-m", "nrf_deploy", "witnesses", "--json"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, install.HOME_VARIABLE: "/nonexistent-home"},
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert all(r["status"] == "not installed" for r in rows)


def test_without_uv_venv_and_pip_install_the_same(tmp_path, monkeypatch):
    spec = WitnessEnv("tiny-pip", "numpy only, pip", PY, (InstallStep(("numpy",)),), ("numpy",))
    monkeypatch.setenv(install.HOME_VARIABLE, str(tmp_path))
    monkeypatch.setattr(install, "uv_binary", lambda: None)
    env = install.install(spec, log=lambda line: None)
    manifest = json.loads(env.manifest_path.read_text())
    assert manifest["installer"] == "pip"
    assert manifest["versions"]["numpy"] not in ("not installed", "unknown")


def test_many_requests_in_one_process(tiny):
    """call_many: each request answered in order by one process of the environment."""
    _, _, runner, _ = tiny
    requests = [{"x": np.arange(k, dtype=np.int32), "n": k} for k in range(3)]
    answers = run.call_many("tiny", runner, "double", requests)
    assert [a["n"] for a in answers] == [1, 2, 3]
    for k, a in enumerate(answers):
        np.testing.assert_array_equal(a["y"], 2 * np.arange(k, dtype=np.int32))
        assert a["y"].dtype == np.int32
    assert len({a["pid"] for a in answers}) == 1  # one process
    assert run.call_many("tiny", runner, "double", []) == []
    with pytest.raises(run.WitnessRefused):
        run.call_many("tiny", runner, "refuse", requests)
