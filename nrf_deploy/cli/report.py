"""``nrf-deploy report OUT_DIR [OUT_DIR ...] -o report.html``."""
from __future__ import annotations

import argparse

from nrf_deploy.cli.common import load_array


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="latency, energy, resources and accuracy of one or more exports",
                       description="Run each export's reference on the same inputs, count synaptic operations "
                                   "and spikes (NeuroBench definitions), apply each chip's published constants "
                                   "and write a self-contained HTML report plus report.json beside it.")
    p.add_argument("exports", nargs="+", help="directories written by 'nrf-deploy export'")
    p.add_argument("-o", "--output", default="report.html", help="HTML file (report.json goes next to it)")
    p.add_argument("--input", default=None, help=".npy inputs [T, B, *input_shape] (default: random events)")
    p.add_argument("--samples", type=int, default=8, help="random input samples (default 8)")
    p.add_argument("--energy-constant", action="append", default=[], metavar="CHIP.NAME=VALUE",
                   help="supply or override a constant, e.g. loihi.barrier_sync_ns=500 (repeatable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nrf_deploy.profile import parse_overrides
    from nrf_deploy.report import build_report, summary_table

    x = load_array(args.input) if args.input else None
    report = build_report(args.exports, args.output, x=x, samples=args.samples,
                          overrides=parse_overrides(args.energy_constant))
    print(summary_table(report))
    print(f"wrote {args.output} and report.json")
    return 0
