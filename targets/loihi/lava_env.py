"""The ``lava`` witness environment: lava-nc 0.10.0 on Python 3.12, with one compatibility patch.

lava-nc 0.10.0 (the last release; the project is archived) declares ``Requires-Python >=3.10,<3.11``
and ``numpy<2``. On Python 3.11+ it fails at import, and only there: eight dataclass fields in
``lava/magma/compiler/var_model.py`` default to a mutable ``ByteEncoder()`` instance, which
Python 3.11 refuses (``ValueError: mutable default ... use default_factory``). The environment
installs lava-nc with ``--ignore-requires-python`` and no dependencies (its declared dependencies
are installed, pinned, by the step before), then :func:`patch_var_model` replaces those eight
defaults by ``field(default_factory=ByteEncoder)`` (and adds ``field`` to the file's
``dataclasses`` import) — after checking that the file is exactly lava-nc 0.10.0's (SHA-256), so
that no other file is ever edited. Lava's own tests give the same results on this environment as
on Python 3.10 with the unpatched package (docs/witnesses.md).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nrf_deploy.errors import NrfError
from nrf_deploy.witness.envs import InstallStep, WitnessEnv

if TYPE_CHECKING:
    from nrf_deploy.witness.install import InstalledEnv

RUNNER = str(Path(__file__).with_name("lava_runner.py"))
VAR_MODEL = "lava/magma/compiler/var_model.py"
ORIGINAL_SHA256 = "3b8acb73dc3ff38d159065aa0339b90f371f99f162e68d10a3117afbd916afa8"
"""lava-nc 0.10.0's ``var_model.py`` as its wheel ships it."""
PATCHED_SHA256 = "2fc7130d0c978a12f364bdb0ff1182481230a56f816d21ee4042428d24f87f61"
"""The same file after :func:`patched_var_model`."""
MUTABLE_DEFAULT = ": ByteEncoder = ByteEncoder()"
FACTORY_DEFAULT = ": ByteEncoder = field(default_factory=ByteEncoder)"
IMPORT_LINE = (
    "from dataclasses import dataclass, InitVar\n",
    "from dataclasses import dataclass, InitVar, field\n",
)
DEFAULTS = 8
"""Mutable ``ByteEncoder()`` defaults in the original file (x, y, p; x, y, z; hi, lo)."""

LAVA_ENV = WitnessEnv(
    "lava",
    "Lava 0.10.0 (lava-nc), Intel's Loihi simulator: bit-accurate fixed-point LIF/Dense",
    "3.12",
    steps=(
        # lava-nc's declared dependencies, pinned (numpy<2 is lava's own bound)
        InstallStep(
            (
                "numpy==1.26.4",
                "scipy==1.15.3",
                "scikit-learn==1.7.2",
                "networkx==2.8.7",
                "asteval==0.9.33",
            )
        ),
        InstallStep(("lava-nc==0.10.0",), no_deps=True, ignore_requires_python=True),
    ),
    imports=("lava.proc.lif.process", "lava.proc.dense.process", "lava.magma.core.run_configs"),
    versions_of=("lava-nc", "numpy", "scipy", "scikit-learn", "networkx", "asteval"),
    prepare="nrf_deploy.targets.loihi.lava_env:patch_var_model",
    check=(RUNNER, "check"),
    serves=("loihi: lava backend (verify, run --backend lava)",),
    notes=(
        "lava-nc 0.10.0 declares Python <3.11: installed with --ignore-requires-python on 3.12",
        (
            f"patched: {VAR_MODEL}, {DEFAULTS} mutable dataclass defaults ByteEncoder() -> "
            "field(default_factory=ByteEncoder) (SHA-256 checked before and after); Lava's own "
            "tests give the same results as on Python 3.10 (docs/witnesses.md)"
        ),
    ),
)


def patched_var_model(text: str) -> str:
    """`text` (the original ``var_model.py``) with the eight defaults and the import changed;
    ValueError unless exactly those lines are found."""
    found = text.count(MUTABLE_DEFAULT)
    if found != DEFAULTS or text.count(IMPORT_LINE[0]) != 1:
        raise ValueError(
            f"expected {DEFAULTS} '{MUTABLE_DEFAULT.strip()}' defaults and one dataclasses "
            f"import, found {found}"
        )
    return text.replace(MUTABLE_DEFAULT, FACTORY_DEFAULT).replace(*IMPORT_LINE)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def patch_var_model(env: InstalledEnv) -> dict[str, Any]:
    """The installer's ``prepare`` hook: patch lava-nc 0.10.0's ``var_model.py`` in `env` (refused,
    with nothing written, unless the file is the expected original). Returns the record kept in
    the environment's manifest."""
    path = env.site_packages() / VAR_MODEL
    data = path.read_bytes()
    before = _sha256(data)
    if before != PATCHED_SHA256:
        if before != ORIGINAL_SHA256:
            raise NrfError(
                f"{VAR_MODEL} is not lava-nc 0.10.0's file (SHA-256 {before[:16]}..., expected "
                f"{ORIGINAL_SHA256[:16]}...): refusing to patch it",
                str(path),
                "reinstall with 'nrf-deploy witnesses install lava --force'; if lava-nc was "
                "changed on purpose, review the patch in targets/loihi/lava_env.py",
            )
        new = patched_var_model(data.decode()).encode()
        if _sha256(new) != PATCHED_SHA256:
            raise NrfError(f"patching {VAR_MODEL} gave unexpected bytes", str(path), "report it")
        _replace(path, new)
    return {
        "patch": f"{VAR_MODEL}: {DEFAULTS} mutable dataclass defaults 'ByteEncoder()' -> "
        "'field(default_factory=ByteEncoder)', 'field' added to the dataclasses import "
        "(Python >= 3.11 refuses mutable defaults)",
        "sha256_original": ORIGINAL_SHA256,
        "sha256_patched": PATCHED_SHA256,
    }


def _replace(path: Path, data: bytes) -> None:
    """Write `data` to a new file moved over `path` (never through a hard link into an
    installer's cache), and drop the stale byte code."""
    tmp = path.with_name(f".{path.name}.nrf-tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.chmod(tmp, path.stat().st_mode & 0o777)
    os.replace(tmp, path)
    for cached in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
        cached.unlink()
