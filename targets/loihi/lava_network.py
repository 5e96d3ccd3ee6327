"""The Lava network of a Loihi export: processes and connections as Lava builds them.

Populations become ``LIF`` processes, one per distinct (du, dv, vth) since Lava holds those as
scalars; projections become ``Dense`` (or, when sparse, ``Sparse``) blocks between them with the
program's 8-bit weights and ``weight_exp``; input spikes come from a ``RingBuffer`` source; each
LIF's spikes go to a sink ring buffer.

The description is the export's chip file, written as two files:

* ``lava_network.json`` — per LIF process: population, ``du``, ``dv``, ``vth``; per connection:
  source process (``-1``: the input), target process, ``weight_exp``, ``sign_mode``; per
  population: kind, shape, whether the host reads its membrane (read-out), lag and core placement;
* ``lava_network.npz`` — ``process/<i>/{neurons,bias_mant,bias_exp}`` and each connection's weights
  ``connection/<j>/{data,indices,indptr,shape}`` (CSR, ``[target process neurons, source
  neurons]``).

The Lava witness builds its processes from it (lava_runner.py, in the ``lava`` witness
environment) and the emulator its cores (chip_files.py), while the integer reference reads
program.npz. Use it from your own Lava code (lava_runner.py imports only numpy and lava)::

    import json, numpy as np, lava_runner        # targets/loihi/lava_runner.py
    d = json.load(open("build/loihi/lava_network.json"))
    a = dict(np.load("build/loihi/lava_network.npz"))
    source, groups, denses = lava_runner.build_network(d, a, x)   # x: [T, n_inputs] spikes
    source.run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))

or run it directly: ``nrf-deploy run build/loihi --backend lava --input x.npy -o out.npz``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from nrf_deploy.fileio import dumps_json, npz_bytes, parse_chip_files

NETWORK_JSON, NETWORK_NPZ = "lava_network.json", "lava_network.npz"
NETWORK_FILES = (NETWORK_JSON, NETWORK_NPZ)
FORMAT = "nrf-deploy lava network 1 (lava-nc 0.10.0 LIF, Dense/Sparse, RingBuffer)"
INPUT = -1
"""Source index of a connection fed by the input RingBuffer."""


@dataclass
class LifProcess:
    """One Lava ``LIF`` process: `neurons` of `population` (indices), scalar du/dv/vth."""

    population: str
    neurons: np.ndarray  # int64 indices into the population
    du: int
    dv: int
    vth: int
    bias_mant: np.ndarray  # int64 per neuron
    bias_exp: np.ndarray  # int64 per neuron


@dataclass
class Connection:
    """One Lava ``Dense``/``Sparse`` process from `source` (a process index or INPUT) to
    `target`."""

    source: int
    target: int
    weights: sp.csr_matrix  # int64 [target process neurons, source neurons]
    weight_exp: int
    sign_mode: str


@dataclass
class PopulationInfo:
    """What the host needs about a population besides its processes."""

    kind: str
    shape: tuple[int, ...]
    readout: bool
    delay: int
    cores: list[tuple[int, int, int]]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass
class LavaNetwork:
    """The whole description (see the module docstring)."""

    input_name: str
    input_shape: tuple[int, ...]
    dt: float
    populations: dict[str, PopulationInfo]
    processes: list[LifProcess]
    connections: list[Connection]

    @property
    def input_size(self) -> int:
        return int(np.prod(self.input_shape))


def _groups(comp) -> list[np.ndarray]:
    """Neuron indices sharing (du, dv, vth): one Lava LIF process each."""
    from nrf_deploy.targets.loihi.format import neuron_groups

    group = neuron_groups(comp)
    return [np.flatnonzero(group == g) for g in np.unique(group)]


def lava_network(program) -> LavaNetwork:
    """The Lava network of a quantised :class:`LoihiProgram`."""
    processes: list[LifProcess] = []
    of_population: dict[str, list[int]] = {}
    for name, comp in program.populations.items():
        of_population[name] = []
        for idx in _groups(comp):
            of_population[name].append(len(processes))
            processes.append(
                LifProcess(
                    name,
                    idx.astype(np.int64),
                    int(comp.du[idx[0]]),
                    int(comp.dv[idx[0]]),
                    int(comp.vth[idx[0]]),
                    np.asarray(comp.bias_mant)[idx].astype(np.int64),
                    np.asarray(comp.bias_exp)[idx].astype(np.int64),
                )
            )
    connections = []
    for syn in program.projections:
        weights = syn.weights.tocsr()
        sources = (
            [(INPUT, np.arange(program.input_size))]
            if syn.source == program.input_name
            else [(i, processes[i].neurons) for i in of_population[syn.source]]
        )
        for target in of_population[syn.target]:
            rows = weights[processes[target].neurons]
            for source, cols in sources:
                # the projection's sign mode, not the block's: Lava would otherwise derive it per
                # block and clip an all-negative block of a mixed projection to [-255, 0]
                block = rows[:, cols].tocsr()
                if block.nnz:
                    block.sort_indices()
                    connections.append(
                        Connection(
                            source,
                            target,
                            block.astype(np.int64),
                            int(syn.weight_exp),
                            syn.sign_mode,
                        )
                    )
    populations = {
        name: PopulationInfo(
            c.kind,
            tuple(c.shape),
            bool(c.readout),
            int(c.delay),
            [tuple(k) for k in program.cores.get(name, [])],
        )
        for name, c in program.populations.items()
    }
    return LavaNetwork(
        program.input_name,
        tuple(program.input_shape),
        float(program.dt),
        populations,
        processes,
        connections,
    )


def network_files(net: LavaNetwork) -> dict[str, bytes]:
    """``lava_network.json`` and ``lava_network.npz`` (deterministic bytes)."""
    description, arrays = describe_network(net)
    return {NETWORK_JSON: dumps_json(description).encode(), NETWORK_NPZ: npz_bytes(arrays)}


def describe_network(net: LavaNetwork) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The network as the two chip files hold it: the JSON description (plain types) and the
    int64 arrays by name (``process/<i>/...``, ``connection/<j>/...``). The Lava witness's request
    carries exactly these (lava_runner.py builds its processes from them)."""
    description = {
        "format": FORMAT,
        "dt": net.dt,
        "input": {"name": net.input_name, "shape": list(net.input_shape), "size": net.input_size},
        "populations": {
            n: {
                "kind": p.kind,
                "shape": list(p.shape),
                "readout": p.readout,
                "lag_steps": p.delay,
                "cores": [list(c) for c in p.cores],
            }
            for n, p in net.populations.items()
        },
        "processes": [
            {
                "index": i,
                "class": "LIF",
                "population": p.population,
                "neurons": int(p.neurons.size),
                "du": p.du,
                "dv": p.dv,
                "vth": p.vth,
            }
            for i, p in enumerate(net.processes)
        ],
        "connections": [
            {
                "index": j,
                "source": c.source,
                "target": c.target,
                "weight_exp": c.weight_exp,
                "sign_mode": c.sign_mode,
                "nnz": int(c.weights.nnz),
            }
            for j, c in enumerate(net.connections)
        ],
    }
    arrays: dict[str, np.ndarray] = {}
    for i, p in enumerate(net.processes):
        arrays |= {
            f"process/{i}/neurons": p.neurons,
            f"process/{i}/bias_mant": p.bias_mant,
            f"process/{i}/bias_exp": p.bias_exp,
        }
    for j, c in enumerate(net.connections):
        arrays |= {
            f"connection/{j}/data": c.weights.data.astype(np.int64),
            f"connection/{j}/indices": c.weights.indices.astype(np.int64),
            f"connection/{j}/indptr": c.weights.indptr.astype(np.int64),
            f"connection/{j}/shape": np.asarray(c.weights.shape, np.int64),
        }
    return description, arrays


