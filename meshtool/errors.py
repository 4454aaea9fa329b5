"""The one error type that reaches users, and the exit codes it maps to.

Every user-facing failure is a MeshtoolError. The CLI's single handler prints it
(one line per finding, naming file:line and the field) and exits with its code.
Anything else escaping a command is a bug and is reported as one.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple


class ExitCode(IntEnum):
    """Named exit codes (the sysexits.h values istioctl also uses)."""

    OK = 0
    ERROR = 1
    USAGE = 64  # EX_USAGE: bad flags or arguments
    DATAERR = 65  # EX_DATAERR: the input files are wrong
    ISSUES = 79  # analysis found issues at or above the failure threshold


# Records on every command's start-up path are NamedTuples, not dataclasses: a frozen dataclass
# costs ~0.5 ms to define (it compiles its methods at import), a NamedTuple ~0.07 ms.
class Finding(NamedTuple):
    """One problem located in an input: file:line, the resource, the field path."""

    message: str
    file: str | None = None
    line: int | None = None
    field: str | None = None  # e.g. "spec.route[1].weight"
    resource: str | None = None  # e.g. "RouteRule/reviews-canary"

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.resource:
            parts.append(self.resource)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return _one_line(": ".join(parts))

    def to_dict(self) -> dict:
        return {k: v for k, v in self._asdict().items() if v is not None}


def _one_line(text: str) -> str:
    """A finding is one line: names and values from the input may carry line breaks."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class MeshtoolError(Exception):
    """Base of every user-facing failure. Subclasses choose the exit code."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str = "", *, findings: list[Finding] | None = None,
                 hint: str | None = None):
        self.findings = list(findings or [])
        self.hint = hint
        if not message and self.findings:
            message = str(self.findings[0])
        super().__init__(message)

    def lines(self) -> list[str]:
        """The text to print: one line per finding, or the message."""
        out = [str(f) for f in self.findings] if self.findings else [str(self)]
        if self.hint:
            out.append(f"hint: {self.hint}")
        return out


class UsageError(MeshtoolError):
    """Bad flags, arguments or combinations of them."""

    exit_code = ExitCode.USAGE


class DataError(MeshtoolError):
    """The input data is invalid: broken YAML, schema or semantic errors."""

    exit_code = ExitCode.DATAERR

    @classmethod
    def at(cls, message: str, file: str | None = None, line: int | None = None,
           field: str | None = None, resource: str | None = None) -> "DataError":
        return cls(findings=[Finding(message, file, line, field, resource)])


class NotFoundError(MeshtoolError):
    """A named object does not exist (in the store, the cluster, the mesh)."""


class ConflictError(MeshtoolError):
    """A write lost a race: the object changed since the given resourceVersion."""


class AlreadyExistsError(MeshtoolError):
    """create of an object that already exists."""


class IssuesFound(MeshtoolError):
    """Analysis found issues at or above the failure threshold."""

    exit_code = ExitCode.ISSUES
