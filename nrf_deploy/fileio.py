"""Atomic output: a file or a whole directory appears complete or not at all."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

TMP_TAG = "nrf-tmp"
OLD_TAG = "nrf-old"
_LEGACY_DEBRIS = re.compile(r"^\.(.+)\.([A-Za-z0-9_]{8}\.tmp|old)$")
_DEBRIS = re.compile(r"^\.(?P<name>.+)\.(?P<tag>nrf-tmp|nrf-old)\.(?P<pid>\d+)\.[A-Za-z0-9_]+$")


def _scratch_prefix(path: Path, tag: str) -> str:
    """``.NAME.TAG.PID.`` — unique per process; a later run knows a dead process left it."""
    return f".{path.name}.{tag}.{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return pid != 0


def clean_debris(path: str | os.PathLike) -> list[str]:
    """Remove the temporary/backup entries that a killed run left beside `path` (names
    ``.NAME.nrf-tmp.PID.*`` / ``.NAME.nrf-old.PID.*`` whose process is gone). A backup whose
    export is missing (killed between the two renames) is moved back into place instead.
    Returns one line per action, for the caller to print."""
    path = Path(path)
    notes: list[str] = []
    try:
        entries = sorted(path.parent.iterdir()) if path.parent.is_dir() else []
    except OSError:
        return notes
    for entry in entries:
        m = _DEBRIS.match(entry.name)
        if not m and _LEGACY_DEBRIS.match(entry.name) and entry.name.startswith(f".{path.name}."):
            notes.append(
                f"{entry} may be left by a killed run of an older nrf-deploy; not "
                "removed (it could be yours): delete it if it is not"
            )
        if not m or m["name"] != path.name or _pid_alive(int(m["pid"])):
            continue
        if m["tag"] == OLD_TAG and not path.exists() and not path.is_symlink():
            os.replace(entry, path)
            notes.append(f"restored {path} from the backup {entry.name} left by a killed run")
        else:
            _remove(entry)
            notes.append(f"removed {entry.name}, left beside {path.name} by a killed run")
    return notes


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; move it into place only if the block succeeds."""
    path = Path(path)
    if path.is_dir():
        from nrf_deploy.errors import NrfError

        raise NrfError(f"output '{path}' is a directory", str(path), "give a file name")
    _make_parent(path)
    fd, tmp = tempfile.mkstemp(prefix=_scratch_prefix(path, TMP_TAG), dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def check_output_dir(path: str | os.PathLike, is_previous_export) -> None:
    """Refuse an output directory that `-o` may not replace: anything but a missing path, an
    empty directory or a previous export (``is_previous_export(path) -> bool``)."""
    from nrf_deploy.errors import NrfError

    path = Path(path)
    if path.is_symlink():
        raise NrfError(
            f"output '{path}' is a symbolic link",
            str(path),
            "give the real directory, or a new path",
        )
    if not path.exists():
        return
    if not path.is_dir():
        raise NrfError(
            f"output '{path}' exists and is not a directory",
            str(path),
            "give a new directory path; nrf-deploy never replaces a file",
        )
    try:
        empty = not any(path.iterdir())
    except OSError as exc:
        raise NrfError(
            f"output '{path}' cannot be read ({exc.strerror})",
            str(path),
            "check its permissions or give another path",
        ) from None
    if not empty and not is_previous_export(path):
        raise NrfError(
            f"output '{path}' is a non-empty directory that is not an nrf-deploy "
            "export; it would be replaced",
            str(path),
            "give a new or empty directory, or a previous export's directory",
        )


def _make_parent(path: Path) -> None:
    from nrf_deploy.errors import NrfError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NrfError(
            f"cannot create the folder for '{path}' ({exc.strerror})",
            str(path.parent),
            "check the path and its permissions",
        ) from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise NrfError(
            f"cannot write into '{path.parent}' (permission denied)",
            str(path),
            "choose an output path in a writable folder",
        )


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, is_previous_export=None) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces `path`.

    `path` may be missing, an empty directory or (``is_previous_export(path)``) a previous export;
    anything else is refused (NrfError) before and again right before the swap. Temporary and
    backup folders have unique names and are removed on every exit path; debris of a killed run
    is cleaned first (:func:`clean_debris`)."""
    import sys

    path = Path(path)
    accept = is_previous_export or (lambda p: False)
    check_output_dir(path, accept)
    _make_parent(path)
    for note in clean_debris(path):
        print(f"note: {note}", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix=_scratch_prefix(path, TMP_TAG), dir=path.parent))
    old: Path | None = None
    try:
        tmp.chmod(0o777 & ~_umask())
        yield tmp
        check_output_dir(path, accept)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=_scratch_prefix(path, OLD_TAG), dir=path.parent))
            os.replace(path, old)  # an (empty or export) directory onto an empty one
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)  # put the previous export back
                old = None
                raise
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


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
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


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


def chip_file_json(files: Mapping[str, bytes], name: str, target: str) -> Any:
    """The JSON chip file `name` of an export's files (NrfError naming it if missing or damaged)."""
    from nrf_deploy.errors import NrfError

    try:
        return json.loads(files[name])
    except (KeyError, ValueError) as exc:
        raise NrfError(
            f"{name} is missing or not JSON ({exc})",
            name,
            f"re-run nrf-deploy export --target {target}",
        ) from None


def chip_file_npz(files: Mapping[str, bytes], name: str, target: str) -> dict[str, np.ndarray]:
    """The arrays of the .npz chip file `name` (NrfError naming it if missing or damaged)."""
    from nrf_deploy.errors import NrfError

    try:
        return read_npz_bytes(files[name])
    except (KeyError, ValueError, OSError) as exc:
        raise NrfError(
            f"{name} is missing or corrupt ({exc})",
            name,
            f"re-run nrf-deploy export --target {target}",
        ) from None


def parse_chip_files(
    files: Mapping[str, bytes],
    json_name: str,
    npz_name: str,
    target: str,
    parse: Callable[[Any, dict[str, np.ndarray]], Any],
    what: str = "a network",
) -> Any:
    """``parse(description, arrays)`` of a JSON + .npz pair of chip files; a missing, damaged or
    inconsistent pair is one NrfError naming the files and the export to re-run."""
    from nrf_deploy.errors import NrfError

    description = chip_file_json(files, json_name, target)
    arrays = chip_file_npz(files, npz_name, target)
    try:
        return parse(description, arrays)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise NrfError(
            f"{json_name} / {npz_name} do not describe {what} ({type(exc).__name__}: {exc})",
            json_name,
            f"re-run nrf-deploy export --target {target}",
        ) from None
