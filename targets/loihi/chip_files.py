"""Loihi's chip files read back: ``lava_network.json`` + ``.npz`` -> what the emulator and the
Lava witness run.

The Lava witness builds its processes straight from the description (lava_network.py); the
emulator gets the same network as a :class:`LoihiProgram`: each population's per-neuron
du/dv/vth/bias gathered from its LIF processes, and the connections between two populations with
the same ``weight_exp`` and sign mode joined into one projection whose Dense blocks
(``column_group``) are the source processes — every block's sum is shifted on its own, as each
Lava Dense does. Nothing is taken from program.npz, which the integer reference reads: an edit to
either side is a mismatch in ``verify``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from nrf_deploy.targets.loihi.format import Compartments, LoihiProgram, Synapses
from nrf_deploy.targets.loihi.lava_network import INPUT, NETWORK_JSON, LavaNetwork, read_network

from nrf_deploy.errors import NrfError
from nrf_deploy.trace import Trace


@dataclass
class LoihiChipProgram:
    """The chip files parsed: the Lava network and the same network in the emulator's terms."""

    network: LavaNetwork
    program: LoihiProgram


def read_chip_files(files: Mapping[str, bytes]) -> LoihiChipProgram:
    """Parse the Lava network description (NrfError naming the file if it is unusable)."""
    network = read_network(files)
    return LoihiChipProgram(network, to_program(network))


def to_program(net: LavaNetwork) -> LoihiProgram:
    """The network as a :class:`LoihiProgram` (per-neuron parameters, one projection per
    (source, target, weight_exp, sign_mode))."""
    pops = {name: _compartments(name, info, net) for name, info in net.populations.items()}
    projections = _projections(net, {n: info.size for n, info in net.populations.items()})
    program = LoihiProgram(net.input_name, net.input_shape, pops, projections, net.dt)
    program.cores = {n: list(info.cores) for n, info in net.populations.items()}
    return program


def _compartments(name: str, info, net: LavaNetwork) -> Compartments:
    fields = {
        k: np.zeros(info.size, np.int64) for k in ("du", "dv", "vth", "bias_mant", "bias_exp")
    }
    covered = np.zeros(info.size, np.int64)
    for p in net.processes:
        if p.population != name:
            continue
        for k in ("du", "dv", "vth"):
            fields[k][p.neurons] = getattr(p, k)
        fields["bias_mant"][p.neurons] = p.bias_mant
        fields["bias_exp"][p.neurons] = p.bias_exp
        covered[p.neurons] += 1
    if not np.all(covered == 1):
        raise NrfError(
            f"population '{name}': {int(np.sum(covered != 1))} neurons are not in exactly one LIF "
            "process",
            NETWORK_JSON,
            "re-run nrf-deploy export --target loihi",
        )
    return Compartments(
        name,
        info.kind,
        info.shape,
        fields["du"],
        fields["dv"],
        fields["vth"],
        fields["bias_mant"],
        fields["bias_exp"],
        scale=1.0,
        readout=info.readout,
        delay=info.delay,
    )


def _projections(net: LavaNetwork, sizes: dict[str, int]) -> list[Synapses]:
    def population(index: int) -> str:
        return net.input_name if index == INPUT else net.processes[index].population

    def neurons(index: int) -> np.ndarray:
        return np.arange(net.input_size) if index == INPUT else net.processes[index].neurons

    sizes = {**sizes, net.input_name: net.input_size}
    joined: dict[tuple[str, str, int, str], list] = {}
    for c in net.connections:
        key = (population(c.source), population(c.target), c.weight_exp, c.sign_mode)
        joined.setdefault(key, []).append(c)
    projections = []
    for (source, target, weight_exp, sign_mode), conns in joined.items():
        rows, cols, data = [], [], []
        group = np.full(sizes[source], -1, np.int64)
        for c in conns:
            w = c.weights.tocoo()
            tgt, src = neurons(c.target), neurons(c.source)
            if w.shape != (tgt.size, src.size):
                raise NrfError(
                    f"connection {c.source}->{c.target} has weights {w.shape}, its processes "
                    f"hold {(tgt.size, src.size)} neurons",
                    NETWORK_JSON,
                    "re-export",
                )
            rows.append(tgt[w.row])
            cols.append(src[w.col])
            data.append(w.data.astype(np.int64))
            group[src] = c.source
        weights = sp.csr_matrix(
            (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))),
            shape=(sizes[target], sizes[source]),
            dtype=np.int64,
        )
        column_group = None if source == net.input_name else group
        projections.append(
            Synapses(source, target, weights, weight_exp, sign_mode, 0.0, column_group)
        )
    return projections


def run_emulator(chip: LoihiChipProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    """The emulator (emulator.py) on the network the chip files describe."""
    from nrf_deploy.targets.loihi.emulator import run_emulator as emulate

    return emulate(chip.program, x, record_states)


def run_lava(chip: LoihiChipProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    """The Lava witness (lava_witness.py) on the processes the chip files describe."""
    from nrf_deploy.targets.loihi.lava_witness import run_lava as witness

    return witness(chip.network, x, record_states)
