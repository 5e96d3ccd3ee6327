"""PyNN description of a SpiNNaker program: a JSON network, its connection lists and a script.

The units are PyNN's (ms, mV, nA, nF, MΩ) and the numbers are the quantised program's, so that
sPyNNaker's own initialisation (``neuron_model_lif_impl.h`` ``neuron_model_initialise``,
``exp_synapse_utils.h`` ``decay_and_init``) lands on the program's s16.15 words:

* ``v_thresh``, ``v_reset``, ``v_rest``, ``i_offset`` are the accum values themselves (exact);
* ``tau_m = −dt / ln(exp_TC)`` and ``cm = tau_m / R`` — the chip computes ``exp_TC =
expk(−dt/tau_m)``
  and ``R = tau_m / cm`` with its own s16.15 routines, so these two words can differ from the
  program's in their last bits (documented in docs/targets/spinnaker.md);
* ``tau_syn_E = tau_syn_I = −dt / ln(decay)`` for ``IF_curr_exp``;
* weights are ``±w_int · 2**(shift − 15)`` nA (negative on the inhibitory receptor, as PyNN
  wants) and each population's ``max_expected_summed_weight``
  is ``0.75 · 2**shift`` per synapse type, which makes sPyNNaker pick the program's ring-buffer
  shifts, under which ``rint(weight · 2**(15 − shift))`` gives back exactly ``w_int``;
* delays are ``delay · dt`` ms; ``tau_refrac = t_refract · dt``.

``pynn_script`` writes Python that names only the PyNN (``pyNN.spiNNaker``) API: ``setup``,
``Population``, ``Projection``, cell types, ``FromListConnector``, ``StaticSynapse``, ``run``,
``end``,
plus sPyNNaker's ``set_number_of_neurons_per_core``. The second opinions run the script this
function generates from an export's ``network.json`` (never the export's own ``run_pynn.py``), so it
accepts only a description whose every value that reaches the code is of its declared kind
(:func:`check_description`): a cell class of the three above, integer sizes, a numeric timestep,
labels and names as string literals; the source name in the docstring is reduced to plain
characters.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
from nrf_deploy.targets.spinnaker.format import (
    FRAC_BITS,
    MODEL_DELTA,
    MODEL_EXP,
    MODEL_SOURCE,
    ONE,
    SYNAPSE_TYPES,
    U032_ONE,
    Population,
    SpiNNakerProgram,
)

from nrf_deploy.errors import NrfError

DESCRIPTION_FORMAT = "nrf-deploy/pynn-1"
NETWORK_FILE, CONNECTIONS_FILE, SCRIPT_FILE = "network.json", "connections.npz", "run_pynn.py"
PYNN_API = (
    "setup",
    "Population",
    "Projection",
    "IF_curr_exp",
    "IF_curr_delta",
    "SpikeSourceArray",
    "FromListConnector",
    "StaticSynapse",
    "run",
    "end",
    "set_number_of_neurons_per_core",
)
"""Every attribute of ``pyNN.spiNNaker`` the generated script uses."""


def _compact(values: np.ndarray) -> Any:
    """A scalar when all neurons share the value, else the per-neuron list."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size and np.all(values == values[0]):
        return float(values[0])
    return [float(v) for v in values]


def _tau_from_factor(factor: np.ndarray, dt_ms: float) -> np.ndarray:
    """The time constant (ms) whose ``exp(−dt/τ)`` is `factor` (``dt/16`` for a factor of 0:
    sPyNNaker's ``expk`` returns 0 below −10.4)."""
    factor = np.asarray(factor, dtype=np.float64)
    with np.errstate(divide="ignore"):
        tau = np.where(factor > 0, -dt_ms / np.log(np.where(factor > 0, factor, 0.5)), dt_ms / 16)
    return tau


