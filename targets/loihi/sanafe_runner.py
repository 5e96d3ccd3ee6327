"""SANA-FE runner: executed inside the ``sanafe`` witness environment, never imported by the core.

It imports only the standard library, numpy and ``sanafe`` (inside the functions) and receives a
declarative network from the core (``sanafe_witness.py`` builds it from the Loihi export):

* ``groups`` (JSON): one entry per neuron group, in order, ``{"name", "kind"}`` with kind
  ``"lif"`` (a population's neurons, SANA-FE's ``loihi_lif`` soma) or ``"source"`` (``input``-model
  neurons that fire given spike trains: the chip's input events, or a population's spikes replayed
  from the integer reference when that population is not simulated);
* ``g<i>/core`` (int, per neuron): the core each neuron is mapped to;
* ``g<i>/<attribute>`` (float, per neuron) for LIF groups: ``threshold``, ``bias``,
  ``input_decay``, ``leak_decay`` (SANA-FE units: chip units / 64);
* ``g<i>/spikes`` (bool ``[T, B, n]``) for source groups;
* ``connections`` (JSON): ``{"pre": i, "post": j}`` group pairs, with ``c<k>/pre``, ``c<k>/post``
  (int, group-local neuron indices) and ``c<k>/weight`` (float);
* ``cores`` (int): cores of the mesh needed; ``budget_s`` (float): no further sample starts after
  this many seconds of simulation (the first always runs).

The architecture is SANA-FE's packaged Loihi description (``sanafe/examples/loihi.yaml``), written
to a temporary file with (a) ``loihi_inputs`` soma units only on the tiles that hold input-model
neurons, as many per core as the tile's fullest core needs — they cost nothing in the
description, and 1024 of them on each of 128 cores took 1.5 GB (11 kB each) before any neuron was
loaded — and (b) more mesh rows of the same tiles where more than its 128 cores are needed. Each
input-model neuron has its own input soma unit (a unit holds one spike train), at most 1024 per
core.
"""

from __future__ import annotations

import math
import os
import re
import resource
import sys
import tempfile
import time
from contextlib import contextmanager

import numpy as np

ARCH_FILE = "loihi.yaml"
MESH_WIDTH, PACKAGED_ROWS, CORES_PER_TILE = 8, 4, 4
INPUTS_PER_CORE = 1024
SOMA, INPUT_SOMA, SYNAPSE = "loihi_lif", "loihi_inputs[{}]", "loihi_sparse_synapse"
ENERGY_PARTS = ("synapse", "dendrite", "soma", "network")
ATTRIBUTES = ("threshold", "bias", "input_decay", "leak_decay")
CHUNK = 200_000
"""Connections handed to SANA-FE per call (bounds the Python lists built for it)."""


class Refusal(Exception):
    """The request cannot be simulated as asked (reported to the core as the reason)."""


# --- the architecture ---------------------------------------------------------------------------


def packaged_text() -> str:
    from importlib.resources import files

    return files("sanafe.examples").joinpath(ARCH_FILE).read_text()


