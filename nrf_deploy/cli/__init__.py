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

COMMANDS = ["demo", "train", "inspect", "run", "export", "verify", "report", "targets"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nrf-deploy",
        description="Deploy spiking networks from NIR to neuromorphic chips, verified bit for bit.",
        epilog="Exit codes: 0 success, 1 verification mismatch, 2 bad input, unsupported model or "
               "modified export, 3 a bug in nrf-deploy, 130 interrupted (Ctrl-C).")
    parser.add_argument("--version", action="version", version=f"nrf-deploy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"nrf_deploy.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"nrf_deploy.cli.{name}":
                continue  # command not part of this build yet
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``nrf-deploy`` console script; returns the exit code."""
    from nrf_deploy.console import interrupted

    warnings.filterwarnings("ignore")
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        if extra and not getattr(args, "accepts_extra", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.extra = extra
        return int(args.func(args) or 0)
    except NrfError as exc:
        print(exc.format(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return interrupted()
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT_ERRNOS:
            return _internal_error(exc)
        where = exc.filename or "file system"
        print(f"error: {exc.strerror or exc}\n  where: {where}\n  what to do: check the path, "
              "its permissions and the free disk space", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory\n  what to do: use fewer samples, timesteps or a smaller model",
              file=sys.stderr)
        return 2
    except Exception as exc:  # a bug in nrf-deploy, not the user's input
        return _internal_error(exc)


_ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS,
                                 errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.EMFILE})
"""OSErrors the file system raises for the user's paths or machine (disk full, permissions,
read-only, a file where a folder is needed): exit 2 with the message, not an internal error."""


def _internal_error(exc: BaseException) -> int:
    if os.environ.get("NRF_DEBUG"):
        traceback.print_exc()
    print(f"internal error: {type(exc).__name__}: {exc}\n  this is a bug in nrf-deploy; "
          "re-run with NRF_DEBUG=1 for the traceback and report it", file=sys.stderr)
    return 3


if __name__ == "__main__":
    from nrf_deploy.console import entry

    entry()
