"""SpiNNaker's chip files read back: ``network.json`` + ``connections.npz`` -> the program
sPyNNaker would load from them (what ``run_pynn.py`` passes to PyNN), in the emulator's words.

PyNN units back to chip words, as sPyNNaker converts them (docs/targets/spinnaker.md):

* ``v_thresh``, ``v_reset``, ``v_rest``, ``i_offset`` (mV, nA): ``round(value · 2**15)`` — exact,
  the file holds the accum values themselves;
* ``tau_refrac`` (ms): ``ceil(tau_refrac / dt)`` steps (``lif_ceil_accum``);
* weights (nA): ``rint(|w| · 2**(15 − shift))`` (synapse_io), with each synapse type's ring-buffer
  shift given by ``max_expected_summed_weight`` (``get_ring_buffer_shifts``); receptor type picks
  excitatory or inhibitory; delays ``rint(delay / dt)`` steps. Rows with different delays become
  separate projections (one delay each), as sPyNNaker's rows hold a delay per synapse;
* neurons per core from ``neurons_per_core``: equal contiguous slices, as the mapper (and
  sPyNNaker's splitter) cut them.

**Words the chip computes itself.** ``exp_TC = expk(−dt/tau_m)``, ``R = tau_m / cm`` and the
exponential synapse's ``decay``/``init`` (from ``tau_syn_E``; ``tau_syn_I`` must equal it: one
decay per population) are computed on the board with its own fixed-point routines, which may land
a last bit away from the float64 value. The file therefore carries the exact words as well
(``chip_words``): per neuron, the exact word is used when the word computed here in float64 from
the PyNN value is within one LSB of it; otherwise (the PyNN value was edited) the computed word is
used, so an edit of ``tau_m``, ``cm`` or ``tau_syn`` changes what the emulator runs. An edit of
``chip_words`` alone within that LSB is run too; a larger one is ignored, as the chip would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
from nrf_deploy.targets.spinnaker.format import (
    FRAC_BITS,
    MAX_DELAY,
    MODEL_EXP,
    MODEL_SOURCE,
    ONE,
    SYNAPSE_TYPES,
    U032_ONE,
    WEIGHT_MAX,
    Population,
    Projection,
    SpiNNakerProgram,
    ring_buffer_shift,
)
from nrf_deploy.targets.spinnaker.mapper import assign_slices
from nrf_deploy.targets.spinnaker.pynn import CONNECTIONS_FILE, NETWORK_FILE

from nrf_deploy.errors import NrfError
from nrf_deploy.fileio import parse_chip_files

WORD_TOLERANCE = 1
"""LSBs by which a word computed from a PyNN value may differ from the recorded exact word."""


def read_chip_files(files: Mapping[str, bytes]) -> SpiNNakerProgram:
    """The program ``network.json`` and ``connections.npz`` describe (NrfError naming the file
    for anything sPyNNaker could not load)."""
    return parse_chip_files(files, NETWORK_FILE, CONNECTIONS_FILE, "spinnaker", _program)


def _program(net: dict[str, Any], conns: dict[str, np.ndarray]) -> SpiNNakerProgram:
    dt_ms = float(net["timestep_ms"])
    source, *cells = net["populations"]
    if source["cellclass"] != MODEL_SOURCE:
        raise NrfError(
            f"the first population is a {source['cellclass']}, not the {MODEL_SOURCE} input",
            NETWORK_FILE,
            "re-run nrf-deploy export --target spinnaker",
        )
    pops = {p["label"]: _population(p, dt_ms) for p in cells}
    sizes = {source["label"]: int(source["size"]), **{n: p.size for n, p in pops.items()}}
    projections = [
        proj for q in net["projections"] for proj in _projections(q, conns, pops, sizes, dt_ms)
    ]
    program = SpiNNakerProgram(
        source["label"], tuple(int(s) for s in source["shape"]), pops, projections, dt_ms / 1e3
    )
    assign_slices(program, int(net["neurons_per_core"]))
    return program


def _per_neuron(value: Any, size: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (size,)).copy()


def _accum(values: np.ndarray) -> np.ndarray:
    return np.floor(values * ONE + 0.5).astype(np.int64)


def _population(p: dict[str, Any], dt_ms: float) -> Population:
    size = int(p["size"])
    params = {k: _per_neuron(v, size) for k, v in p["cellparams"].items()}
    exact = {k: _per_neuron(v, size).astype(np.int64) for k, v in p.get("chip_words", {}).items()}
    exponential = p["cellclass"] == MODEL_EXP
    exp_tc = np.floor(np.exp(-dt_ms / params["tau_m"]) * ONE + 0.5).astype(np.int64)
    r_membrane = _accum(params["tau_m"] / params["cm"])
    words = {
        "exp_tc": _prefer_exact(exp_tc, exact.get("exp_tc")),
        "r_membrane": _prefer_exact(r_membrane, exact.get("r_membrane")),
        "v_rest": _accum(params["v_rest"]),
        "i_offset": _accum(params["i_offset"]),
        "v_reset": _accum(params["v_reset"]),
        "v_thresh": _accum(params["v_thresh"]),
        "t_refract": np.ceil(params["tau_refrac"] / dt_ms - 1e-12).clip(0).astype(np.int64),
    }
    if exponential:
        words.update(_synapse_words(p["label"], params, exact, dt_ms))
    shifts = tuple(
        ring_buffer_shift(float(w))
        for w in p["additional_parameters"]["max_expected_summed_weight"]
    )
    return Population(
        p["label"],
        p.get("nir_kind", "LIF"),
        p["cellclass"],
        tuple(int(s) for s in p["shape"]),
        **words,
        shifts=shifts,
        readout="spikes" not in p["record"],
        lag=int(p.get("lag_steps", 1)),
    )


def _synapse_words(
    label: str, params: dict[str, np.ndarray], exact: dict[str, np.ndarray], dt_ms: float
) -> dict[str, np.ndarray]:
    """``decay`` and ``init`` (u0.32) of the exponential synapse, from ``tau_syn_E``."""
    if not np.array_equal(params["tau_syn_E"], params["tau_syn_I"]):
        raise NrfError(
            f"population '{label}': tau_syn_I differs from tau_syn_E",
            NETWORK_FILE,
            "nrf-deploy's program has one synaptic decay per population; set them equal",
        )
    decay = np.clip(
        np.floor(np.exp(-dt_ms / params["tau_syn_E"]) * U032_ONE + 0.5), 1, U032_ONE - 1
    )
    d = decay / U032_ONE
    init = np.clip(np.floor(-(1.0 - d) / np.log(d) * U032_ONE + 0.5), 1, U032_ONE - 1).astype(
        np.int64
    )
    decay = decay.astype(np.int64)
    if "syn_decay" not in exact:
        return {"syn_decay": decay, "syn_init": init}
    same = np.abs(decay - exact["syn_decay"]) <= WORD_TOLERANCE
    return {
        "syn_decay": np.where(same, exact["syn_decay"], decay),
        "syn_init": np.where(same, exact.get("syn_init", init), init),
    }


def _prefer_exact(computed: np.ndarray, exact: np.ndarray | None) -> np.ndarray:
    if exact is None:
        return computed
    return np.where(np.abs(computed - exact) <= WORD_TOLERANCE, exact, computed)


def _projections(
    q: dict[str, Any],
    conns: dict[str, np.ndarray],
    pops: dict[str, Population],
    sizes: dict[str, int],
    dt_ms: float,
) -> list[Projection]:
    """One PyNN projection (a FromListConnector of one receptor type) as one program projection
    per distinct delay."""
    key = q["connections"].split(":", 1)[1]
    rows = np.asarray(conns[key], dtype=np.float64).reshape(-1, 4)
    kind = SYNAPSE_TYPES.index(q["receptor_type"])
    target = pops[q["post"]]
    shape = (sizes[q["post"]], sizes[q["pre"]])
    pre, post = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64)
    weight = np.rint(np.abs(rows[:, 2]) * 2.0 ** (FRAC_BITS - target.shifts[kind])).astype(np.int64)
    delay = np.rint(rows[:, 3] / dt_ms).astype(np.int64)
    where = f"{CONNECTIONS_FILE}:{key}"
    if rows.size and (
        pre.min() < 0 or post.min() < 0 or pre.max() >= shape[1] or post.max() >= shape[0]
    ):
        raise NrfError("a connection names a neuron outside its population", where, "re-export")
    if np.any(weight > WEIGHT_MAX):
        raise NrfError(
            f"a weight needs {int(weight.max())} ring-buffer units, more than {WEIGHT_MAX}",
            where,
            "lower the weight or the population's max_expected_summed_weight",
        )
    if rows.size and (delay.min() < 1 or delay.max() > MAX_DELAY):
        raise NrfError(f"delays must be 1..{MAX_DELAY} timesteps", where, "re-export")
    out = []
    for d in np.unique(delay):
        sel = delay == d
        m = sp.csr_matrix((weight[sel], (post[sel], pre[sel])), shape=shape, dtype=np.int64)
        empty = sp.csr_matrix(shape, dtype=np.int64)
        exc, inh = (m, empty) if kind == 0 else (empty, m)
        out.append(Projection(q["pre"], q["post"], exc, inh, int(d)))
    return out