def description(text: str, rows: int, units: dict[int, int]) -> str:
    """SANA-FE's Loihi YAML with `rows` mesh rows of the same tiles, and on tile t's cores only
    ``units[t]`` ``loihi_inputs`` soma units (none where absent); refused if the file is not the
    8 x 4 mesh of ``loihi_tile[0..31]`` with one ``loihi_inputs[0..1023]`` soma this was written
    for."""
    edits = (
        (rf"(\n\s+width: ){MESH_WIDTH}\n", rf"\g<1>{MESH_WIDTH}\n"),
        (rf"(\n\s+height: ){PACKAGED_ROWS}\n", rf"\g<1>{rows}\n"),
    )
    for pattern, replacement in edits:
        text, found = re.subn(pattern, replacement, text)
        if found != 1:
            raise Refusal(f"SANA-FE's {ARCH_FILE} is not the 8 x 4 mesh this translation widens")
    head, sep, tile = text.partition("\n    - name: loihi_tile[0..31]\n")
    inputs = re.search(r"\n( +)- name: loihi_inputs\[0\.\.1023\]\n(?:\1  .*\n)+", tile)
    if not sep or inputs is None:
        raise Refusal(f"SANA-FE's {ARCH_FILE} is not the 8 x 4 mesh this translation widens")
    soma = inputs.group(0)
    blocks = []
    for first, last, count in _tile_ranges(MESH_WIDTH * rows, units):
        own = soma.replace("loihi_inputs[0..1023]", f"loihi_inputs[0..{count - 1}]")
        body = tile[: inputs.start()] + (own if count else "\n") + tile[inputs.end() :]
        blocks.append(f"\n    - name: loihi_tile[{first}..{last}]\n" + body.rstrip("\n"))
    return head + "".join(blocks) + "\n"


def _tile_ranges(tiles: int, units: dict[int, int]) -> list[tuple[int, int, int]]:
    """Contiguous runs of tiles with the same number of input soma units per core."""
    ranges: list[tuple[int, int, int]] = []
    for t in range(tiles):
        count = units.get(t, 0)
        if ranges and ranges[-1][2] == count:
            ranges[-1] = (ranges[-1][0], t, count)
        else:
            ranges.append((t, t, count))
    return ranges


def architecture(cores: int, inputs: dict[int, int]):
    """``(arch, cores in the mesh, widened)``: the description with enough rows for `cores` and
    ``inputs[core]`` input soma units on each core's tile."""
    import sanafe

    rows = max(PACKAGED_ROWS, math.ceil(cores / (MESH_WIDTH * CORES_PER_TILE)))
    units: dict[int, int] = {}
    for core, count in inputs.items():
        if count > INPUTS_PER_CORE:
            raise Refusal(f"{count} input-model neurons on core {core}, at most {INPUTS_PER_CORE}")
        tile = core // CORES_PER_TILE
        units[tile] = max(units.get(tile, 0), count)
    text = description(packaged_text(), rows, units)
    with tempfile.TemporaryDirectory(prefix="nrf-sanafe-") as tmp:
        path = os.path.join(tmp, ARCH_FILE)
        with open(path, "w") as f:
            f.write(text)
        arch = sanafe.load_arch(path)
    total = rows * MESH_WIDTH * CORES_PER_TILE
    if len(arch.cores()) != total:
        raise Refusal(f"SANA-FE loaded {len(arch.cores())} cores from a {total}-core description")
    return arch, total, rows > PACKAGED_ROWS


# --- the network --------------------------------------------------------------------------------


def build(request: dict, sample: int = 0):
    """``(network, groups, arch, cores, widened)`` for `request`, spike trains of `sample`."""
    import sanafe

    groups_spec = request["groups"]
    inputs: dict[int, int] = {}
    for i, g in enumerate(groups_spec):
        if g["kind"] == "source":
            for core, count in zip(*np.unique(request[f"g{i}/core"], return_counts=True)):
                inputs[int(core)] = inputs.get(int(core), 0) + int(count)
    arch, total, widened = architecture(int(request["cores"]), inputs)
    cores = [core for tile in arch.tiles for core in tile.cores]
    net = sanafe.Network()
    units: dict[int, int] = {}
    groups = []
    for i, spec in enumerate(groups_spec):
        where = np.asarray(request[f"g{i}/core"], dtype=np.int64)
        if spec["kind"] == "lif":
            attrs = {a: np.asarray(request[f"g{i}/{a}"], np.float64) for a in ATTRIBUTES}
            groups.append(_lif_group(net, spec["name"], attrs, where, cores))
        else:
            spikes = np.asarray(request[f"g{i}/spikes"])[:, sample]
            groups.append(_source_group(net, spec["name"], spikes, where, cores, units))
    for k, c in enumerate(request["connections"]):
        pre, post = request[f"c{k}/pre"], request[f"c{k}/post"]
        weight = np.asarray(request[f"c{k}/weight"], np.float64)
        for s in range(0, len(pre), CHUNK):
            groups[c["pre"]].connect_neurons_sparse(
                groups[c["post"]],
                {"weight": weight[s : s + CHUNK].tolist()},
                list(zip(pre[s : s + CHUNK].tolist(), post[s : s + CHUNK].tolist())),
            )
    return net, groups, arch, total, widened


