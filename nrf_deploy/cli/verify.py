"""``nrf-deploy verify OUT_DIR``: exit 0 only if every backend agrees with the reference."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nrf_deploy.cli.common import load_array, progress_enabled
from nrf_deploy.cli.hwtrace import add_arguments as add_hardware_trace_arguments
from nrf_deploy.cli.hwtrace import run_hardware_trace
from nrf_deploy.deployment import read_sidecar
from nrf_deploy.errors import NrfError, VerificationFailed
from nrf_deploy.fileio import write_json, write_npz
from nrf_deploy.inputs import check_input_shape, random_events
from nrf_deploy.targets import get_target
from nrf_deploy.verify import VerifyResult, verify_deployment


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify", help="check an export bit for bit: reference vs emulator vs vendor simulator",
        description="Run the target's integer reference and emulator on N inputs (random events by "
                    "default) and its vendor simulator (Lava, sinabs, ...) on M of them. Exit 0 only "
                    "if outputs and states agree everywhere; otherwise print the first divergence "
                    "and write a diff report (verify-report.json, verify-diff.npz).")
    p.add_argument("export_dir", help="directory written by 'nrf-deploy export'")
    p.add_argument("--samples", type=int, default=64, help="inputs for reference and emulator (default 64)")
    p.add_argument("--witness-samples", "--lava-samples", dest="witness_samples", type=int, default=4,
                   help="inputs also run on the vendor simulator (default 4; 0 skips it)")
    p.add_argument("--input", default=None, help=".npy inputs [T, B, *input_shape] instead of random events")
    p.add_argument("--timesteps", type=int, default=None, help="timesteps of random inputs (default: export's)")
    p.add_argument("--rate", type=float, default=0.1, help="event probability per pixel and step (random inputs)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--batch-size", type=int, default=32, help="samples per backend call")
    p.add_argument("--report", default=None, help="where to write the JSON report (default: EXPORT_DIR/verify-report.json)")
    add_hardware_trace_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    sidecar = read_sidecar(args.export_dir)
    target = get_target(sidecar["target"])
    deployment = target.load(Path(args.export_dir))
    if getattr(args, "hardware_trace", None):
        return run_hardware_trace(args, target, deployment)
    for flag, value in (("--samples", args.samples), ("--batch-size", args.batch_size)):
        if value < 1:
            raise NrfError(f"{flag} must be at least 1", flag, f"e.g. {flag} 16")
    if args.input:
        x = check_input_shape(load_array(args.input), deployment.input_shape, args.input)
    else:
        t = args.timesteps or deployment.timesteps
        x = random_events(deployment.input_shape, t, args.samples, args.rate, args.seed)
    witness = min(args.witness_samples, x.shape[1])
    result = _verify_with_progress(target, deployment, x, witness, args.batch_size)
    report = Path(args.report) if args.report else Path(args.export_dir) / "verify-report.json"
    approximations = [str(a) for a in sidecar.get("approximations") or []]
    write_json(report, {**result.to_dict(), "inputs": {"samples": int(x.shape[1]), "timesteps": int(x.shape[0]),
                                                      "source": args.input or f"random events rate {args.rate} seed {args.seed}"},
                        "approximations": approximations})
    print(result.summary())
    for note in approximations:   # opt-in approximations the export made: bit-exact to the approximated model
        print(f"note: this export approximates the model: {note}")
    if not result.ok:
        diff = report.with_name("verify-diff.npz")
        _write_diff(result, diff)
        raise VerificationFailed(f"{target.name}: implementations disagree", str(args.export_dir),
                                 f"see {report} and {diff}; the first divergence is printed above")
    print(f"verify: OK — {target.name}, {x.shape[1]} samples x {x.shape[0]} steps, 0 mismatches; report {report}")
    return 0


def _verify_with_progress(target, deployment, x: np.ndarray, witness: int, batch: int) -> VerifyResult:
    from tqdm import tqdm

    backends = target.backend_names(deployment)
    total = sum(witness if b == target.witness_for(deployment) else x.shape[1] for b in backends)
    with tqdm(total=total, desc=f"verify {target.name}", unit="sample",
              disable=not progress_enabled()) as bar:
        def tick(name: str, n: int) -> None:
            bar.set_postfix_str(name)
            bar.update(n)
        return verify_deployment(target, deployment, x, witness, batch, progress=tick)


def _write_diff(result: VerifyResult, path: Path) -> None:
    """Both sides' traces for the first diverging sample of each failed comparison."""
    arrays = {}
    for c in result.comparisons:
        if c.ok or c.first is None:
            continue
        s = c.first.sample
        for name in (c.reference, c.other):
            for key, arr in result.traces[name].arrays(f"{name}/").items():
                arrays[f"{c.other}/{key}"] = arr[:, s]
    write_npz(path, arrays)
