"""Helpers shared by the CLI commands: loading inputs, progress bars, target lookup."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from nrf_deploy.errors import NrfError


def load_array(path: str) -> np.ndarray:
    """Load a ``.npy`` (or the first array of a ``.npz``) file with clear errors."""
    p = Path(path)
    if not p.is_file():
        raise NrfError(f"input file '{path}' does not exist", "--input", "check the path")
    try:
        data = np.load(p, allow_pickle=False)
    except Exception as exc:
        raise NrfError(f"'{path}' is not a readable .npy/.npz array ({type(exc).__name__})", "--input",
                       "save the input with numpy.save(path, array)") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        if not data.files:
            raise NrfError(f"'{path}' holds no arrays", "--input", "save the input with numpy.save")
        data = data[data.files[0]]
    return np.asarray(data)


def progress_enabled() -> bool:
    """Progress bars only on an interactive terminal (CI logs stay clean)."""
    return sys.stderr.isatty()


def is_export_dir(path: str) -> bool:
    return Path(path).is_dir() and (Path(path) / "deploy.json").is_file()
