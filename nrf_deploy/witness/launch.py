"""The witness protocol: arrays in, arrays out, one ``.npz`` file each way; and the launcher that
runs a runner function inside a witness environment.

This file is executed by path in the witness environment's own interpreter (``python -I
launch.py RUNNER FUNCTION REQUEST RESPONSE``); it imports only the standard library and numpy, so
that it runs beside any vendor tool, on any Python and numpy a witness environment has. The core
imports it too, for :func:`pack` / :func:`unpack`: one statement of the file format for both sides.

A message is a ``dict`` whose values are numpy arrays or plain JSON values (numbers, strings,
lists, dicts of those). Arrays are stored under their key; JSON values together under
:data:`JSON_KEY` as UTF-8 bytes. No pickles: ``np.load(..., allow_pickle=False)`` on both sides.

A runner is a plain ``.py`` file defining ``FUNCTION(request: dict) -> dict``. It must import only
the standard library, numpy and its vendor tool (inside the function), never ``nrf_deploy``: it
runs where nrf-deploy is not installed. With ``--many`` the request file holds several requests
(:func:`pack_many`) and the function answers each in turn in the same process (many small cases,
one interpreter start). It refuses what the tool cannot run by raising
:class:`Refusal` (or any exception whose class is named ``Refusal``); the core then reports the
message as the witness's answer instead of a crash.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from typing import Any

import numpy as np

JSON_KEY = "__json__"
REFUSAL_EXIT = 3
"""Exit code of a runner that refused its input (:class:`Refusal`); 1 is a crash."""


class Refusal(Exception):
    """A runner's answer that the tool cannot run this request (printed as one line)."""


def pack(message: dict[str, Any], path: str | os.PathLike) -> None:
    """Write `message` to `path` (``.npz``, uncompressed) atomically."""
    arrays: dict[str, np.ndarray] = {}
    plain: dict[str, Any] = {}
    for key, value in message.items():
        if key == JSON_KEY:
            raise ValueError(f"'{JSON_KEY}' is reserved")
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise TypeError(f"'{key}': object arrays cannot cross the witness protocol")
            arrays[key] = value
        else:
            plain[key] = value
    arrays[JSON_KEY] = np.frombuffer(json.dumps(plain).encode(), dtype=np.uint8)
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def unpack(path: str | os.PathLike) -> dict[str, Any]:
    """Read a message written by :func:`pack` (arrays as numpy arrays, the rest as JSON)."""
    with np.load(path, allow_pickle=False) as data:
        message = {k: data[k] for k in data.files if k != JSON_KEY}
        if JSON_KEY in data.files:
            message.update(json.loads(bytes(data[JSON_KEY]).decode()))
    return message


def pack_many(messages: list[dict[str, Any]], path: str | os.PathLike) -> None:
    """Write several messages to one file (arrays under ``<index>/<key>``; used by
    :func:`nrf_deploy.witness.run.call_many`: many requests, one process)."""
    flat: dict[str, Any] = {"__count__": len(messages)}
    for i, message in enumerate(messages):
        flat.update({f"{i}/{k}": v for k, v in message.items()})
    pack(flat, path)


def unpack_many(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read the messages written by :func:`pack_many`, in order."""
    flat = unpack(path)
    messages: list[dict[str, Any]] = [{} for _ in range(int(flat.pop("__count__")))]
    for key, value in flat.items():
        index, name = key.split("/", 1)
        messages[int(index)][name] = value
    return messages


def _load_runner(path: str):
    spec = importlib.util.spec_from_file_location("nrf_witness_runner", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load runner {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    many = argv[-1:] == ["--many"]
    argv = argv[:-1] if many else argv
    if len(argv) != 4:
        print(
            "usage: launch.py RUNNER.py FUNCTION REQUEST.npz RESPONSE.npz [--many]",
            file=sys.stderr,
        )
        return 2
    runner, function, request, response = argv
    try:
        fn = getattr(_load_runner(runner), function)
        if many:
            pack_many([fn(message) for message in unpack_many(request)], response)
        else:
            pack(fn(unpack(request)), response)
    except Exception as exc:  # noqa: BLE001 — reported to the core through stderr and the code
        if type(exc).__name__ == "Refusal":
            print(f"refused: {exc}", file=sys.stderr)
            return REFUSAL_EXIT
        traceback.print_exc()
        print(f"failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
