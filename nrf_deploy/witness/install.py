"""Create, check and describe witness environments (:mod:`nrf_deploy.witness.envs` declares them).

Each environment is a virtual environment under :func:`witness_home` (``$NRF_DEPLOY_WITNESS_HOME``,
default ``$XDG_CACHE_HOME/nrf-deploy/witnesses`` or ``~/.cache/nrf-deploy/witnesses``), one folder
per name. ``uv`` makes it fast where it is installed (it links packages from its cache, so a
second environment with the same torch costs almost no download or disk); otherwise ``venv`` +
``pip``. The manifest ``nrf-witness.json`` is written last: an environment without it is not
installed (an interrupted install is redone from scratch), one whose manifest records another
declaration (:meth:`WitnessEnv.fingerprint`) is stale.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nrf_deploy.errors import NrfError
from nrf_deploy.witness.envs import InstallStep, WitnessEnv

MANIFEST = "nrf-witness.json"
HOME_VARIABLE = "NRF_DEPLOY_WITNESS_HOME"
INSTALL_TIMEOUT_S = 3600


def witness_home() -> Path:
    """The folder that holds every witness environment."""
    if os.environ.get(HOME_VARIABLE):
        return Path(os.environ[HOME_VARIABLE]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "nrf-deploy" / "witnesses"


@dataclass(frozen=True)
class InstalledEnv:
    """An environment on disk (installed or not)."""

    spec: WitnessEnv
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def manifest(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    @property
    def status(self) -> str:
        """``installed``, ``stale`` (declared differently since), ``broken`` (interpreter
        gone) or ``not installed``."""
        manifest = self.manifest()
        if manifest is None:
            return "not installed"
        if not self.python.exists():
            return "broken"
        if manifest.get("fingerprint") != self.spec.fingerprint():
            return "stale"
        return "installed"

    def site_packages(self) -> Path:
        """The environment's site-packages folder (for prepare hooks that patch a package)."""
        found = sorted(self.path.glob("lib/python*/site-packages"))
        if not found:
            raise NrfError(f"no site-packages in {self.path}", str(self.path))
        return found[0]


def locate(spec: WitnessEnv) -> InstalledEnv:
    return InstalledEnv(spec, witness_home() / spec.name)


def install_hint(name: str) -> str:
    return f"nrf-deploy witnesses install {name}"


# --- finding an interpreter -------------------------------------------------------------------


def find_python(version: str) -> Path:
    """An interpreter of exactly `version` (``MAJOR.MINOR``): pyenv's newest patch release, then
    ``python{version}`` on PATH, then one uv knows (never downloaded)."""
    for candidate in _python_candidates(version):
        if _reports_version(candidate, version):
            return candidate
    raise NrfError(
        f"Python {version} was not found (needed by this witness environment)",
        "PATH, pyenv, uv",
        f"install Python {version} (e.g. 'pyenv install {version}' or 'uv python install "
        f"{version}') and re-run",
    )


def _python_candidates(version: str) -> Iterator[Path]:
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    patches = sorted(
        pyenv.glob(f"{version}.*"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in re.split(r"[.]", p.name)],
        reverse=True,
    )
    for folder in patches:
        yield folder / "bin" / f"python{version}"
    on_path = shutil.which(f"python{version}")
    if on_path:
        yield Path(on_path)
    uv = uv_binary()
    if uv:
        done = _quiet_run([uv, "python", "find", version], {"UV_PYTHON_DOWNLOADS": "never"})
        if done is not None and done.returncode == 0 and done.stdout.strip():
            yield Path(done.stdout.strip())


def _reports_version(python: Path, version: str) -> bool:
    code = "import sys; print('%d.%d' % sys.version_info[:2])"
    done = _quiet_run([str(python), "-I", "-c", code])
    return done is not None and done.returncode == 0 and done.stdout.strip() == version


def _quiet_run(command: list[str], env: dict[str, str] | None = None):
    try:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, **(env or {})},
        )
    except (OSError, subprocess.SubprocessError):
        return None


def uv_binary() -> str | None:
    """The ``uv`` executable: the one installed with nrf-deploy, else one on PATH."""
    with contextlib.suppress(ImportError, FileNotFoundError):
        from uv import find_uv_bin

        return find_uv_bin()
    return shutil.which("uv")


