"""Ask a witness: run one runner function in its environment's interpreter, in a fresh process.

The request and the answer cross as ``.npz`` files (:mod:`nrf_deploy.witness.launch`) in a
temporary folder that is always removed; the process is the unit of memory (whatever the tool
held is returned when it exits) and of isolation (``python -I``: no PYTHONPATH, no user site, no
nrf-deploy on its path).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from nrf_deploy.errors import NrfError
from nrf_deploy.witness import launch
from nrf_deploy.witness.install import InstalledEnv, install_hint, locate

DEFAULT_TIMEOUT_S = 3600
HEARTBEAT_S = 20.0
"""A progress line at least this often while a witness runs (docs: a line every 20 s)."""


class WitnessNotInstalled(NrfError):
    """The environment a witness needs is missing or stale; verify and report show the hint."""

    def __init__(self, name: str, status: str) -> None:
        self.env_name, self.status = name, status
        super().__init__(
            f"witness environment '{name}' is {status}",
            f"{locate_path(name)}",
            install_hint(name) + (" --force" if status in ("stale", "broken") else ""),
        )

    @property
    def short(self) -> str:
        """What verify and report print: ``not installed: nrf-deploy witnesses install lava``."""
        return f"{self.status}: {self.hint}"


class WitnessRefused(NrfError):
    """The tool cannot run this request (the runner raised ``Refusal``)."""


class WitnessFailed(NrfError):
    """The witness process crashed or timed out."""


def locate_path(name: str) -> Path:
    from nrf_deploy.witness.install import witness_home

    return witness_home() / name


def ready(name: str) -> InstalledEnv:
    """The installed, current environment `name` (WitnessNotInstalled otherwise)."""
    from nrf_deploy.witness.envs import get_env

    env = locate(get_env(name))
    if env.status != "installed":
        raise WitnessNotInstalled(name, env.status)
    return env


def missing(name: str) -> str | None:
    """None when environment `name` is installed and current; else what verify prints in place of
    the comparison (:attr:`WitnessNotInstalled.short`, e.g. ``not installed: nrf-deploy witnesses
    install lava``)."""
    try:
        ready(name)
    except WitnessNotInstalled as exc:
        return exc.short
    return None


def provenance(name: str) -> dict[str, Any]:
    """What a verification records about the installed environment `name` it ran a witness in
    (from the environment's manifest): Python, installer, recorded versions, patches, the
    declaration's fingerprint."""
    manifest = ready(name).manifest() or {}
    return {
        "environment": name,
        "python": manifest.get("python", "unknown"),
        "installer": manifest.get("installer", "unknown"),
        "versions": manifest.get("versions", {}),
        "prepared": manifest.get("prepared", {}),
        "fingerprint": manifest.get("fingerprint", ""),
    }


def call(
    name: str,
    runner: str | os.PathLike,
    function: str,
    request: dict[str, Any],
    *,
    what: str = "",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    cwd: str | os.PathLike | None = None,
    env_vars: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``function(request)`` of the runner file `runner` in witness environment `name`;
    return its answer. Raises WitnessNotInstalled, WitnessRefused or WitnessFailed."""
    return call_env(
        ready(name),
        runner,
        function,
        request,
        what=what,
        timeout_s=timeout_s,
        cwd=cwd,
        env_vars=env_vars,
    )


def call_many(
    name: str,
    runner: str | os.PathLike,
    function: str,
    requests: list[dict[str, Any]],
    *,
    what: str = "",
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[dict[str, Any]]:
    """:func:`call` for several requests in one process of environment `name` (the function runs
    once per request, in order): many small cases pay for one interpreter start and one import of
    the tool. A refusal or crash of any request fails the whole call."""
    if not requests:
        return []
    return call_env(
        ready(name), runner, function, requests, what=what, timeout_s=timeout_s, many=True
    )


def call_env(
    env: InstalledEnv,
    runner: str | os.PathLike,
    function: str,
    request: dict[str, Any] | list[dict[str, Any]],
    *,
    what: str = "",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    cwd: str | os.PathLike | None = None,
    env_vars: dict[str, str] | None = None,
    many: bool = False,
) -> Any:
    """:func:`call` on an environment already located (the installer's check uses it before
    the environment counts as installed); with `many`, `request` is a list (:func:`call_many`)."""
    what = what or f"{env.spec.name} witness"
    with tempfile.TemporaryDirectory(prefix="nrf-witness-") as tmp:
        req, resp = Path(tmp) / "request.npz", Path(tmp) / "answer.npz"
        if many:
            launch.pack_many(list(request), req)  # type: ignore[arg-type]
        else:
            launch.pack(request, req)  # type: ignore[arg-type]
        command = [
            str(env.python),
            "-I",
            str(Path(launch.__file__).resolve()),
            str(Path(runner).resolve()),
            function,
            str(req),
            str(resp),
            *(["--many"] if many else []),
        ]
        done = _run_with_heartbeat(command, what, timeout_s, cwd or tmp, env_vars)
        if done.returncode == launch.REFUSAL_EXIT:
            raise WitnessRefused(_last_line(done.stderr, "refused: "), what)
        if done.returncode != 0 or not resp.exists():
            raise WitnessFailed(
                f"{what} failed (exit {done.returncode}): {_last_line(done.stderr, 'failed: ')}",
                str(env.path),
                f"re-run with NRF_DEBUG=1 for the tool's output; '{install_hint(env.spec.name)} "
                "--force' rebuilds the environment",
            )
        return launch.unpack_many(resp) if many else launch.unpack(resp)


def _run_with_heartbeat(
    command: list[str],
    what: str,
    timeout_s: float,
    cwd: str | os.PathLike,
    env_vars: dict[str, str] | None,
) -> subprocess.CompletedProcess:
    from nrf_deploy.progress import stage

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(env_vars or {})
    started = time.monotonic()
    finished = threading.Event()

    def heartbeat() -> None:
        while not finished.wait(HEARTBEAT_S):
            stage(f"{what}: still running ({time.monotonic() - started:.0f} s)")

    thread = threading.Thread(target=heartbeat, daemon=True)
    thread.start()
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=cwd,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise WitnessFailed(
            f"{what} did not finish within {timeout_s:.0f} s",
            what,
            "use fewer witness samples (--witness-samples)",
        ) from None
    finally:
        finished.set()
    if os.environ.get("NRF_DEBUG") and done.stderr:
        print(done.stderr, flush=True)
    return done


def _last_line(text: str, prefix: str) -> str:
    lines = [ln for ln in (text or "").splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.startswith(prefix):
            return line[len(prefix) :]
    return lines[-1] if lines else "no output"
