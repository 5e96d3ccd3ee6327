"""``nrf-deploy verify OUT_DIR``: exit 0 only if every backend agrees with the reference."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nrf_deploy.cli.common import progress_enabled
from nrf_deploy.cli.hwtrace import add_arguments as add_hardware_trace_arguments
from nrf_deploy.cli.hwtrace import run_hardware_trace
from nrf_deploy.errors import NrfError, VerificationFailed
from nrf_deploy.fileio import write_json, write_npz
from nrf_deploy.inputs import random_events
from nrf_deploy.inputset import InputSet
from nrf_deploy.trace import Trace
from nrf_deploy.verify import VerifyResult


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="check an export bit for bit: reference vs emulator vs vendor simulator",
        description="Run the target's integer reference and emulator on N inputs (random events by "
        "default) and its vendor simulator (Lava, sinabs, ...) on M of them. Exit 0 only "
        "if outputs and states agree everywhere; otherwise print the first divergence "
        "and write a diff report (verify-report.json, verify-diff.npz).",
    )
    p.add_argument("export_dir", help="directory written by 'nrf-deploy export'")
    p.add_argument(
        "--samples",
        type=int,
        default=None,
        help="inputs for reference and emulator (default 64; with --input: all, or its first N)",
    )
    p.add_argument(
        "--witness-samples",
        "--lava-samples",
        dest="witness_samples",
        type=int,
        default=4,
        help="inputs also run on the vendor simulator (default 4; 0 skips it)",
    )
    p.add_argument(
        "--input",
        default=None,
        help=".npy/.npz inputs [T, B, *input_shape], or a folder of such shards (read a "
        "shard at a time, .npy memory-mapped) instead of random events",
    )
    p.add_argument(
        "--timesteps", type=int, default=None, help="timesteps of random inputs (default: export's)"
    )
    p.add_argument(
        "--rate",
        type=float,
        default=0.1,
        help="event probability per pixel and step (random inputs)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--batch-size", type=int, default=32, help="samples per backend call")
    p.add_argument(
        "--report",
        default=None,
        help="where to write the JSON report (default: EXPORT_DIR/verify-report.json)",
    )
    add_scale_arguments(p)
    p.add_argument(
        "--allow-modified",
        action="store_true",
        help="verify an export whose files changed since it was sealed (an experiment: "
        "every output says so and the report never shows it as verified)",
    )
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="first re-export source.nir with the recorded options into a temporary "
        "folder and require byte-identical artefacts",
    )
    add_hardware_trace_arguments(p)
    p.set_defaults(func=run)


def add_scale_arguments(p: argparse.ArgumentParser) -> None:
    """--engine/--address/--workers/--shard-size/--device (docs/scale.md)."""
    from nrf_deploy.device import DEVICES

    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: shards one after the other in this process (default); ray: "
        "shards on Ray actors (pip install 'nrf-deploy[ray]')",
    )
    p.add_argument(
        "--address",
        default=None,
        help="Ray cluster: 'auto' or HOST:PORT (default: a local Ray for this run)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="Ray actors (default: the cluster's CPUs; a local Ray: this machine's cores)",
    )
    p.add_argument(
        "--shard-size", type=int, default=None, help="samples per shard (default: --batch-size)"
    )
    p.add_argument(
        "--device",
        choices=DEVICES,
        default="cpu",
        help="torch device of the integer reference (Lava, sinabs, emulators: CPU)",
    )


def run(args: argparse.Namespace) -> int:
    from nrf_deploy.inputs import check_count
    from nrf_deploy.seal import load_export, rebuild_and_compare

    for flag, value in (
        ("--samples", args.samples),
        ("--batch-size", args.batch_size),
        ("--timesteps", args.timesteps),
        ("--shard-size", args.shard_size),
        ("--workers", args.workers),
    ):
        check_count(value, flag)
    check_count(args.witness_samples, "--witness-samples", 0)
    check_count(args.seed, "--seed", 0)
    report = Path(args.report) if args.report else Path(args.export_dir) / "verify-report.json"
    _check_report_path(report, Path(args.export_dir), args.input)
    loaded = load_export(args.export_dir, args.allow_modified)
    target, deployment, seal = loaded.target, loaded.deployment, loaded.seal
    sidecar = deployment.sidecar
    if seal.modified:
        print(
            f"warning: MODIFIED export (--allow-modified): {seal.describe()}; "
            "this run is an experiment, not a verification of the export",
            file=sys.stderr,
        )
    if args.rebuild:
        print(f"rebuild: {rebuild_and_compare(Path(args.export_dir), sidecar)}")
    if getattr(args, "hardware_trace", None):
        return run_hardware_trace(args, target, deployment)
    inputs = _inputs(args, deployment)
    witness = min(args.witness_samples, inputs.samples)
    result = _verify_sharded(args, target, deployment, inputs, witness)
    approximations = [str(a) for a in sidecar.get("approximations") or []]
    source = args.input or f"random events rate {args.rate} seed {args.seed}"
    write_json(
        report,
        result.record(
            seal.digest,
            seal.describe() if seal.modified else None,
            {"samples": inputs.samples, "timesteps": inputs.timesteps, "source": source},
            approximations,
            args.rebuild,
        ),
    )
    print(result.summary())
    for note in (
        approximations
    ):  # opt-in approximations the export made: bit-exact to the approximated model
        print(f"note: this export approximates the model: {note}")
    modified = " of a MODIFIED export (--allow-modified)" if seal.modified else ""
    if not result.ok:
        diff = report.with_name("verify-diff.npz")
        _write_diff(result, rerun_first_divergences(target, deployment, inputs, result), diff)
        raise VerificationFailed(
            f"{target.name}: implementations disagree{modified}",
            str(args.export_dir),
            f"see {report} and {diff}; the first divergence is printed above",
        )
    print(
        f"verify: OK{modified} — {target.name}, {inputs.samples} samples x {inputs.timesteps} "
        f"steps, 0 mismatches; report {report}"
    )
    return 0


def _inputs(args: argparse.Namespace, deployment) -> InputSet:
    """The user's file or shard folder (opened, not loaded), else generated random events."""
    if args.input:
        inputs = InputSet.open(args.input, deployment.input_shape)
        return inputs.limit(args.samples) if args.samples else inputs
    t = args.timesteps or deployment.timesteps
    x = random_events(deployment.input_shape, t, args.samples or 64, args.rate, args.seed)
    return InputSet.from_array(x, f"random events rate {args.rate} seed {args.seed}")


