"""Atomic output: a file or a whole directory appears complete or not at all."""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces `path` (an existing one is swapped out)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    tmp.chmod(0o777 & ~_umask())
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps_json(data: Any) -> str:
    """Deterministic JSON (sorted keys, fixed indentation) so artefacts are byte-identical."""
    return json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n"


def write_json(path: str | os.PathLike, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(dumps_json(data))


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def write_nir(path: str | os.PathLike, graph: Any) -> None:
    """``nir.write`` without its copies: nir 1.0.4's ``to_dict`` runs ``dataclasses.asdict``,
    which deep-copies every weight (twice for a graph). This walks the nodes' fields shallowly and
    writes the same HDF5 layout (same keys, order and dtypes) straight from the arrays."""
    import h5py
    import nir

    def write_group(group: Any, node: dict) -> None:
        for key, value in node.items():
            if key == "metadata":
                if value != {}:
                    write_group(group.create_group(key), value)
            elif isinstance(value, str):
                group.create_dataset(key, data=value, dtype=h5py.string_dtype())
            elif isinstance(value, np.ndarray):
                group.create_dataset(key, data=value, dtype=value.dtype)
            elif isinstance(value, dict):
                write_group(group.create_group(str(key)), value)
            else:
                group.create_dataset(key, data=value)

    with h5py.File(path, "w") as fh:
        fh.create_dataset("version", data=nir.version)
        write_group(fh.create_group("node"), _node_fields(graph))


def _node_fields(node: Any) -> dict:
    """``node.to_dict()`` of nir 1.0.4 without copying arrays (nested NIR nodes recursed)."""
    import dataclasses

    import nir

    if not isinstance(node, nir.NIRGraph) and type(node).to_dict is not nir.NIRNode.to_dict:
        return node.to_dict()       # Input, Output, Flatten: own to_dict, no large arrays
    out: dict[str, Any] = {}
    for f in dataclasses.fields(node):
        if f.name in ("input_type", "output_type"):
            continue
        value = getattr(node, f.name)
        if f.name == "nodes" and isinstance(node, nir.NIRGraph):
            value = {k: _node_fields(n) for k, n in value.items()}
        out[f.name] = value
    out["type"] = type(node).__name__
    return out


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz numpy reads, with fixed zip timestamps (np.savez stamps the current time) and
    sorted keys: the same arrays give the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def read_npz_bytes(data: bytes) -> dict[str, np.ndarray]:
    """Every array of an .npz held in memory (no pickles)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}
