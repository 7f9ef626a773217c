"""Errors every x0ctl layer raises, and the exit code each one maps to.

The core packages raise these; only the CLI turns them into a one-line message and an exit code.
Messages must never contain key material: callers pass descriptions, never secret bytes.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes. Documented in README.md; scripts depend on them, never renumber."""

    OK = 0
    CHECK_FAILED = 1  # the command ran and the thing it checks is broken (KAT failure, SLO breach)
    USAGE = 2  # bad flags, bad input file, unknown algorithm or backend
    ENVIRONMENT = 3  # a dependency or environment requirement is missing (liboqs, guard refusal)
    IO = 4  # reading/writing files, the network, a remote server, a lock held by someone else
    NO_DATA = 5  # an SLO/gate query returned no data: never treated as ok
    PAUSED = 6  # a rollout stopped paused or inconclusive: neither promoted nor rolled back
    INTERNAL = 70  # EX_SOFTWARE: a bug in x0ctl, never an expected failure
    INTERRUPTED = 130  # Ctrl-C or an aborted prompt (128 + SIGINT)
    BROKEN_PIPE = 141  # stdout closed by its reader (`x0ctl ... | head`): 128 + SIGPIPE, quietly, as any Unix tool


class X0ctlError(Exception):
    """An expected failure: shown as one line `x0ctl: error: ...`, never as a traceback."""

    exit_code: ExitCode = ExitCode.CHECK_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class CheckFailed(X0ctlError):
    exit_code = ExitCode.CHECK_FAILED


class UsageError(X0ctlError):
    exit_code = ExitCode.USAGE


class EnvironmentProblem(X0ctlError):
    exit_code = ExitCode.ENVIRONMENT


class IOFailure(X0ctlError):
    exit_code = ExitCode.IO


class NoData(X0ctlError):
    """A query that must have data returned none: never treated as success (exit 5)."""

    exit_code = ExitCode.NO_DATA


class Paused(X0ctlError):
    """A rollout stopped neither promoted nor rolled back: paused or inconclusive (exit 6)."""

    exit_code = ExitCode.PAUSED
