"""``nrf-deploy targets``: list the hardware targets, their backends and export options.

Wrapped to the terminal's width (at most 100 columns; 80 when unknown) so it reads in any window."""

from __future__ import annotations

import argparse
import shutil
import textwrap


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "targets",
        help="list targets, their backends and export options",
        description="List every registered hardware target: what it models, its backends "
        "(reference, emulator, vendor simulator) and its export options.",
    )
    p.set_defaults(func=run)


def _wrap(text: str, indent: int, width: int, first: str = "") -> list[str]:
    pad = " " * indent
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=first or pad,
        subsequent_indent=pad,
        break_on_hyphens=False,
    ) or [first.rstrip()]


def option_lines(parser: argparse.ArgumentParser, width: int) -> list[str]:
    """Each option as ``--flag VALUE`` then its help, wrapped and indented."""
    lines = []
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        flag = ", ".join(action.option_strings)
        if action.nargs != 0:
            flag += " " + (
                action.metavar
                or (
                    "{" + ",".join(map(str, action.choices)) + "}"
                    if action.choices
                    else action.dest.split("_")[-1].upper()
                )
            )
        lines.append(f"    {flag}")
        lines += _wrap(action.help or "", 8, width)
    return lines


def describe(name: str, width: int) -> list[str]:
    from nrf_deploy.errors import NrfError
    from nrf_deploy.targets import get_target

    try:
        target = get_target(name)
    except NrfError as exc:
        return [f"{name}: unavailable ({exc.what})"]
    lines = _wrap(target.summary, 2, width, first=f"{name}: ")
    lines.append("  backends:")
    col = max(len(b.name) for b in target.backend_table) + 2
    for b in target.backend_table:
        where = f" [witness environment '{b.env}': {_env_status(b.env)}]" if b.env else ""
        lines += _wrap(
            f"({b.role}) {b.summary}{where}", 4 + col, width, first=f"    {b.name:<{col}}"
        )
    parser = argparse.ArgumentParser(add_help=False)
    target.add_export_arguments(parser)
    options = option_lines(parser, width)
    lines.append(
        f"  export options (nrf-deploy export MODEL --target {name} ...):"
        if options
        else "  no target-specific export options"
    )
    return lines + options


def run(args: argparse.Namespace) -> int:
    from nrf_deploy.targets import target_names

    width = min(shutil.get_terminal_size((80, 24)).columns, 100) - 1
    for name in target_names():
        print("\n".join(describe(name, width)))
        print()
    return 0


def _env_status(name: str) -> str:
    """``installed``, or what to do (``not installed: nrf-deploy witnesses install lava``)."""
    from nrf_deploy.witness.run import missing

    return missing(name) or "installed"
