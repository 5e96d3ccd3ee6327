"""``nrf-deploy verify DIR --hardware-trace REC``: check a recording from a real chip against the
target's emulator (format and alignment rules: :mod:`nrf_deploy.hwtrace`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nrf_deploy.errors import VerificationFailed
from nrf_deploy.fileio import write_json, write_npz
from nrf_deploy.hwtrace import READOUT_RULES, read_recording, verify_recording
from nrf_deploy.target import Deployment, Target


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The hardware-trace flags of ``nrf-deploy verify``."""
    p.add_argument(
        "--hardware-trace",
        default=None,
        metavar="REC",
        help="check a chip recording (.npz: input, spikes/<node>, v/<node>, ...; or "
        ".csv: t, input, spike, v) against the emulator instead of random inputs",
    )
    p.add_argument(
        "--probe-offset",
        type=int,
        default=0,
        metavar="K",
        help="the recording is K timesteps late (probe latency; reported, default 0)",
    )
    p.add_argument(
        "--readout-rule",
        choices=READOUT_RULES,
        default="exact",
        help="spike-step-differs: report state differences at the emulator's spike "
        "steps separately ('read-out differs at spike steps'), not as mismatches",
    )


def run_hardware_trace(args: argparse.Namespace, target: Target, deployment: Deployment) -> int:
    """Compare, print the verdict, write the JSON report; exit 1 (VerificationFailed) on
    mismatch."""
    rec = read_recording(args.hardware_trace)
    result = verify_recording(target, deployment, rec, args.probe_offset, args.readout_rule)
    report = Path(args.report) if args.report else Path(args.export_dir) / "hwtrace-report.json"
    write_json(report, result.to_dict())
    print(result.summary())
    if not result.ok:
        diff = report.with_name("hwtrace-diff.npz")
        write_npz(diff, result.diff_arrays())
        raise VerificationFailed(
            f"{target.name}: the recording disagrees with the emulator",
            args.hardware_trace,
            f"see {report} and {diff} (both sides of the first diverging "
            "sample, aligned); the first divergence is printed above",
        )
    print(
        f"verify: OK — recording {args.hardware_trace} agrees with the {target.name} emulator, "
        f"0 mismatches; report {report}"
    )
    return 0