# --- installing -------------------------------------------------------------------------------


def install(spec: WitnessEnv, force: bool = False, log=print) -> InstalledEnv:
    """Create `spec`'s environment (or leave an installed, current one as it is unless `force`);
    returns it installed and checked. Progress goes to `log` one line per step; the installers'
    own output to ``<home>/<name>.install.log``."""
    env = locate(spec)
    env.path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(env.path.parent / f".{spec.name}.lock"):
        if env.status == "installed" and not force:
            log(f"{spec.name}: already installed ({env.path})")
            return env
        started = time.monotonic()
        logfile = env.path.parent / f"{spec.name}.install.log"
        with open(logfile, "w") as out:
            runner = _Runner(out, log, spec.name)
            python = find_python(spec.python)
            check_tools(spec)
            shutil.rmtree(env.path, ignore_errors=True)
            installer = runner.create(python, env.path, spec)
            for step in spec.steps:
                runner.install(env, step, installer)
            notes = _prepare(spec, env)
            runner.check_imports(env, spec.imports)
            versions = installed_versions(env.python, spec.recorded_names())
            manifest = {
                "name": spec.name,
                "fingerprint": spec.fingerprint(),
                "python": _python_version(env.python),
                "base_interpreter": str(python),
                "installer": installer,
                "versions": versions,
                "prepared": notes,
                "install_seconds": round(time.monotonic() - started, 1),
                "size_bytes": folder_size(env.path),
                "own_bytes": folder_size(env.path, own=True),
            }
            if spec.check is not None:
                manifest["check"] = _run_check(spec, env)
            env.manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        log(
            f"{spec.name}: installed in {manifest['install_seconds']:.0f} s, "
            f"{manifest['size_bytes'] / 1e6:,.0f} MB, {manifest['own_bytes'] / 1e6:,.0f} MB not "
            f"shared with uv's cache ({env.path})"
        )
        return env


TOOL_PACKAGES: dict[str, str] = {
    "g++": "a C++ compiler: 'apt-get install g++' (Debian/Ubuntu), 'dnf install gcc-c++' "
    "(Fedora), 'xcode-select --install' (macOS)",
    "gcc": "a C compiler: 'apt-get install gcc' (Debian/Ubuntu), 'dnf install gcc' (Fedora), "
    "'xcode-select --install' (macOS)",
}
"""How to get each program an install step may need (:attr:`InstallStep.tools`)."""


def check_tools(spec: WitnessEnv) -> None:
    """NrfError naming what to install when a program a step needs is not on PATH (before
    anything is created)."""
    for step in spec.steps:
        missing = [t for t in step.tools if shutil.which(_tool_command(t)) is None]
        if missing:
            tool = missing[0]
            raise NrfError(
                f"witness environment '{spec.name}' needs {tool} to install "
                f"{' '.join(step.requirements)} (no binary wheel fits Python {spec.python}), "
                f"and {tool} was not found",
                "PATH",
                f"install {TOOL_PACKAGES.get(tool, tool)}; then re-run "
                f"'{install_hint(spec.name)}'",
            )


