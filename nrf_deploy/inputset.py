"""Verification inputs at dataset scale, read a sample range at a time.

An :class:`InputSet` is ``[T, N, *input_shape]`` event counts (T in timesteps, N samples) held in
a memory-mapped ``.npy`` file, in a folder of ``.npy``/``.npz`` shards (each ``[T, B_i, ...]``,
joined along the sample axis in file-name order), or in memory (generated inputs). Only the
range that :meth:`InputSet.read` asks for is ever copied into memory.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nrf_deploy.errors import NrfError

SHARD_SUFFIXES = (".npy", ".npz")


@dataclass(frozen=True)
class _Part:
    """One file's samples ``[start, stop)`` in the whole set; `member` names the .npz array."""

    path: Path
    member: str | None
    start: int
    stop: int


class InputSet:
    """Samples ``[T, N, *input_shape]`` from a file, a shard folder or an array; see module doc."""

    def __init__(
        self,
        parts: list[_Part],
        timesteps: int,
        sample_shape: tuple[int, ...],
        source: str,
        array: np.ndarray | None = None,
        samples: int | None = None,
    ):
        self._parts = parts
        self._array = array
        self.timesteps = timesteps
        self.sample_shape = sample_shape
        self.source = source
        full = array.shape[1] if array is not None else (parts[-1].stop if parts else 0)
        self.samples = full if samples is None else min(samples, full)
        self._cache: tuple[_Part, np.ndarray] | None = None

    @classmethod
    def from_array(cls, x: np.ndarray, source: str) -> InputSet:
        """An in-memory ``[T, N, *shape]`` array (generated inputs, tests)."""
        return cls([], int(x.shape[0]), tuple(x.shape[2:]), source, array=x)

    @classmethod
    def open(cls, path: str | Path, input_shape: tuple[int, ...]) -> InputSet:
        """Open a ``.npy`` (memory-mapped), a ``.npz`` (first array) or a folder of shards,
        checking every file's header against `input_shape` without reading its data."""
        p = Path(path)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix in SHARD_SUFFIXES and f.is_file())
            if not files:
                raise NrfError(
                    f"folder '{path}' holds no .npy/.npz shards",
                    "--input",
                    "save each shard with numpy.save(folder/'shard-0000.npy', array)",
                )
        elif p.is_file():
            files = [p]
        else:
            raise NrfError(f"input '{path}' does not exist", "--input", "check the path")
        parts, timesteps, start = [], None, 0
        for f in files:
            member, shape, dtype = _header(f)
            shape = _batched_shape(shape, input_shape, f)
            _check_dtype(dtype, f)
            if timesteps is not None and shape[0] != timesteps:
                raise NrfError(
                    f"shard '{f.name}' has {shape[0]} timesteps, the first has {timesteps}",
                    str(f),
                    "give every shard the same T",
                )
            timesteps = shape[0]
            parts.append(_Part(f, member, start, start + shape[1]))
            start += shape[1]
        assert timesteps is not None
        if timesteps < 1 or start < 1:
            raise NrfError(
                f"input '{path}' has T = {timesteps} timesteps and B = {start} samples, "
                "both must be at least 1",
                "--input",
                "give at least one timestep and one sample",
            )
        return cls(parts, timesteps, tuple(input_shape), str(path))

    def limit(self, samples: int) -> InputSet:
        """The first `samples` samples (all of them if there are fewer)."""
        return InputSet(
            self._parts, self.timesteps, self.sample_shape, self.source, self._array, samples
        )

    def read(self, start: int, stop: int) -> np.ndarray:
        """A copy of samples ``[start, stop)`` as ``[T, stop - start, *input_shape]``."""
        stop = min(stop, self.samples)
        if self._array is not None:
            return np.array(self._array[:, start:stop])
        pieces = [
            self._load(part)[
                :, max(start, part.start) - part.start : min(stop, part.stop) - part.start
            ]
            for part in self._parts
            if part.start < stop and part.stop > start
        ]
        if not pieces:
            return np.zeros((self.timesteps, 0, *self.sample_shape), dtype=np.int64)
        return np.concatenate(pieces, axis=1) if len(pieces) > 1 else np.array(pieces[0])

    def _load(self, part: _Part) -> np.ndarray:
        """The part's array. A .npy is memory-mapped afresh for each read and unmapped after it
        (a map kept open would count every page read so far in the process's RSS); an .npz
        member is decompressed once and kept until the next part is needed."""
        if self._cache is not None and self._cache[0] == part:
            return self._cache[1]
        try:
            if part.member is None:
                data = np.load(part.path, mmap_mode="r", allow_pickle=False)
            else:
                with np.load(part.path, allow_pickle=False) as z:
                    data = z[part.member]
        except Exception as exc:  # noqa: BLE001 (any failure: one clear message)
            raise NrfError(
                f"'{part.path}' could not be read ({type(exc).__name__}: {exc})",
                "--input",
                "re-save the shard with numpy.save",
            ) from None
        data = data.reshape(data.shape[0], part.stop - part.start, *self.sample_shape)
        if part.member is not None:
            self._cache = (part, data)
        return data

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_cache"] = None  # memory maps stay on the machine that opened them
        return state


def _header(path: Path) -> tuple[str | None, tuple[int, ...], np.dtype]:
    """(.npz member or None, shape, dtype) read from the file header only."""
    try:
        if path.suffix == ".npz":
            with zipfile.ZipFile(path) as z:
                names = [n for n in z.namelist() if n.endswith(".npy")]
                if not names:
                    raise NrfError(
                        f"'{path}' holds no arrays", "--input", "save the input with numpy.save"
                    )
                with z.open(names[0]) as f:
                    shape, dtype = _npy_header(f)
                return names[0][:-4], shape, dtype
        with open(path, "rb") as f:
            shape, dtype = _npy_header(f)
        return None, shape, dtype
    except NrfError:
        raise
    except Exception as exc:  # noqa: BLE001 (any failure: one clear message)
        raise NrfError(
            f"'{path}' is not a readable .npy/.npz array ({type(exc).__name__})",
            "--input",
            "save the input with numpy.save(path, array)",
        ) from None


def _npy_header(f) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(f)
    read = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, fortran, dtype = read(f)
    if fortran:
        raise ValueError("Fortran-ordered arrays cannot be read by sample range")
    return tuple(shape), dtype


def _batched_shape(
    shape: tuple[int, ...], input_shape: tuple[int, ...], path: Path
) -> tuple[int, ...]:
    """``[T, B, *input_shape]`` for a file's shape (a single sample ``[T, *shape]`` gets B=1)."""
    n = len(input_shape)
    if len(shape) == n + 1 and tuple(shape[1:]) == tuple(input_shape):
        return (shape[0], 1, *shape[1:])
    if len(shape) != n + 2 or tuple(shape[2:]) != tuple(input_shape):
        raise NrfError(
            f"input array has shape {tuple(shape)}, the model expects "
            f"[T, B, {', '.join(map(str, input_shape))}]",
            str(path),
            "reshape the array to [timesteps, batch, *input_shape]",
        )
    return tuple(shape)


def _check_dtype(dtype: np.dtype, path: Path) -> None:
    if not np.issubdtype(dtype, np.number) and dtype != np.bool_:
        raise NrfError(
            f"input array has non-numeric dtype {dtype}",
            str(path),
            "save a numeric array (event counts or spikes)",
        )
