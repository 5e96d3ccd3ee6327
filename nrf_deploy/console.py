"""The ``nrf-deploy`` console script: imports nothing heavy before it can catch Ctrl-C, so an
interrupt at any moment (even while torch is being imported) ends in one line and exit 130.
(Only an interrupt while Python itself starts, before any of our code runs — importing ``site``,
the first ~50 ms — is outside our reach.)"""

from __future__ import annotations

import sys

INTERRUPTED = 130


def interrupted() -> int:
    """Print the one line and return 130; later Ctrl-Cs during shutdown are ignored."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        print("interrupted", file=sys.stderr)
    except Exception:  # noqa: BLE001, S110 — stderr closed: the exit code still says it
        pass
    return INTERRUPTED


def entry() -> None:
    try:
        from nrf_deploy.cli import main

        code = main()
    except KeyboardInterrupt:
        code = interrupted()
    if code == INTERRUPTED:
        _exit_now(code)
    _ignore_interrupts()  # the work is done and written: a late Ctrl-C must not change the code
    sys.exit(code)


def _ignore_interrupts() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _exit_now(code: int) -> None:
    """Exit without interpreter finalisation. CPython remembers a KeyboardInterrupt that went
    through C-level ``PyRun_*`` code (e.g. inside a library import) even once it was handled, and
    then kills itself with SIGINT at exit (status -2 instead of 130); our own clean-up (``finally``
    blocks of the atomic writers) has already run when we get here."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001, S110 — a closed stream: nothing left to flush
            pass
    os._exit(code)


if __name__ == "__main__":
    entry()