def _lif_group(net, name: str, attrs: dict, where: np.ndarray, cores: list):
    """A neuron group on the LIF soma: hard reset to 0, attributes shared where uniform."""
    size = len(where)
    uniform = {k: float(v[0]) for k, v in attrs.items() if size and np.all(v == v[0])}
    group = net.create_neuron_group(
        name,
        size,
        model_attributes={"reset_mode": "hard", "reset": 0.0, **uniform},
        soma_hw_name=SOMA,
        default_synapse_hw_name=SYNAPSE,
    )
    varying = {k: v for k, v in attrs.items() if k not in uniform}
    for i, neuron in enumerate(group):
        if varying:
            neuron.set_attributes(model_attributes={k: float(v[i]) for k, v in varying.items()})
        neuron.map_to_core(cores[int(where[i])])
    return group


def _source_group(net, name: str, spikes: np.ndarray, where: np.ndarray, cores: list, units: dict):
    """Input-model neurons, each on its own input soma unit of its core, firing `spikes`
    ``[T, n]`` (nonzero: a spike)."""
    group = net.create_neuron_group(name, len(where))
    for i, neuron in enumerate(group):
        core = int(where[i])
        unit = units.get(core, 0)
        units[core] = unit + 1
        neuron.set_attributes(
            soma_hw_name=INPUT_SOMA.format(unit),
            model_attributes={"spikes": (spikes[:, i] != 0).tolist()},
        )
        neuron.map_to_core(cores[core])
    return group


# --- entry points -------------------------------------------------------------------------------


def simulate(request: dict) -> dict:
    """Each sample of the request's spike trains through SANA-FE (``timing_model="detailed"``),
    one inference each; the network is built and loaded once and the chip reset between samples
    (potentials, currents, buffers; input trains replaced — the figures of a fresh chip per
    sample). Arrays per sample: ``energy_j`` (and ``energy_<part>_j``), ``latency_s`` (s),
    ``synaptic_events``, ``neurons_fired``, ``neurons_updated``, ``packets_sent``."""
    import sanafe

    started = time.perf_counter()
    net, groups, arch, total, widened = build(request)
    chip = sanafe.SpikingChip(arch)
    chip.load(net)
    names = [g["name"] for g in request["groups"]]
    sources = [i for i, g in enumerate(request["groups"]) if g["kind"] == "source"]
    del net, groups
    built = time.perf_counter() - started
    steps, samples = _shape(request, sources)
    runs: list[dict[str, float]] = []
    began = time.perf_counter()
    for b in range(samples):
        if b and time.perf_counter() - began > float(request["budget_s"]):
            break
        if b:
            chip.reset()
            for i in sources:
                spikes = np.asarray(request[f"g{i}/spikes"])[:, b]
                for n, neuron in enumerate(chip.mapped_neuron_groups[names[i]]):
                    neuron.set_attributes(model_attributes={"spikes": (spikes[:, n] != 0).tolist()})
        with _quiet_stdout():
            result = chip.sim(steps, timing_model="detailed")
        runs.append(_figures(result))
    out = {k: np.array([r[k] for r in runs], dtype=np.float64) for k in runs[0]}
    return {
        **out,
        "version": _version(),
        "architecture_cores": total,
        "widened": bool(widened),
        "build_seconds": built,
        "simulation_seconds": time.perf_counter() - began,
        "peak_rss_bytes": peak_rss_bytes(),
    }


