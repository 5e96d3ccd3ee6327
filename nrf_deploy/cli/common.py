"""Helpers shared by the CLI commands: loading inputs, progress bars, target lookup."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from nrf_deploy.errors import NrfError

if TYPE_CHECKING:
    import numpy as np


def load_array(path: str) -> np.ndarray:
    """Load a ``.npy`` (or the first array of a ``.npz``) file with clear errors."""
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise NrfError(f"input file '{path}' does not exist", "--input", "check the path")
    try:
        data = np.load(p, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 — any unreadable array is the user's input
        raise NrfError(
            f"'{path}' is not a readable .npy/.npz array ({type(exc).__name__})",
            "--input",
            "save the input with numpy.save(path, array)",
        ) from None
    if isinstance(data, np.lib.npyio.NpzFile):
        if not data.files:
            raise NrfError(f"'{path}' holds no arrays", "--input", "save the input with numpy.save")
        data = data[data.files[0]]
    return np.asarray(data)


def progress_enabled() -> bool:
    """tqdm bars only on an interactive terminal and without --quiet (logs get the timestamped
    lines of :func:`nrf_deploy.progress.progress_bar` instead)."""
    from nrf_deploy.progress import on_terminal, quiet

    return on_terminal() and not quiet()


def is_export_dir(path: str) -> bool:
    from nrf_deploy.deployment import SIDECAR

    return Path(path).is_dir() and (Path(path) / SIDECAR).is_file()


class DefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Adds "(default: X)" to an option's help only when X means something: not for required
    options, flags, None defaults, or help texts that already state their default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            action.required
            or action.default in (None, False, argparse.SUPPRESS)
            or "default" in text
            or not action.option_strings
        ):
            return text
        return f"{text} (default: {action.default})"


def readable_resources(resources: dict) -> str:
    """``{"cores_used": 5, "cpu_latency_per_inference_s": 0.00134}`` -> ``"cores used 5, cpu latency
    per inference 1.34 ms"``: scalar resources with units and thousands separators."""
    from nrf_deploy.report.fmt import count, si

    parts = []
    for key, value in resources.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            continue
        name = key.replace("_", " ")
        for suffix, unit in ((" s", "s"), (" j", "J"), (" bytes", "B"), (" w", "W")):
            if name.endswith(suffix) and isinstance(value, (int, float)):
                parts.append(f"{name[: -len(suffix)]} {si(value, unit)}")
                break
        else:
            parts.append(f"{name} {count(value) if isinstance(value, (int, float)) else value}")
    return ", ".join(parts)
