"""Progress for long work: tqdm bars on a terminal, timestamped lines in a log, nothing with
--quiet.

On a terminal (stderr is a TTY) :func:`progress_bar` returns a tqdm bar. Otherwise (``make demo >
log``, CI) it returns a :class:`LogBar` that prints ``HH:MM:SS desc: n/total unit (elapsed)`` to
stdout when it starts, at most every :data:`LOG_EVERY_S` seconds while it advances, and — from a
heartbeat thread — at least every :data:`HEARTBEAT_S` seconds while one long call blocks it. The
CLI's ``--quiet`` (:func:`set_quiet`) silences both.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

LOG_EVERY_S = 10.0
"""Least wall-clock seconds between two progress lines of an advancing bar."""
HEARTBEAT_S = 20.0
"""Most wall-clock seconds without a line while a bar is open (log mode)."""

_state = {"quiet": False}


def set_quiet(quiet: bool) -> None:
    """Silence every progress bar and stage line of this process (``--quiet``)."""
    _state["quiet"] = bool(quiet)


def quiet() -> bool:
    return _state["quiet"]


def on_terminal() -> bool:
    """True when progress goes to an interactive terminal (tqdm bars), False for a log."""
    return sys.stderr.isatty()


def stamp() -> str:
    return time.strftime("%H:%M:%S")


def stage(message: str) -> None:
    """One timestamped line for a stage that starts or ends (stdout; silent with --quiet)."""
    if quiet():
        return
    if on_terminal():
        from tqdm import tqdm

        tqdm.write(message)
    else:
        print(f"{stamp()} {message}", flush=True)


class LogBar:
    """A tqdm-like bar for logs: ``update``, ``set_postfix_str``, ``set_postfix``, ``close``."""

    def __init__(self, total: int | None, desc: str, unit: str) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, 0
        self.postfix = ""
        self.started = self.last = time.monotonic()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._print("started")
        self._thread = threading.Thread(target=self._heartbeat, daemon=True)
        self._thread.start()

    def _line(self, note: str = "") -> str:
        count = f"{self.n:,}" + (f"/{self.total:,}" if self.total else "")
        plural = self.unit + ("es" if self.unit.endswith(("ch", "sh", "s", "x")) else "s")
        unit = self.unit if self.n == 1 and not self.total else plural
        elapsed = time.monotonic() - self.started
        extra = f", {self.postfix}" if self.postfix else ""
        tail = f" {note}" if note else ""
        return f"{stamp()} {self.desc}: {count} {unit} ({elapsed:.0f} s{extra}){tail}"

    def _print(self, note: str = "") -> None:
        with self._lock:
            print(self._line(note), flush=True)
            self.last = time.monotonic()

    def _heartbeat(self) -> None:
        while not self._closed.wait(1.0):
            if time.monotonic() - self.last >= HEARTBEAT_S:
                self._print("still working")

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self.last >= LOG_EVERY_S:
            self._print()

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._print("done")

    def __enter__(self) -> LogBar:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Silent:
    n = 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix_str(self, text: str, refresh: bool = True) -> None: ...

    def set_postfix(self, **values: Any) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> _Silent:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None: ...


def progress_bar(
    total: int | None,
    desc: str,
    unit: str = "item",
    enabled: bool = True,
    leave: bool = True,
    position: int | None = None,
):
    """tqdm on a terminal, a :class:`LogBar` in a log, a silent bar when quiet or not `enabled`."""
    if quiet() or not enabled:
        return _Silent()
    if on_terminal():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, leave=leave, position=position)
    return LogBar(total, desc, unit)
