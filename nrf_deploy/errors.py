"""One error type for every user-facing failure: what went wrong, where, and what to do."""

from __future__ import annotations


class NrfError(Exception):
    """A problem with the user's input or request (not a bug in nrf-deploy).

    The CLI prints it as one message and exits with :attr:`exit_code` (2 unless stated).
    """

    exit_code = 2

    def __init__(self, what: str, where: str | None = None, hint: str | None = None):
        self.what, self.where, self.hint = what, where, hint
        super().__init__(self.format())

    def format(self) -> str:
        text = f"error: {self.what}"
        if self.where:
            text += f"\n  where: {self.where}"
        if self.hint:
            text += f"\n  what to do: {self.hint}"
        return text


class GraphError(NrfError):
    """A NIR graph that is malformed or uses something nrf-deploy does not support."""


class DoesNotFitError(NrfError):
    """A graph that does not fit the chip's resources; `violations` lists every problem."""

    def __init__(
        self, what: str, violations: list[str], where: str | None = None, hint: str | None = None
    ):
        self.violations = list(violations)
        detail = what + "".join(f"\n    - {v}" for v in self.violations)
        super().__init__(detail, where, hint)


class RangeError(NrfError):
    """A value that cannot be represented in the chip's number format."""


class VerificationFailed(NrfError):
    """Implementations disagree; exit code 1 so CI distinguishes it from bad input (2)."""

    exit_code = 1
