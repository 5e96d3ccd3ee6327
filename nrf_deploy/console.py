"""The ``nrf-deploy`` console script: imports nothing heavy before it can catch Ctrl-C, so an
interrupt at any moment (even while torch is being imported) ends in one line and exit 130."""
from __future__ import annotations

import sys

INTERRUPTED = 130


def interrupted() -> int:
    """Print the one line and return 130; later Ctrl-Cs during shutdown are ignored."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        print("interrupted", file=sys.stderr)
    except Exception:  # noqa: BLE001 — stderr closed: the exit code still says it
        pass
    return INTERRUPTED


def entry() -> None:
    try:
        from nrf_deploy.cli import main

        code = main()
    except KeyboardInterrupt:
        code = interrupted()
    sys.exit(code)


if __name__ == "__main__":
    entry()
