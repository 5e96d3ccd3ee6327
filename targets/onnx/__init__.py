"""ONNX on a CPU: the conventional-hardware baseline (docs/targets/onnx.md).

A float NIR graph becomes an ONNX step model (targets/onnx/model.py, opset 17) that onnxruntime
runs;
``verify`` compares it with the float executor (states within 2^-16 of their range, identical
spikes). With ``--onnx-integer-from SPECK_EXPORT`` the model is instead the integer reference of
a Speck export
(int64 chip units), verified exactly against that export's own integer reference.

Backends: ``float`` (the float executor) and ``onnxruntime`` for float exports; an integer export's
reference is its source target's integer reference (``<source>-reference``, run through the
registry), see :meth:`OnnxTarget.backends_for`.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from nrf_deploy.targets.onnx.runtime import MODEL_FILE, UNROLLED_FILE, measure_cpu_baseline

from nrf_deploy.deployment import SIDECAR, base_sidecar, graph_fingerprint, read_sidecar
from nrf_deploy.errors import NrfError
from nrf_deploy.fileio import dumps_json
from nrf_deploy.ir import DEFAULT_DT, Semantics, load_graph
from nrf_deploy.ir.graph import Graph
from nrf_deploy.target import Backend, Capabilities, Deployment, Target
from nrf_deploy.trace import Trace

__all__ = ["OnnxTarget", "measure_cpu_baseline"]

_RUNTIME = Backend(
    "onnxruntime",
    "runtime",
    "nrf_deploy.targets.onnx.backends:run_onnxruntime",
    "the exported model on onnxruntime (CPU)",
)
FLOAT_BACKENDS = (
    Backend(
        "float",
        "float",
        "nrf_deploy.targets.onnx.backends:run_float",
        "nrf-deploy's float executor on source.nir",
    ),
    _RUNTIME,
)
INTEGER_SOURCES = ("speck",)
SEMANTICS = ("nir", "sinabs")
SOURCE_DIR = "integer_source"
_NOT_COPIED = ("verify-report.json", "verify-diff.npz")


class OnnxTarget(Target):
    name = "onnx"
    summary = "ONNX step model on onnxruntime (CPU): the conventional-hardware baseline"
    backend_table = FLOAT_BACKENDS
    packages = ("onnx", "onnxruntime")
    capabilities = Capabilities(
        frozenset({"IF", "LIF", "CubaLIF", "CubaLI", "LI", "I"}),
        recurrence=True,
        reset_rules=frozenset({"subtract", "zero", "value"}),
        cpu_baseline=True,
    )
    tolerance = 0.0
    rel_tolerance = 2.0**-16
    """float32 states: |float - onnxruntime| <= 2^-16 (128 float32 epsilons) of the variable's
    range. Both run the same float32 operations in different summation orders (torch vs
    onnxruntime kernels); reordering a float32 sum of n terms moves it by at most
    (n-1)·2^-24·sum|terms| (Higham 2002, ch. 4), typically ~sqrt(n)·2^-24·sum|terms|, and the
    summed terms are bounded by the variable's range. Measured on cnn_sinabs.nir (64 samples x
    20 steps): at most 1.3·2^-23 of the range. Spikes are compared exactly
    (docs/targets/onnx.md)."""

    def add_export_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--onnx-unroll",
            type=int,
            default=None,
            metavar="T",
            help="also write model_unrolled.onnx covering T timesteps (x [T, B, ...])",
        )
        parser.add_argument(
            "--onnx-semantics",
            default="nir",
            metavar="NAME",
            help="float conventions: nir (v > threshold, one spike) or sinabs (>=, multi-spike, "
            "IF clamp at -threshold)",
        )
        parser.add_argument(
            "--onnx-integer-from",
            default=None,
            metavar="DIR",
            help="export the integer reference of this Speck export of the same model instead "
            "of the float model (int64 chip units, verified exactly)",
        )

    # ------------------------------------------------------------------ export

    def build(self, graph: Graph, options: dict[str, Any]) -> Deployment:
        from nrf_deploy.targets.onnx.model import (
            OPSET,
            export_float,
            export_speck_integer,
            read_interface,
        )

        dt = float(options.get("dt") or graph.dt or DEFAULT_DT)
        unroll = options.get("onnx_unroll")
        sidecar = base_sidecar(self.name, graph, dt, int(options.get("timesteps") or 20), options)
        source_dir = options.get("onnx_integer_from")
        if source_dir:
            if options.get("onnx_semantics", "nir") != "nir":
                raise NrfError(
                    "--onnx-semantics applies to float exports only",
                    "--onnx-semantics",
                    "drop it: the integer model follows the source export's number format",
                )
            source = _load_source(Path(source_dir), graph)
            shapes = {layer["name"]: tuple(layer["shape"]) for layer in source.sidecar["layers"]}
            model = export_speck_integer(source.program, shapes)
            unrolled = (
                export_speck_integer(source.program, shapes, int(unroll))
                if unroll is not None
                else None
            )
            sidecar["integer_source"] = {
                "target": source.target,
                "dir": SOURCE_DIR,
                "fingerprint": source.sidecar["source"]["fingerprint"],
            }
            sidecar["number_format"] = f"int64 chip units of the {source.target} export (exact)"
        else:
            name = options.get("onnx_semantics") or "nir"
            if name not in SEMANTICS:
                raise NrfError(
                    f"unknown --onnx-semantics '{name}'",
                    "--onnx-semantics",
                    f"choose one of: {', '.join(SEMANTICS)} (docs/semantics.md)",
                )
            semantics = Semantics.named(name)
            model = export_float(graph, dt, None, semantics)
            unrolled = (
                export_float(graph, dt, int(unroll), semantics) if unroll is not None else None
            )
            sidecar["semantics"] = name
            sidecar["number_format"] = "float32"
            source = None
        interface = read_interface(model)
        meta = {p.key: p.value for p in model.metadata_props}
        macs = int(meta["nrf_deploy.dense_macs_per_step"])
        sidecar.update(
            {
                "opset": OPSET,
                "mode": interface.mode,
                "files": [MODEL_FILE] + ([UNROLLED_FILE] if unrolled else []),
                "unroll": int(unroll) if unroll is not None else None,
                "interface": interface.to_json(),
                "dense_macs_per_step": macs,
                "max_input_count": _max_count(meta),
                "resources": {"dense_macs_per_step": macs},
            }
        )
        program = {
            "graph": graph,
            "model": model,
            "unrolled": unrolled,
            "source": source,
            "source_dir": Path(source_dir) if source_dir else None,
            "sidecar": sidecar,
        }
        return Deployment(self.name, sidecar, program, extras={"graph": graph})

    def write(self, deployment: Deployment, out_dir: Path) -> None:
        program = deployment.program
        (out_dir / SIDECAR).write_text(dumps_json(deployment.sidecar))
        (out_dir / MODEL_FILE).write_bytes(program["model"].SerializeToString())
        if program.get("unrolled") is not None:
            (out_dir / UNROLLED_FILE).write_bytes(program["unrolled"].SerializeToString())
        if program.get("source_dir") is not None:  # the integer reference travels with the export
            shutil.copytree(
                program["source_dir"],
                out_dir / SOURCE_DIR,
                ignore=shutil.ignore_patterns(*_NOT_COPIED),
            )

    def load(self, out_dir: Path) -> Deployment:
        import onnx
        from nrf_deploy.targets.onnx.model import StepInterface, read_interface

        out_dir = Path(out_dir)
        sidecar = self.read_own_sidecar(out_dir)
        try:
            model = onnx.load(str(out_dir / MODEL_FILE))
            onnx.checker.check_model(model)
            interface = read_interface(model)
        except NrfError:
            raise
        except Exception as exc:  # noqa: BLE001 — onnx raises assorted errors for damaged files
            raise NrfError(
                f"{MODEL_FILE} is missing or corrupt ({type(exc).__name__})",
                str(out_dir / MODEL_FILE),
                "re-run nrf-deploy export --target onnx",
            ) from None
        if "interface" not in sidecar or interface != StepInterface.from_json(sidecar["interface"]):
            raise NrfError(
                f"{MODEL_FILE} does not match deploy.json (inputs, states or outputs differ)",
                str(out_dir),
                "re-run nrf-deploy export --target onnx; do not mix files of different exports",
            )
        program: dict[str, Any] = {
            "model": model,
            "graph": None,
            "source": None,
            "sidecar": sidecar,
        }
        if "integer_source" in sidecar:
            from nrf_deploy.seal import file_in_export

            source = sidecar["integer_source"]
            path = file_in_export(out_dir, source.get("dir"), "deploy.json integer_source.dir")
            program["source"] = _load_source(path, None, source["fingerprint"])
        else:
            program["graph"] = _load_float_graph(out_dir)
        return Deployment(self.name, sidecar, program, out_dir)

    # ------------------------------------------------------------------ execution

    def backends_for(self, deployment: Deployment) -> tuple[Backend, ...]:
        source = deployment.sidecar.get("integer_source")
        if source is None:
            return FLOAT_BACKENDS
        return (
            Backend(
                f"{source['target']}-reference",
                "reference",
                "nrf_deploy.targets.onnx.backends:run_source_reference",
                f"the integer reference of the {source['target']} export",
            ),
            _RUNTIME,
        )

    def finish_trace(self, deployment: Deployment, trace: Trace, record_states: bool) -> Trace:
        if deployment.sidecar.get("mode") == "integer":
            return self.alias_outputs(trace, deployment.sidecar)
        trace.output_names = tuple(deployment.sidecar["output_names"])
        return trace

    def resources(self, deployment: Deployment) -> dict[str, Any]:
        """Dense MACs per step and the measured onnxruntime latency at batch 1 (one thread)."""
        res = dict(deployment.sidecar.get("resources", {}))
        figures = measure_cpu_baseline(
            deployment, timesteps=deployment.timesteps, batch_sizes=(1,), repeats=3
        )
        res.update({k: v for k, v in figures["batch_1"].items() if k.startswith("cpu_latency_per")})
        return res


def _max_count(meta: dict[str, str]) -> int | None:
    value = meta.get("nrf_deploy.max_input_count")
    return int(value) if value is not None else None


def _load_float_graph(out_dir: Path) -> Graph:
    path = out_dir / "source.nir"
    if not path.is_file():
        raise NrfError(
            f"{out_dir} has no source.nir (the float model the executor runs)",
            str(out_dir),
            "re-run nrf-deploy export --target onnx",
        )
    return load_graph(path)


def _load_source(
    source_dir: Path, graph: Graph | None, fingerprint: str | None = None
) -> Deployment:
    """The quantised export whose integer reference becomes the model, checked against `graph`."""
    from nrf_deploy.seal import load_export

    sidecar = read_sidecar(source_dir)
    if sidecar["target"] not in INTEGER_SOURCES:
        why = {
            "loihi": "Loihi's format needs 24-bit wrap-around, per-block weight exponents and one "
            "step of "
            "delay per Dense block, and onnxruntime has no integer convolution for its "
            "projections (dense int64 matrices of a conv network are too large)"
        }.get(sidecar["target"], "no integer ONNX mapping exists for it")
        raise NrfError(
            f"'{source_dir}' is a {sidecar['target']} export; integer ONNX models are written for "
            f"{', '.join(INTEGER_SOURCES)} exports only ({why})",
            "--onnx-integer-from",
            "pass a Speck export directory, or omit the option to export the float model",
        )
    expected = fingerprint or graph_fingerprint(graph)
    if sidecar["source"]["fingerprint"] != expected:
        raise NrfError(
            f"'{source_dir}' was exported from a different model than the one given",
            "--onnx-integer-from",
            "export MODEL.nir to speck first and pass that directory with the same MODEL.nir",
        )
    return load_export(source_dir).deployment  # refused if that export was modified
