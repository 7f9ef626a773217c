"""The error every plan check raises: `source: field: problem`, exit 2.

Its own module so that the plan, the inventory and the drivers can all raise it without importing
each other.
"""

from __future__ import annotations

from x0ctl.errors import UsageError


class PlanError(UsageError):
    """An invalid plan: `source: field: problem`, exit 2."""

    def __init__(self, field_name: str, message: str, source: str | None = None) -> None:
        self.field = field_name
        self.source = source
        super().__init__(f"{source + ': ' if source else ''}{field_name}: {message}")