def _check_report_path(report: Path, export_dir: Path, input_path: str | None) -> None:
    """``--report`` may not overwrite a file of the export (only verify's outputs) or the input."""
    from nrf_deploy.exporting import refuse_output_among_inputs
    from nrf_deploy.seal import VERIFY_OUTPUTS

    inside = export_dir.resolve() in report.resolve().parents
    if (
        report.resolve() == export_dir.resolve()
        or (inside and report.name not in VERIFY_OUTPUTS)
        or (inside and report.parent.resolve() != export_dir.resolve())
    ):
        raise NrfError(
            f"--report '{report}' would write into the export's own files",
            "--report",
            f"write it elsewhere, or use the default {export_dir / 'verify-report.json'}",
        )
    refuse_output_among_inputs(report, [input_path], "--report")


def _verify_sharded(
    args: argparse.Namespace, target, deployment, inputs: InputSet, witness: int
) -> VerifyResult:
    """Local or Ray engine over shards of --shard-size samples; progress on stderr."""
    from nrf_deploy.shard import make_plan, verify_inputs

    plan = make_plan(target, deployment, witness, args.batch_size, args.device)
    shard_size = args.shard_size or args.batch_size
    progress = _progress_printer(target.name) if progress_enabled() else None
    if args.engine == "ray":
        from nrf_deploy.ray_engine import verify_on_ray

        return verify_on_ray(
            args.export_dir, target, inputs, plan, shard_size, args.address, args.workers, progress
        )
    return verify_inputs(target, deployment, inputs, plan, shard_size, progress)


def _progress_printer(name: str):
    def show(done: int, total: int, seconds: float) -> None:
        rate = done / seconds if seconds > 0 else 0.0
        end = "\n" if done >= total else ""
        print(
            f"\rverify {name}: {done}/{total} samples, {rate:.1f} samples/s",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return show


def rerun_first_divergences(
    target, deployment, inputs: InputSet, result: VerifyResult
) -> dict[str, dict[str, Trace]]:
    """Both sides' traces of each failed comparison's first diverging sample, run again."""
    from nrf_deploy.shard import rerun_sample

    return {
        c.other: rerun_sample(target, deployment, inputs, c.first.sample, (c.reference, c.other))
        for c in result.comparisons
        if not c.ok and c.first is not None
    }


def _write_diff(result: VerifyResult, traces: dict[str, dict[str, Trace]], path: Path) -> None:
    """Both sides' traces ([T, *node_shape]) of the first diverging sample of each failure."""
    arrays = {}
    for other, by_backend in traces.items():
        for name, trace in by_backend.items():
            for key, arr in trace.arrays(f"{name}/").items():
                arrays[f"{other}/{key}"] = arr[:, 0]
    write_npz(path, arrays)
