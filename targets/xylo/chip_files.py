"""Xylo's chip files: rockpool's Xylo specification as an export holds it, and read back.

* ``xylo_spec.npz`` — the array fields (:data:`SPEC_ARRAYS`), exact int64: weights
  ``[source, target]``, dashes, thresholds, biases.
* ``xylo_spec.json`` — the other fields of the specification (``weight_shift_in/rec/out``,
  ``aliases``), ``dt`` (seconds) and ``populations``: where each NIR population sits in the hidden
  or read-out layer.

Together they are ``config_from_specification(**spec)``'s arguments (rockpool 3.0.3.dev,
``rockpool/devices/xylo/syns61201/xylo_samna.py``); each value is in exactly one of the two files.
:func:`read_chip_files` turns them back into the :class:`XyloProgram` the emulator and the xylosim
witness run; nothing is taken from program.npz, which the integer reference reads, so an edit to
either side is a mismatch in ``verify``. Anything the backends could not run as the chip would
(aliases, a field in the wrong file, non-integer values, sizes beyond the chip) is an NrfError
naming the file.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np
from nrf_deploy.targets.xylo.format import (
    SPEC_ARRAYS,
    WEIGHT_SHIFTS,
    Group,
    XyloProgram,
    check_program,
    describe_group,
    group_from,
    integer_array,
)

from nrf_deploy.errors import NrfError
from nrf_deploy.fileio import dumps_json, npz_bytes, read_npz_bytes

SPEC_NPZ = "xylo_spec.npz"
SPEC_JSON = "xylo_spec.json"
CHIP_FILES = (SPEC_NPZ, SPEC_JSON)
JSON_FIELDS = (*WEIGHT_SHIFTS, "aliases", "dt", "populations")
HINT = "re-run nrf-deploy export --target xylo"


def chip_files(program: XyloProgram) -> dict[str, bytes]:
    """The bytes of both files for `program` (deterministic: sorted keys, fixed zip times)."""
    arrays = {k: np.asarray(getattr(program, k), dtype=np.int64) for k in SPEC_ARRAYS}
    spec: dict[str, Any] = {k: int(getattr(program, k)) for k in WEIGHT_SHIFTS}
    spec["aliases"] = [list(map(int, a)) for a in program.aliases]
    spec["dt"] = float(program.dt)
    spec["populations"] = [describe_group(g) for g in program.groups]
    return {SPEC_NPZ: npz_bytes(arrays), SPEC_JSON: dumps_json(spec).encode()}


def read_chip_files(files: Mapping[str, bytes], sidecar: Mapping[str, Any]) -> XyloProgram:
    """The program both files specify. From deploy.json (`sidecar`) only the graph's names: the
    input's name and shape (the chip's input channels have none) and the populations' names and
    shapes, which the files must place. NrfError naming the file for anything unusable."""
    input_name, input_shape = sidecar["input_name"], tuple(sidecar["input_shape"])
    arrays = _read_arrays(files[SPEC_NPZ])
    spec = _read_json(files[SPEC_JSON])
    program = XyloProgram(
        input_name,
        tuple(input_shape),
        *(arrays[k] for k in SPEC_ARRAYS),
        *(_shift(spec, k) for k in WEIGHT_SHIFTS),
        aliases=_aliases(spec["aliases"]),
        groups=_populations(spec["populations"]),
        dt=_dt(spec["dt"]),
    )
    problems = check_program(program)
    if problems:
        raise NrfError(
            f"the specification is not a valid Xylo Audio 2 configuration: {'; '.join(problems)}",
            f"{SPEC_NPZ} + {SPEC_JSON}",
            HINT,
        )
    if len(program.aliases) != program.n_hidden:
        raise NrfError(
            f"{SPEC_JSON}: {len(program.aliases)} alias lists for "
            f"{program.n_hidden} hidden neurons",
            SPEC_JSON,
            HINT,
        )
    _check_placement(program, int(np.prod(input_shape)))
    expected = [(d["name"], tuple(d["shape"])) for d in sidecar["groups"]]
    if sorted((g.name, g.shape) for g in program.groups) != sorted(expected):
        placed = [(g.name, list(g.shape)) for g in program.groups]
        raise NrfError(
            f"{SPEC_JSON}: populations {placed} are not the graph's "
            f"{[(n, list(s)) for n, s in expected]}",
            SPEC_JSON,
            HINT,
        )
    return program


def _read_arrays(data: bytes) -> dict[str, np.ndarray]:
    try:
        raw = read_npz_bytes(data)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise NrfError(
            f"{SPEC_NPZ} is not a readable .npz ({type(exc).__name__}: {exc})", SPEC_NPZ, HINT
        ) from None
    missing = [k for k in SPEC_ARRAYS if k not in raw]
    unknown = sorted(set(raw) - set(SPEC_ARRAYS))
    _check_fields(SPEC_NPZ, missing, unknown, SPEC_ARRAYS)
    try:
        return {k: integer_array(raw[k], k) for k in SPEC_ARRAYS}
    except ValueError as exc:
        raise NrfError(f"{SPEC_NPZ}: {exc}", SPEC_NPZ, "the chip takes integers; " + HINT) from None


def _read_json(data: bytes) -> dict[str, Any]:
    try:
        spec = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise NrfError(f"{SPEC_JSON} is not valid JSON ({exc})", SPEC_JSON, HINT) from None
    if not isinstance(spec, dict):
        raise NrfError(f"{SPEC_JSON} holds a {type(spec).__name__}, not an object", SPEC_JSON, HINT)
    in_npz = sorted(set(spec) & set(SPEC_ARRAYS))
    if in_npz:
        raise NrfError(
            f"{SPEC_JSON} carries {', '.join(in_npz)}, which {SPEC_NPZ} holds "
            "(each field lives in one file)",
            SPEC_JSON,
            f"edit {SPEC_NPZ} instead",
        )
    missing = [k for k in JSON_FIELDS if k not in spec]
    unknown = sorted(set(spec) - set(JSON_FIELDS))
    _check_fields(SPEC_JSON, missing, unknown, JSON_FIELDS)
    return spec


def _check_fields(
    name: str, missing: list[str], unknown: list[str], fields: tuple[str, ...]
) -> None:
    problems = [f"lacks {missing}"] * bool(missing)
    problems += [f"holds unknown fields {unknown}"] * bool(unknown)
    if problems:
        raise NrfError(
            f"{name} {' and '.join(problems)}",
            name,
            f"it holds exactly {', '.join(fields)}; " + HINT,
        )


def _shift(spec: dict[str, Any], key: str) -> int:
    value = spec[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise NrfError(f"{SPEC_JSON}: {key} = {value!r} is not an integer", SPEC_JSON, HINT)
    return value


def _aliases(aliases: Any) -> list[list[int]]:
    if not isinstance(aliases, list) or not all(isinstance(a, list) for a in aliases):
        raise NrfError(
            f"{SPEC_JSON}: aliases must be a list of lists (one per hidden neuron)", SPEC_JSON, HINT
        )
    aliased = [i for i, a in enumerate(aliases) if a]
    if aliased:
        raise NrfError(
            f"{SPEC_JSON}: hidden neurons {aliased[:5]} have aliases; nrf-deploy's "
            "emulator and xylosim witness do not model alias spikes",
            SPEC_JSON,
            "set every alias list to [] or re-export",
        )
    return [[] for _ in aliases]


def _dt(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not value > 0
        or not np.isfinite(value)
    ):
        raise NrfError(
            f"{SPEC_JSON}: dt = {value!r} is not a positive number of seconds", SPEC_JSON, HINT
        )
    return float(value)


def _populations(described: Any) -> list[Group]:
    try:
        return [group_from(d) for d in described]
    except (KeyError, TypeError, ValueError) as exc:
        raise NrfError(
            f"{SPEC_JSON}: populations are malformed ({type(exc).__name__}: {exc})", SPEC_JSON, HINT
        ) from None


def _check_placement(program: XyloProgram, n_inputs: int) -> None:
    """Every population inside its layer, sized as its shape, none overlapping; the input as
    wide as weights_in."""
    if n_inputs != program.n_in:
        raise NrfError(
            f"weights_in has {program.n_in} input channels, the graph input {n_inputs}",
            SPEC_NPZ,
            HINT,
        )
    sizes = {"hidden": program.n_hidden, "output": program.n_out}
    used = {layer: np.zeros(n, np.int64) for layer, n in sizes.items()}
    for g in program.groups:
        where = f"{SPEC_JSON}, population '{g.name}'"
        if g.layer not in sizes:
            raise NrfError(f"layer '{g.layer}' is neither 'hidden' nor 'output'", where, HINT)
        if not 0 <= g.first < g.stop <= sizes[g.layer] or g.size != int(np.prod(g.shape)):
            raise NrfError(
                f"neurons [{g.first}, {g.stop}) of shape {list(g.shape)} do not fit the "
                f"{sizes[g.layer]} {g.layer} neurons",
                where,
                HINT,
            )
        used[g.layer][g.first : g.stop] += 1
    if any(np.any(u > 1) for u in used.values()):
        raise NrfError("populations overlap", SPEC_JSON, HINT)
