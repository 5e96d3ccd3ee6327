"""``nrf-deploy witnesses``: the vendor tools' environments — list, install, remove.

    nrf-deploy witnesses                      every environment: status, Python, pins, size
    nrf-deploy witnesses install NAME|all     create (or repair) environments; re-runs reuse
    nrf-deploy witnesses remove NAME|all      delete them
"""

from __future__ import annotations

import argparse
import shutil
import textwrap

from nrf_deploy.errors import NrfError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "witnesses",
        help="list or install the vendor tools' environments (Lava, sinabs, xylosim, ...)",
        description="Vendor simulators and the field's tools run in environments of their own "
        "(their own Python, numpy and pins), never in nrf-deploy's. List them, or create them "
        "with 'install'. They live under $NRF_DEPLOY_WITNESS_HOME (default "
        "~/.cache/nrf-deploy/witnesses).",
    )
    p.add_argument("action", nargs="?", choices=("list", "install", "remove"), default="list")
    p.add_argument("names", nargs="*", metavar="NAME", help="environment names, or 'all'")
    p.add_argument("--force", action="store_true", help="reinstall even when installed")
    p.add_argument("--json", action="store_true", help="list as JSON")
    p.set_defaults(func=run)


def _selected(names: list[str]) -> list:
    from nrf_deploy.witness.envs import environments, get_env

    if not names or names == ["all"]:
        return list(environments().values())
    return [get_env(n) for n in names]


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(_selected(args.names), args.json)
    if not args.names:
        raise NrfError(
            f"'witnesses {args.action}' needs a name",
            "nrf-deploy witnesses",
            f"e.g. nrf-deploy witnesses {args.action} all",
        )
    if args.action == "install":
        return _install(_selected(args.names), args.force)
    from nrf_deploy.witness.install import remove

    for spec in _selected(args.names):
        print(f"{spec.name}: {'removed' if remove(spec) else 'was not installed'}")
    return 0


def _install(specs: list, force: bool) -> int:
    from nrf_deploy.progress import stage
    from nrf_deploy.witness.install import install

    failed = []
    for spec in specs:
        try:
            install(spec, force=force, log=stage)
        except NrfError as exc:
            print(exc.format())
            failed.append(spec.name)
    if failed:
        raise NrfError(
            f"{len(failed)} of {len(specs)} witness environments could not be installed: "
            f"{', '.join(failed)}",
            "nrf-deploy witnesses install",
            "see the messages above",
        )
    return 0


def describe(spec) -> dict:
    """One environment as the listing shows it (JSON types)."""
    from nrf_deploy.witness.install import locate

    env = locate(spec)
    manifest = env.manifest() or {}
    return {
        "name": spec.name,
        "status": env.status,
        "summary": spec.summary,
        "python": manifest.get("python") or f"{spec.python} (wanted)",
        "versions": manifest.get("versions") or {n: "-" for n in spec.recorded_names()},
        "size_bytes": manifest.get("size_bytes"),
        "own_bytes": manifest.get("own_bytes"),
        "path": str(env.path),
        "serves": list(spec.serves),
        "notes": list(spec.notes),
        "prepared": manifest.get("prepared", {}),
    }


def _list(specs: list, as_json: bool) -> int:
    rows = [describe(s) for s in specs]
    if as_json:
        import json

        print(json.dumps(rows, indent=2))
        return 0
    width = min(shutil.get_terminal_size((80, 24)).columns, 100)
    for row in rows:
        size = f", {row['size_bytes'] / 1e6:,.0f} MB" if row["size_bytes"] else ""
        if row["size_bytes"] and row["own_bytes"] is not None:
            size += f", {row['own_bytes'] / 1e6:,.0f} MB not shared with uv's cache"
        print(f"{row['name']}: {row['status']} (Python {row['python']}{size})")
        wrap = textwrap.TextWrapper(width=width, initial_indent="    ", subsequent_indent="    ")
        print(wrap.fill(row["summary"]))
        pins = ", ".join(f"{k} {v}" for k, v in row["versions"].items())
        print(wrap.fill(f"packages: {pins}"))
        if row["serves"]:
            print(wrap.fill(f"serves: {'; '.join(row['serves'])}"))
        for note in row["notes"]:
            print(wrap.fill(f"note: {note}"))
        if row["status"] != "installed":
            print(wrap.fill(f"install: nrf-deploy witnesses install {row['name']}"))
    if not rows:
        print("no witness environments are declared")
    return 0