def cell_parameters(pop: Population, dt_ms: float) -> dict[str, Any]:
    """PyNN cell parameters (``IF_curr_delta``/``IF_curr_exp`` units) of a population."""
    tau_m = _tau_from_factor(pop.exp_tc / ONE, dt_ms)
    params = {
        "tau_m": _compact(tau_m),
        "cm": _compact(tau_m / (pop.r_membrane / ONE)),
        "v_rest": _compact(pop.v_rest / ONE),
        "v_reset": _compact(pop.v_reset / ONE),
        "v_thresh": _compact(pop.v_thresh / ONE),
        "tau_refrac": _compact(pop.t_refract * dt_ms),
        "i_offset": _compact(pop.i_offset / ONE),
    }
    if pop.exponential:
        tau_syn = _compact(_tau_from_factor(pop.syn_decay / U032_ONE, dt_ms))
        params |= {"tau_syn_E": tau_syn, "tau_syn_I": tau_syn}
    return params


CHIP_WORDS = ("exp_tc", "r_membrane")
SYNAPSE_CHIP_WORDS = ("syn_decay", "syn_init")


def chip_words(pop: Population) -> dict[str, Any]:
    """The words sPyNNaker computes on the chip from ``tau_m``, ``cm`` and ``tau_syn`` (exact ints:
    a scalar when all neurons share it). The PyNN script ignores them; the emulator's reader
    (chip_files.py) uses them while the PyNN values still give them within one LSB."""
    names = CHIP_WORDS + (SYNAPSE_CHIP_WORDS if pop.exponential else ())
    out = {}
    for name in names:
        values = np.asarray(getattr(pop, name), dtype=np.int64).reshape(-1)
        out[name] = (
            int(values[0]) if values.size and np.all(values == values[0]) else values.tolist()
        )
    return out


def summed_weight_hint(shift: int) -> float:
    """``max_expected_summed_weight`` for which sPyNNaker's shift rule returns `shift`."""
    return 0.75 * 2.0**shift


def connection_key(index: int, synapse_type: int) -> str:
    return f"p{index}_{SYNAPSE_TYPES[synapse_type]}"


def connection_arrays(program: SpiNNakerProgram) -> dict[str, np.ndarray]:
    """Per projection and synapse type: ``[n, 4]`` float64 rows ``(pre, post, weight nA, delay
    ms)``; inhibitory weights are negative, as PyNN states current-based inhibition
    (``pyNN.standardmodels.base.check_weights``; sPyNNaker takes ``numpy.abs``, NEST the sign)."""
    dt_ms = program.dt * 1e3
    arrays = {}
    for i, proj in enumerate(program.projections):
        shifts = program.populations[proj.target].shifts
        for kind in (0, 1):
            m = proj.weights(kind).tocoo()
            order = np.lexsort((m.row, m.col))
            sign = -1.0 if SYNAPSE_TYPES[kind] == "inhibitory" else 1.0
            weight = sign * m.data[order] * 2.0 ** (shifts[kind] - FRAC_BITS)
            arrays[connection_key(i, kind)] = np.stack(
                [m.col[order], m.row[order], weight, np.full(m.nnz, proj.delay * dt_ms)], axis=1
            ).astype(np.float64)
    return arrays


def network_description(
    program: SpiNNakerProgram, timesteps: int, source: str = ""
) -> dict[str, Any]:
    """The PyNN-compatible network (plain JSON types)."""
    dt_ms = program.dt * 1e3
    populations = [
        {
            "label": program.input_name,
            "cellclass": MODEL_SOURCE,
            "size": program.input_size,
            "shape": list(program.input_shape),
            "spike_times": "from the input array: neuron i spikes at t·dt for every t with x[t, "
            "i] = 1",
        }
    ]
    for name, pop in program.populations.items():
        populations.append(
            {
                "label": name,
                "cellclass": pop.model,
                "size": pop.size,
                "shape": list(pop.shape),
                "nir_kind": pop.kind,
                "cellparams": cell_parameters(pop, dt_ms),
                "initial_values": {"v": 0.0},
                "record": ["v"] if pop.readout else ["spikes", "v"],
                "additional_parameters": {
                    "max_expected_summed_weight": [summed_weight_hint(s) for s in pop.shifts]
                },
                "lag_steps": pop.lag,
                "chip_words": chip_words(pop),
            }
        )
    projections = []
    for i, proj in enumerate(program.projections):
        for kind in (0, 1):
            if proj.weights(kind).nnz:
                projections.append(
                    {
                        "pre": proj.source,
                        "post": proj.target,
                        "receptor_type": SYNAPSE_TYPES[kind],
                        "connector": "FromListConnector",
                        "synapse_type": "StaticSynapse",
                        "connections": f"{CONNECTIONS_FILE}:{connection_key(i, kind)}",
                        "n_connections": int(proj.weights(kind).nnz),
                        "delay_ms": proj.delay * dt_ms,
                    }
                )
    return {
        "format": DESCRIPTION_FORMAT,
        "simulator": "pyNN.spiNNaker (sPyNNaker), SpiNNaker 1",
        "source": source,
        "timestep_ms": dt_ms,
        "timesteps": int(timesteps),
        "neurons_per_core": program.neurons_per_core,
        "populations": populations,
        "projections": projections,
    }


