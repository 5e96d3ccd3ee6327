"""SynSense Xylo Audio 2 (SYNS61201): 16 inputs -> up to 1000 recurrent hidden CubaLIF neurons ->
8 read-out neurons, 8-bit weights, 16-bit saturating state, bit-shift decays.

format.py (number format, limits, program), mapper.py (structure and placement), quantize.py
(float NIR -> rockpool's Xylo specification), reference.py (batched torch), emulator.py (event by
event, neuron by neuron), xylosim_witness.py (SynSense's C++ simulator ``xylosim.v2``),
profile.py (published figures). docs/targets/xylo.md describes the format, what bit-exact means
here and the artefacts.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from nrf_deploy.targets.xylo.format import SPEC_ARRAYS, Group, XyloProgram, check_program
from nrf_deploy.targets.xylo.quantize import quantise

from nrf_deploy.deployment import base_sidecar
from nrf_deploy.errors import DoesNotFitError, NrfError
from nrf_deploy.fileio import dumps_json
from nrf_deploy.ir import DEFAULT_DT
from nrf_deploy.ir.graph import Graph
from nrf_deploy.target import Backend, Capabilities, Deployment, Target

SPEC_NPZ = "xylo_spec.npz"
SPEC_JSON = "xylo_spec.json"
SHIFTS = ("weight_shift_in", "weight_shift_rec", "weight_shift_out")


class XyloTarget(Target):
    name = "xylo"
    summary = (
        "SynSense Xylo Audio 2: 16 inputs, 1000 recurrent hidden + 8 read-out CubaLIF neurons, "
        "8-bit weights, 16-bit state, bit-shift decays"
    )
    backend_table = (
        Backend(
            "reference",
            "reference",
            "nrf_deploy.targets.xylo.reference:run_reference",
            "batched integer PyTorch statement of Xylo's timestep",
        ),
        Backend(
            "emulator",
            "emulator",
            "nrf_deploy.targets.xylo.emulator:run_emulator",
            "event by event through fan-out lists, neuron by neuron, as XyloLayer::evolve",
        ),
        Backend(
            "xylosim",
            "vendor",
            "nrf_deploy.targets.xylo.xylosim_witness:run_xylosim",
            "SynSense's bit-exact C++ simulator xylosim 0.1.3 (xylosim.v2.XyloLayer)",
        ),
    )
    capabilities = Capabilities(
        frozenset({"IF", "LIF", "CubaLIF", "LI", "I"}),
        recurrence=True,
        reset_rules=frozenset({"subtract"}),
    )
    demo_options = ({},)

    def build(self, graph: Graph, options: dict[str, Any]) -> Deployment:
        dt = float(options.get("dt") or graph.dt or DEFAULT_DT)
        program, report, problems, approximations = quantise(graph, dt)
        problems = problems + (check_program(program) if not problems else [])
        if problems:
            name = graph.metadata.get("name") or "the graph"
            raise DoesNotFitError(
                f"{name} cannot run on Xylo Audio 2 ({len(problems)} problem"
                f"{'s' if len(problems) > 1 else ''})",
                problems,
                "nrf-deploy export --target xylo",
                "fix every line; limits and mapping rules: docs/targets/xylo.md",
            )
        sidecar = base_sidecar(self.name, graph, dt, int(options.get("timesteps") or 20), options)
        sidecar.update(
            {
                "number_format": "int8 weights with per-layer left shifts (input/recurrent/"
                "output), int16 "
                "saturating synaptic currents and membranes, bit-shift decays 1 - 2^-dash, "
                "int16 thresholds (fire on >=, subtract) and biases",
                "chip": "Xylo Audio 2 (SYNS61201), as xylosim.v2 simulates it",
                "witness_package": {"xylosim": _version("xylosim")},
                "approximations": approximations,
                "quantisation": report,
                "groups": [_describe(g) for g in program.groups],
                "resources": _resources(program),
                "delays": {g.name: g.lag for g in program.groups},
                "output_scale": {g.name: g.scale for g in program.groups if g.readout},
            }
        )
        return Deployment(self.name, sidecar, program, extras={"graph": graph})

    def write(self, deployment: Deployment, out_dir: Path) -> None:
        program: XyloProgram = deployment.program
        (out_dir / "deploy.json").write_text(dumps_json(deployment.sidecar))
        _write_npz(out_dir / SPEC_NPZ, _spec_arrays(program))
        (out_dir / SPEC_JSON).write_text(dumps_json(_spec_json(program)))
        (out_dir / "README.md").write_text(_readme(deployment.sidecar))

    def load(self, out_dir: Path) -> Deployment:
        sidecar = self.read_own_sidecar(out_dir)
        path = Path(out_dir) / SPEC_NPZ
        try:
            with np.load(path) as data:
                arrays = {k: np.asarray(data[k], dtype=np.int64) for k in data.files}
            spec = json.loads((Path(out_dir) / SPEC_JSON).read_text())
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise NrfError(
                f"the Xylo specification is missing or corrupt ({type(exc).__name__}: {exc})",
                str(out_dir),
                "re-run nrf-deploy export",
            ) from None
        program = _program_from(sidecar, arrays, out_dir)
        _check_same(program, spec, out_dir)
        _check_encodes_source(program, sidecar, Path(out_dir))
        problems = check_program(program)
        if problems:
            raise NrfError(
                f"{SPEC_NPZ} is not a valid Xylo Audio 2 configuration: {'; '.join(problems)}",
                str(path),
                "re-run nrf-deploy export",
            )
        return Deployment(self.name, sidecar, program, Path(out_dir))

    def check_input(self, deployment: Deployment, x: np.ndarray) -> np.ndarray:
        from nrf_deploy.targets.xylo.reference import check_binary_input

        return check_binary_input(x)


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _describe(g: Group) -> dict:
    return {
        "name": g.name,
        "kind": g.kind,
        "layer": g.layer,
        "first": g.first,
        "stop": g.stop,
        "shape": list(g.shape),
        "readout": g.readout,
        "scale": g.scale,
        "lag": g.lag,
    }


def _resources(program: XyloProgram) -> dict:
    from nrf_deploy.targets.xylo.format import MAX_HIDDEN, MAX_INPUTS, MAX_OUTPUTS, fanout

    fo = fanout(program)
    return {
        "input_channels": program.n_in,
        "input_channels_available": MAX_INPUTS,
        "hidden_neurons": program.n_hidden,
        "hidden_neurons_available": MAX_HIDDEN,
        "output_neurons": program.n_out,
        "output_neurons_available": MAX_OUTPUTS,
        "synapses_per_hidden_neuron": program.n_syn,
        "input_weights": int(np.count_nonzero(program.weights_in)),
        "recurrent_weights": int(np.count_nonzero(program.weights_rec)),
        "output_weights": int(np.count_nonzero(program.weights_out)),
        "max_fanout": int(fo.max()) if fo.size else 0,
        "mean_recurrent_fanout": float(fo.mean()) if fo.size else 0.0,
        "groups": {
            layer: [g.name for g in program.groups if g.layer == layer]
            for layer in ("hidden", "output")
        },
        "weight_shifts": {k: int(getattr(program, k)) for k in SHIFTS},
    }


def _spec_arrays(program: XyloProgram) -> dict[str, np.ndarray]:
    arrays = {k: np.asarray(getattr(program, k), dtype=np.int64) for k in SPEC_ARRAYS}
    arrays.update({k: np.asarray(int(getattr(program, k)), dtype=np.int64) for k in SHIFTS})
    return arrays


def _spec_json(program: XyloProgram) -> dict:
    """rockpool's specification as plain JSON (``config_from_specification(**spec)`` after
    ``np.asarray`` on the arrays), with where each NIR population sits."""
    spec = {k: np.asarray(getattr(program, k)).tolist() for k in SPEC_ARRAYS}
    spec.update({k: int(getattr(program, k)) for k in SHIFTS})
    spec["aliases"] = [list(map(int, a)) for a in program.aliases]
    spec["dt"] = program.dt
    spec["populations"] = [_describe(g) for g in program.groups]
    return spec


def _program_from(sidecar: dict, arrays: dict[str, np.ndarray], out_dir: Path) -> XyloProgram:
    missing = [k for k in (*SPEC_ARRAYS, *SHIFTS) if k not in arrays]
    if missing:
        raise NrfError(
            f"{SPEC_NPZ} lacks {', '.join(missing)}",
            str(Path(out_dir) / SPEC_NPZ),
            "re-run nrf-deploy export",
        )
    groups = [
        Group(
            d["name"],
            d["kind"],
            d["layer"],
            d["first"],
            d["stop"],
            tuple(d["shape"]),
            d["readout"],
            d["scale"],
            d["lag"],
        )
        for d in sidecar["groups"]
    ]
    n_hid = int(arrays["weights_rec"].shape[0])
    return XyloProgram(
        sidecar["input_name"],
        tuple(sidecar["input_shape"]),
        *(arrays[k] for k in SPEC_ARRAYS[:3]),
        **{k: arrays[k] for k in SPEC_ARRAYS[3:]},
        **{k: int(arrays[k]) for k in SHIFTS},
        aliases=[[] for _ in range(n_hid)],
        groups=groups,
        dt=float(sidecar["dt"]),
    )


def _check_same(program: XyloProgram, spec: dict, out_dir: Path) -> None:
    """The JSON a user loads on the chip must say what the npz (which every backend runs) says."""
    differ = [k for k in SPEC_ARRAYS if not _same_array(spec.get(k), getattr(program, k))]
    differ += [k for k in SHIFTS if spec.get(k) != getattr(program, k)]
    if any(len(a) for a in spec.get("aliases", [])):
        differ.append("aliases")
    if differ:
        raise NrfError(
            f"{SPEC_JSON} and {SPEC_NPZ} disagree on {', '.join(differ)}",
            str(out_dir),
            "the export was modified: re-run nrf-deploy export",
        )


def _check_encodes_source(program: XyloProgram, sidecar: dict, out_dir: Path) -> None:
    """What the user trained must be what the chip files encode: re-quantise ``source.nir`` (the
    float model the export copied) and refuse a specification that differs from it."""
    from nrf_deploy.deployment import graph_fingerprint
    from nrf_deploy.ir import load_graph

    source = out_dir / "source.nir"
    if not source.is_file():
        return
    graph = load_graph(source)
    where = str(out_dir / SPEC_NPZ)
    if graph_fingerprint(graph) != sidecar["source"]["fingerprint"]:
        raise NrfError("source.nir is not the model this export was made from (fingerprint differs)",
                       str(source), "re-run nrf-deploy export")
    expected, _, problems, _ = quantise(graph, float(sidecar["dt"]))
    if problems:
        raise NrfError("source.nir no longer quantises for Xylo", where, "re-run nrf-deploy export")
    differ = [k for k in (*SPEC_ARRAYS, *SHIFTS)
              if not np.array_equal(np.asarray(getattr(expected, k)), np.asarray(getattr(program, k)))]
    differ += ["populations"] * ([_describe(g) for g in expected.groups] != sidecar["groups"])
    if differ:
        raise NrfError(f"{SPEC_NPZ} does not encode source.nir: {', '.join(differ)} differ", where,
                       "the export was modified: re-run nrf-deploy export")


def _same_array(listed: Any, exact: np.ndarray) -> bool:
    try:
        values = np.asarray(listed, dtype=np.int64)
    except (TypeError, ValueError):
        return False
    return values.size == exact.size and np.array_equal(values.reshape(exact.shape), exact)


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz numpy reads, with fixed zip timestamps: the same program gives the same bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def _readme(sidecar: dict) -> str:
    r = sidecar["resources"]
    return f"""# Xylo Audio 2 export

* `xylo_spec.npz` — rockpool's Xylo specification, exact integers: `weights_in [Nin, Nhid, 1]`,
  `weights_rec [Nhid, Nhid, 1]`, `weights_out [Nhid, Nout]` (source, target), `dash_mem`,
  `dash_syn`, `dash_syn_2`, `threshold`, `bias` (hidden) and their `_out` twins,
  `weight_shift_in/rec/out`.
* `xylo_spec.json` — the same specification as JSON plus `aliases` (none), `dt` and where each NIR
  population sits; with rockpool on a machine with a Xylo dev kit:
  `config_from_specification(**{{k: np.asarray(v) for k, v in spec.items() if k in FIELDS}})`.
* `deploy.json` — every decision: scales, dashes, decay errors, lags, approximations.

Uses {r["input_channels"]}/{r["input_channels_available"]} input channels,
{r["hidden_neurons"]}/{r["hidden_neurons_available"]} hidden and
{r["output_neurons"]}/{r["output_neurons_available"]} read-out neurons.
Check: `nrf-deploy verify THIS_DIR` (reference vs emulator vs xylosim).
"""
