"""``nrf-deploy`` command line. Each command lives in its own module exposing
``add_parser(subparsers)`` and ``run(args) -> int``; COMMANDS lists them in help order."""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import traceback
import warnings

from nrf_deploy import __version__
from nrf_deploy.errors import NrfError

COMMANDS = [
    "demo",
    "train",
    "convert",
    "inspect",
    "run",
    "export",
    "verify",
    "report",
    "targets",
    "witnesses",
]


QUIET_HELP = "no progress bars or progress lines (results and errors still print)"


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `argv` asking for ``export --target T --help``, T's options too."""
    parser = argparse.ArgumentParser(
        prog="nrf-deploy",
        description="Deploy spiking networks from NIR to neuromorphic chips, verified bit for bit.",
        epilog="Exit codes: 0 success, 1 verification mismatch, 2 bad input, unsupported model or "
        "modified export, 3 a bug in nrf-deploy, 130 interrupted (Ctrl-C).",
    )
    parser.add_argument("--version", action="version", version=f"nrf-deploy {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="threads per run (default: 1; every core from batch 64 on an idle "
        "machine; see docs/performance.md)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"nrf_deploy.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"nrf_deploy.cli.{name}":
                continue  # command not part of this build yet
            raise
        module.add_parser(sub)
        if name in sub.choices:  # `nrf-deploy demo -q` as well as `nrf-deploy -q demo`
            sub.choices[name].add_argument(
                "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP
            )
    if argv is not None and "export" in sub.choices:
        _add_target_options(sub.choices["export"], argv)
    return parser


def _add_target_options(export: argparse.ArgumentParser, argv: list[str]) -> None:
    """For ``export --target T --help``: list T's own options in the help (parsed separately)."""
    if not ({"-h", "--help"} & set(argv)) or "export" not in argv:
        return
    name = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--target"), None)
    name = name or next((a.split("=", 1)[1] for a in argv if a.startswith("--target=")), None)
    if name is None:
        export.epilog = "Each target has its own options: nrf-deploy export --target T --help."
        return
    from nrf_deploy.targets import get_target

    try:
        target = get_target(name)
    except NrfError:
        return  # argparse's own message about --target choices follows
    group = export.add_argument_group(f"options of target '{name}'")
    target.add_export_arguments(group)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``nrf-deploy`` console script; returns the exit code."""
    from nrf_deploy.console import interrupted

    warnings.filterwarnings("ignore")
    try:
        parser = build_parser(sys.argv[1:] if argv is None else argv)
        args, extra = parser.parse_known_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        if extra and not getattr(args, "accepts_extra", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.extra = extra
        from nrf_deploy.progress import set_quiet

        set_quiet(args.quiet)
        if args.threads is not None:
            from nrf_deploy.threads import set_threads

            set_threads(args.threads)
        return int(args.func(args) or 0)
    except NrfError as exc:
        print(exc.format(), file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `nrf-deploy targets | head`: the reader left, nothing to say
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return interrupted()
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT_ERRNOS:
            return _internal_error(exc)
        where = exc.filename or "file system"
        print(
            f"error: {exc.strerror or exc}\n  where: {where}\n  what to do: check the path, "
            "its permissions and the free disk space",
            file=sys.stderr,
        )
        return 2
    except MemoryError:
        print(
            "error: out of memory\n  what to do: use fewer samples, timesteps or a smaller model",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:  # noqa: BLE001 — a bug in nrf-deploy, not the user's input
        return _internal_error(exc)


_ENVIRONMENT_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.ENAMETOOLONG,
        errno.EMFILE,
    }
)
"""OSErrors the file system raises for the user's paths or machine (disk full, permissions,
read-only, a file where a folder is needed): exit 2 with the message, not an internal error."""


def _internal_error(exc: BaseException) -> int:
    if os.environ.get("NRF_DEBUG"):
        traceback.print_exc()
    print(
        f"internal error: {type(exc).__name__}: {exc}\n  this is a bug in nrf-deploy; "
        "re-run with NRF_DEBUG=1 for the traceback and report it",
        file=sys.stderr,
    )
    return 3


if __name__ == "__main__":
    from nrf_deploy.console import entry

    entry()
