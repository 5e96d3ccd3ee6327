"""Test helpers shared by several test files: the CLI in a subprocess, backend agreement, byte
identity of two exports, headless Chromium. Graph builders live in graphs.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import CLI

from nrf_deploy.inputs import random_events
from nrf_deploy.verify import compare


def cli(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    """``nrf-deploy ARGS`` in a subprocess (output captured as text, no check)."""
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, check=False
    )


def assert_backends_agree(target, deployment, x: np.ndarray, backends=("emulator",)) -> None:
    """Each of `backends` gives the reference's outputs and states on `x`, value for value."""
    ref = target.run(deployment, "reference", x)
    for name in backends:
        other = target.run(deployment, name, x)
        c = compare(ref, other, "reference", name, list(deployment.sidecar["schedule"]))
        assert c.ok, f"{name}: {c.mismatches} mismatches, first {c.first.describe()}"
        assert c.compared_values > 0


def assert_same_files(a: Path, b: Path) -> None:
    """Every file of folder `a` has the same bytes in folder `b`."""
    for f in Path(a).iterdir():
        assert f.read_bytes() == (Path(b) / f.name).read_bytes(), f.name


def run_emulator_with_states(export_dir: Path, tmp_path: Path) -> dict[str, np.ndarray]:
    """``nrf-deploy run EXPORT --backend emulator --states`` on 2 samples x 5 steps of random
    events shaped like the cnn_sinabs fixture's input (2, 34, 34); the written arrays."""
    np.save(tmp_path / "x.npy", random_events((2, 34, 34), 5, 2, 0.2, 9))
    args = ("--input", tmp_path / "x.npy", "-o", tmp_path / "o.npz", "--states")
    proc = cli("run", export_dir, "--backend", "emulator", *args)
    assert proc.returncode == 0, proc.stderr
    return dict(np.load(tmp_path / "o.npz"))


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> str:
    """Debian's chromium (the test fails, naming the package, when it is missing)."""
    path = shutil.which("chromium")
    if not path:
        pytest.fail(
            "Debian's chromium is required: 'apt-get install -y chromium' as root "
            "(scripts/bootstrap.sh does it)"
        )
    return path


def run_chromium(page: Path, root: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on the file `page` with its profile under `root` and extra `args`."""
    return subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={root / 'profile'}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
