"""``nrf-deploy targets``: list the hardware targets, their backends and export options."""
from __future__ import annotations

import argparse

from nrf_deploy.errors import NrfError
from nrf_deploy.targets import get_target, target_names


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("targets", help="list targets, their backends and export options")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for name in target_names():
        try:
            target = get_target(name)
        except NrfError as exc:
            print(f"{name}: unavailable ({exc.what})\n")
            continue
        print(f"{name}: {target.summary}")
        for b in target.backend_table:
            print(f"  backend {b.name} ({b.role}): {b.summary}")
        parser = argparse.ArgumentParser(prog=f"nrf-deploy export MODEL --target {name}", add_help=False)
        target.add_export_arguments(parser)
        options = parser.format_help().split("\n", 2)[-1].strip()
        print("  " + ("\n  ".join(options.splitlines()) if options else "no target-specific options"))
        print()
    return 0