def _tool_command(tool: str) -> str:
    """The program to look for: ``$CXX`` / ``$CC`` when set (the build uses them), else `tool`."""
    variable = {"g++": "CXX", "gcc": "CC"}.get(tool)
    chosen = os.environ.get(variable, "") if variable else ""
    return chosen.split()[0] if chosen.strip() else tool


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One installer per environment at a time (a second waits)."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _Runner:
    """Runs installer commands with their output in the install log."""

    def __init__(self, out, log, name: str) -> None:
        self.out, self.log, self.name = out, log, name

    def run(self, command: list[str], what: str) -> None:
        self.log(f"{self.name}: {what}")
        self.out.write(f"$ {' '.join(command)}\n")
        self.out.flush()
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        env.pop("PYTHONPATH", None)
        try:
            done = subprocess.run(
                command,
                stdout=self.out,
                stderr=subprocess.STDOUT,
                timeout=INSTALL_TIMEOUT_S,
                check=False,
                env=env,
            )
        except subprocess.TimeoutExpired:
            raise NrfError(
                f"{what} took more than {INSTALL_TIMEOUT_S} s", self.out.name, "retry"
            ) from None
        if done.returncode != 0:
            raise NrfError(
                f"witness environment '{self.name}': {what} failed (exit {done.returncode}): "
                f"{_last_line(Path(self.out.name))}",
                self.out.name,
                "read the install log; check the network and free disk space, then retry",
            )

    def create(self, python: Path, path: Path, spec: WitnessEnv) -> str:
        """A new virtual environment at `path`; returns the installer used."""
        uv = uv_binary()
        needs_pip = any(s.ignore_requires_python for s in spec.steps)
        if uv:
            seed = ["--seed"] if needs_pip else []
            self.run([uv, "venv", "-q", *seed, "--python", str(python), str(path)], "venv (uv)")
            return "uv " + _uv_version(uv)
        self.run([str(python), "-m", "venv", str(path)], "venv")
        return "pip"

    def install(self, env: InstalledEnv, step: InstallStep, installer: str) -> None:
        flags = ["--no-deps"] if step.no_deps else []
        if not step.build_isolation:
            flags.append("--no-build-isolation")
        what = f"install {' '.join(step.requirements)}"
        uv = uv_binary() if installer.startswith("uv") else None
        if uv and not step.ignore_requires_python:
            command = [uv, "pip", "install", "-q", "--python", str(env.python)]
        else:
            command = [str(env.python), "-m", "pip", "install", "-q"]
            if step.ignore_requires_python:
                flags.append("--ignore-requires-python")
        self.run([*command, *flags, *step.requirements], what)

    def check_imports(self, env: InstalledEnv, modules: tuple[str, ...]) -> None:
        if modules:
            code = "; ".join(f"import {m}" for m in modules)
            self.run([str(env.python), "-I", "-c", code], f"check imports ({', '.join(modules)})")


def _prepare(spec: WitnessEnv, env: InstalledEnv) -> dict[str, Any]:
    if not spec.prepare:
        return {}
    from nrf_deploy.ir.spec import resolve

    return dict(resolve(spec.prepare)(env) or {})


def _run_check(spec: WitnessEnv, env: InstalledEnv) -> dict[str, Any]:
    from nrf_deploy.witness.run import call_env

    runner, function = spec.check
    answer = call_env(env, runner, function, {}, what=f"{spec.name} check")
    if answer.get("ok") is not True:
        raise NrfError(
            f"witness environment '{spec.name}' installed but its check failed: "
            f"{answer.get('reason', answer)}",
            str(env.path),
            f"re-run '{install_hint(spec.name)} --force'; if it fails again, report it",
        )
    return {k: v for k, v in answer.items() if not hasattr(v, "shape")}


def installed_versions(python: Path, names: tuple[str, ...]) -> dict[str, str]:
    """``{distribution: version}`` as the environment's interpreter sees them."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = 'not installed'\n"
        "print(json.dumps(out))"
    )
    done = _quiet_run([str(python), "-I", "-c", code, *names])
    if done is None or done.returncode != 0:
        return dict.fromkeys(names, "unknown")
    return json.loads(done.stdout)


def _python_version(python: Path) -> str:
    code = "import platform; print(platform.python_version())"
    done = _quiet_run([str(python), "-I", "-c", code])
    return done.stdout.strip() if done is not None and done.returncode == 0 else "unknown"


def _uv_version(uv: str) -> str:
    done = _quiet_run([uv, "--version"])
    return done.stdout.split()[1] if done is not None and done.returncode == 0 else "?"


def folder_size(path: Path, own: bool = False) -> int:
    """Bytes of the regular files under `path`: all of them (hard links to uv's cache counted in
    full), or with `own` only those with a single link (what this environment adds on disk)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(root, name))
                if not os.path.islink(os.path.join(root, name)) and (not own or st.st_nlink == 1):
                    total += st.st_size
    return total


def _last_line(logfile: Path) -> str:
    try:
        lines = [ln for ln in logfile.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no output"
    return lines[-1][:300] if lines else "no output"


def remove(spec: WitnessEnv) -> bool:
    """Delete `spec`'s environment; True if there was one."""
    env = locate(spec)
    if not env.path.exists():
        return False
    shutil.rmtree(env.path)
    return True
