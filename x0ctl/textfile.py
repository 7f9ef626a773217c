"""Reading the text files operators name on the command line (specs, plans, scenarios)."""

from __future__ import annotations

from pathlib import Path

from x0ctl.errors import UsageError, X0ctlError


def read_text(path: str | Path, what: str, *, unreadable: type[X0ctlError] = UsageError) -> str:
    """The file's text, or one X0ctlError: `unreadable` when it cannot be read, UsageError when not UTF-8."""
    try:
        return Path(path).read_text()
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise unreadable(f"cannot read {what} {path}: {exc.strerror or type(exc).__name__}") from None