CELL_CLASSES = (MODEL_SOURCE, MODEL_DELTA, MODEL_EXP)
_CONNECTIONS_KEY = re.compile(rf"{re.escape(CONNECTIONS_FILE)}:p[0-9]+_(excitatory|inhibitory)")


def check_description(description: Any) -> None:
    """Refuse (NrfError naming the field) a description whose values would reach the generated
    code as anything but what :func:`network_description` writes: integers, a finite timestep,
    string labels, known cell classes, receptor types and connection keys."""

    def need(ok: bool, field: str) -> None:
        if not ok:
            raise NrfError(
                f"{NETWORK_FILE}: {field} is not what nrf-deploy writes there",
                NETWORK_FILE,
                "re-export the model with nrf-deploy export --target spinnaker",
            )

    def integer(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    need(isinstance(description, dict), "the file")
    step = description.get("timestep_ms")
    need(isinstance(step, (int, float)) and math.isfinite(step) and step > 0, "timestep_ms")
    need(integer(description.get("neurons_per_core")), "neurons_per_core")
    need(isinstance(description.get("source", ""), str), "source")
    pops = description.get("populations")
    need(
        isinstance(pops, list) and bool(pops) and all(isinstance(p, dict) for p in pops),
        "populations",
    )
    for i, p in enumerate(pops):
        need(isinstance(p.get("label"), str), f"populations[{i}].label")
        need(p.get("cellclass") in CELL_CLASSES, f"populations[{i}].cellclass")
        need(integer(p.get("size")), f"populations[{i}].size")
        record = p.get("record", [])
        need(
            isinstance(record, list) and set(record) <= {"spikes", "v"}, f"populations[{i}].record"
        )
    projections = description.get("projections")
    need(isinstance(projections, list), "projections")
    for i, q in enumerate(projections):
        need(isinstance(q, dict), f"projections[{i}]")
        for key in ("pre", "post"):
            need(isinstance(q.get(key), str), f"projections[{i}].{key}")
        need(q.get("receptor_type") in SYNAPSE_TYPES, f"projections[{i}].receptor_type")
        key = q.get("connections")
        need(
            isinstance(key, str) and _CONNECTIONS_KEY.fullmatch(key) is not None,
            f"projections[{i}].connections",
        )


def _plain(text: str) -> str:
    """`text` with every character outside letters, digits and ``. _ - + / ( ) , :`` and spaces
    replaced by ``?`` (it lands in the script's docstring)."""
    return re.sub(r"[^A-Za-z0-9._+/(),: -]", "?", text)


def pynn_script(description: dict[str, Any]) -> str:
    """A runnable PyNN script for `description` (it reads network.json and connections.npz);
    NrfError if the description is not one nrf-deploy writes (:func:`check_description`)."""
    check_description(description)
    body = [
        (
            f"    sim.setup(timestep={description['timestep_ms']!r}, "
            f"min_delay={description['timestep_ms']!r}, **setup_options(args.simulator))"
        )
    ]
    npc = int(description["neurons_per_core"])
    body.append("    if args.simulator == 'spiNNaker':")
    for cell in ("IF_curr_delta", "IF_curr_exp", "SpikeSourceArray"):
        body.append(f"        sim.set_number_of_neurons_per_core(sim.{cell}, {npc})")
    body.append("    pops = {}")
    for p in description["populations"]:
        label = p["label"]
        if p["cellclass"] == MODEL_SOURCE:
            body.append(
                f"    pops[{label!r}] = sim.Population({p['size']}, sim.SpikeSourceArray("
                f"spike_times=spike_times(x, dt, lead)), label={label!r})"
            )
            continue
        body += [
            (
                f"    pops[{label!r}] = sim.Population({p['size']}, "
                f"sim.{p['cellclass']}(**cell_params(net, {label!r}, lead)),"
            ),
            (
                f"                                label={label!r}, "
                f"**extra(net, {label!r}, args.simulator))"
            ),
            f"    pops[{label!r}].initialize(v=0.0)",
            f"    pops[{label!r}].record({p['record']!r})",
        ]
    for q in description["projections"]:
        key = q["connections"].split(":", 1)[1]
        post = q["post"]
        body += [
            f"    rows = connections(conns, {key!r}, weight_scale(net, {post!r}, args.simulator))",
            (
                f"    sim.Projection(pops[{q['pre']!r}], pops[{post!r}], "
                "sim.FromListConnector(rows, column_names=['weight', 'delay']),"
            ),
        ]
        body.append(
            "                   synapse_type=sim.StaticSynapse(), "
            f"receptor_type={q['receptor_type']!r})"
        )
    body += [
        "    if lead:  # NEST's step t + lead - 1 is the chip's step t: the bias starts there",
        "        sim.run((lead - 2) * dt)  # pyNN.nest's first run goes one min_delay further",
        "        for label in pops:",
        "            if label != net['populations'][0]['label']:",
        "                pops[label].set(i_offset=cell_params(net, label, 0)['i_offset'])",
        "    # NEST stamps the last step's spikes at (timesteps + lead - 1) * dt: run to there",
        "    sim.run((net['timesteps'] + (1 if lead else 0)) * dt)",
        "    save(pops, net, args.output, lead)",
        "    sim.end()",
    ]
    return (
        _SCRIPT_HEAD.format(source=_plain(description.get("source") or "a NIR model"))
        + "\n".join(body)
        + "\n"
        + _SCRIPT_TAIL
    )


_SCRIPT_HEAD = '''#!/usr/bin/env python
"""PyNN script generated by nrf-deploy for sPyNNaker (SpiNNaker 1) from {source}.

    python run_pynn.py --input x.npy [--sample 0] [--output pynn_output.npz]
                       [--simulator spiNNaker|nest]

Needs sPyNNaker (``import pyNN.spiNNaker``) and a SpiNNaker machine (a board or a spalloc server,
configured in ~/.spynnaker.cfg); ``--simulator nest`` runs the same network on PyNN's NEST backend
(``import pyNN.nest``), e.g. to compare with the board. Reads network.json and connections.npz
next to this file; x.npy holds binary spikes shaped [T, B, *input_shape] (or [T, *input_shape]).
Writes every recorded population as out/<label> (spikes [T, n]) and state/<label>/v (mV, [T, n])
into the output file.
sPyNNaker records v at the start of each step: its v[t + 1] is nrf-deploy's v after step t.
"""
import argparse
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help=".npy binary spikes [T, B, *input_shape]")
    parser.add_argument("--sample", type=int, default=0, help="which sample of the batch to run")
    parser.add_argument("--output", default="pynn_output.npz", help="where to write the recordings")
    parser.add_argument(
        "--simulator",
        choices=("spiNNaker", "nest"),
        default="spiNNaker",
        help="PyNN backend: pyNN.spiNNaker (default) or pyNN.nest, the usual check on a PC",
    )
    return parser.parse_args()


def setup_options(simulator):
    """pyNN.nest: spikes on the time grid (iaf_psc_delta/iaf_psc_exp), as SpiNNaker's steps."""
    return {{"spike_precision": "on_grid"}} if simulator == "nest" else {{}}


def simulator(name):
    """The PyNN backend module: the same network description runs on both."""
    if name == "nest":
        import pyNN.nest as sim
    else:
        import pyNN.spiNNaker as sim
    return sim


def load_input(path, sample, net):
    x = np.load(path)
    shape = tuple(net["populations"][0]["shape"])
    if x.ndim == len(shape) + 1:
        x = x[:, None]
    return (np.asarray(x[:, sample]).reshape(x.shape[0], -1) > 0)


def spike_times(x, dt, lead):
    """One list of spike times (ms) per source neuron: a spike at step t is sent at
    (t + lead) * dt."""
    return [[float((t + lead) * dt) for t in np.flatnonzero(x[:, i])] for i in range(x.shape[1])]


def cell_params(net, label, lead):
    """The population's PyNN parameters; with a `lead`, its bias is off until the run reaches it."""
    params = dict(next(p for p in net["populations"] if p["label"] == label)["cellparams"])
    if lead:
        params["i_offset"] = 0.0
    return params


def extra(net, label, simulator):
    """sPyNNaker's own Population options (its ring-buffer hints); other simulators take none."""
    if simulator != "spiNNaker":
        return {{}}
    population = next(p for p in net["populations"] if p["label"] == label)
    return {{"additional_parameters": population["additional_parameters"]}}


def weight_scale(net, label, simulator):
    """Per target neuron, what one unit of weight moves v by (mV) on sPyNNaker relative to
    `simulator`. sPyNNaker's IF_curr_delta adds a weight as a current for one step, v moves by
    R (1 - exp(-dt / tau_m)) w with R = tau_m / cm; PyNN's standard IF_curr_delta (NEST's
    iaf_psc_delta) jumps v by w. IF_curr_exp weights are currents on both: 1."""
    population = next(p for p in net["populations"] if p["label"] == label)
    if simulator == "spiNNaker" or population["cellclass"] != "IF_curr_delta":
        return np.ones(population["size"])
    params = population["cellparams"]
    tau_m = np.broadcast_to(np.asarray(params["tau_m"], dtype=float), (population["size"],))
    cm = np.broadcast_to(np.asarray(params["cm"], dtype=float), (population["size"],))
    return tau_m / cm * -np.expm1(-net["timestep_ms"] / tau_m)


def connections(conns, key, scale):
    """(pre, post, weight, delay) rows, each weight times its target's `scale`."""
    rows = conns[key]
    return [(int(r[0]), int(r[1]), float(r[2] * scale[int(r[1])]), float(r[3])) for r in rows]


def save(pops, net, path, lead):
    """Spikes [T, n] and v [T, n] per population. With a `lead` (NEST), the chip's step t is
    NEST's step t + lead - 1, whose spikes NEST stamps at its end, (t + lead) * dt."""
    arrays = {{}}
    steps = net["timesteps"]
    for p in net["populations"][1:]:
        label = p["label"]
        block = pops[label].get_data(p["record"])
        segment = block.segments[0]
        if "spikes" in p["record"]:
            spikes = np.zeros((steps, p["size"]), dtype=np.int64)
            for train in segment.spiketrains:
                for time in np.asarray(train.magnitude):
                    step = int(round(float(time) / net["timestep_ms"])) - lead
                    if 0 <= step < steps:
                        spikes[step, int(train.annotations["source_index"])] = 1
            arrays["out/" + label] = spikes
        signals = segment.filter(name="v")
        if signals:
            start = max(lead - 1, 0)
            arrays["state/" + label + "/v"] = np.asarray(signals[0].magnitude)[start:start + steps]
    np.savez(path, **arrays)


def main():
    args = arguments()
    sim = simulator(args.simulator)
    # NEST refuses a spike at 0 ms and pyNN.nest relays a SpikeSourceArray through parrot
    # neurons one min_delay later: there the chip's step t is NEST's step t + lead - 1
    lead = 3 if args.simulator == "nest" else 0
    with open(os.path.join(HERE, "network.json")) as fh:
        net = json.load(fh)
    conns = np.load(os.path.join(HERE, "connections.npz"))
    x = load_input(args.input, args.sample, net)
    dt = net["timestep_ms"]
'''

_SCRIPT_TAIL = """

if __name__ == "__main__":
    main()
"""