def read_network(files: Mapping[str, bytes]) -> LavaNetwork:
    """Parse :func:`network_files` output (NrfError naming the file if it is damaged)."""
    return parse_chip_files(files, NETWORK_JSON, NETWORK_NPZ, "loihi", _network, "a Lava network")


def _network(d: dict[str, Any], a: dict[str, np.ndarray]) -> LavaNetwork:
    populations = {
        n: PopulationInfo(
            p["kind"],
            tuple(int(s) for s in p["shape"]),
            bool(p["readout"]),
            int(p["lag_steps"]),
            [tuple(int(v) for v in c) for c in p["cores"]],
        )
        for n, p in d["populations"].items()
    }
    processes = [
        LifProcess(
            p["population"],
            a[f"process/{i}/neurons"].astype(np.int64),
            int(p["du"]),
            int(p["dv"]),
            int(p["vth"]),
            a[f"process/{i}/bias_mant"].astype(np.int64),
            a[f"process/{i}/bias_exp"].astype(np.int64),
        )
        for i, p in enumerate(d["processes"])
    ]
    connections = []
    for j, c in enumerate(d["connections"]):
        w = sp.csr_matrix(
            (
                a[f"connection/{j}/data"].astype(np.int64),
                a[f"connection/{j}/indices"],
                a[f"connection/{j}/indptr"],
            ),
            shape=tuple(int(s) for s in a[f"connection/{j}/shape"]),
        )
        connections.append(
            Connection(
                int(c["source"]), int(c["target"]), w, int(c["weight_exp"]), str(c["sign_mode"])
            )
        )
    return LavaNetwork(
        d["input"]["name"],
        tuple(int(s) for s in d["input"]["shape"]),
        float(d["dt"]),
        populations,
        processes,
        connections,
    )