def peak_rss_bytes() -> int:
    """This process's peak resident memory (``VmHWM``: its own address space's high-water mark;
    ``getrusage``'s ``ru_maxrss`` would report the core's, inherited through fork and exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _shape(request: dict, sources: list[int]) -> tuple[int, int]:
    if not sources:
        raise Refusal("the request has no input")
    spikes = np.asarray(request[f"g{sources[0]}/spikes"])
    return int(spikes.shape[0]), int(spikes.shape[1])


def _figures(result: dict) -> dict[str, float]:
    return {
        "energy_j": float(result["energy"]["total"]),
        **{f"energy_{k}_j": float(result["energy"][k]) for k in ENERGY_PARTS},
        "latency_s": float(result["sim_time"]),
        "synaptic_events": float(result["spikes"]),
        "neurons_fired": float(result["neurons_fired"]),
        "neurons_updated": float(result["neurons_updated"]),
        "packets_sent": float(result["packets_sent"]),
    }


def netlist(request: dict) -> dict:
    """The translated network as SANA-FE writes it in its own netlist format: the number of
    edges and, per group, the core of every neuron (``g<i>/core``), read back from that file."""
    net, _groups, _, total, _ = build(request)
    with tempfile.TemporaryDirectory(prefix="nrf-sanafe-") as tmp:
        path = os.path.join(tmp, "net.txt")
        net.save(path, use_netlist_format=True)
        edges, placed = 0, {}
        with open(path) as f:
            for line in f:
                if line.startswith("e "):
                    edges += 1
                elif line.startswith("& "):
                    neuron, core = line[2:].strip().split("@")
                    tile, offset = core.split(".")
                    placed[neuron] = int(tile) * CORES_PER_TILE + int(offset)
    names = sorted(g["name"] for g in request["groups"])  # SANA-FE numbers groups by name
    out: dict = {"edges": edges, "architecture_cores": total}
    for i, spec in enumerate(request["groups"]):
        g = names.index(spec["name"])
        size = len(request[f"g{i}/core"])
        out[f"g{i}/core"] = np.array([placed[f"{g}.{n}"] for n in range(size)], dtype=np.int64)
    return out


def check(request: dict) -> dict:
    """One input neuron driving one LIF neuron through a weight of 2 (threshold 1, no decay): the
    LIF neuron fires once for each of the 3 input spikes, one step later. SANA-FE must count 3
    synaptic events and 6 neurons fired, cost them (energy and latency > 0) and widen the mesh."""
    spikes = np.zeros((8, 1, 1), dtype=bool)
    spikes[[0, 2, 3], 0, 0] = True
    lif = {"threshold": [1.0], "bias": [0.0], "input_decay": [0.0], "leak_decay": [0.0]}
    req = {
        "groups": [{"name": "in", "kind": "source"}, {"name": "lif", "kind": "lif"}],
        "g0/core": np.array([200]),
        "g0/spikes": spikes,
        "g1/core": np.array([0]),
        **{f"g1/{k}": np.array(v) for k, v in lif.items()},
        "connections": [{"pre": 0, "post": 1}],
        "c0/pre": np.array([0]),
        "c0/post": np.array([0]),
        "c0/weight": np.array([2.0]),
        "cores": 201,
        "budget_s": 60.0,
    }
    got = simulate(req)
    counts = (float(got["synaptic_events"][0]), float(got["neurons_fired"][0]))
    ok = counts == (3.0, 6.0) and got["energy_j"][0] > 0 and got["latency_s"][0] > 0
    ok = ok and got["widened"] and got["architecture_cores"] == 224
    return {
        "ok": bool(ok),
        "reason": f"synaptic events, neurons fired {counts}, expected (3, 6)",
        "sanafe": _version(),
    }


def _version() -> str:
    from importlib.metadata import version

    return version("sanafe")


@contextmanager
def _quiet_stdout():
    """Silence SANA-FE's C++ progress line (written to file descriptor 1)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
