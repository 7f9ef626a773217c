"""The one grammar for durations and points in time, wherever x0ctl reads or prints them.

Durations: `90s`, `15m`, `1h30m`, `1.5h`, `250ms`, `2d`, `2w`, or a bare number of seconds; parts
in any combination of ms, s, m, h, d, w and `y` (365d, as in PromQL); fractions allowed, negatives and non-finite values refused. The error
text is the same everywhere:

>>> parse_duration("1h30m")
5400.0
>>> parse_duration("250ms")
0.25
>>> format_duration(5400)
'1h30m'
>>> promql_duration(86400 * 30)
'30d'
>>> parse_duration("-5m", "--bake")
Traceback (most recent call last):
...
x0ctl.durations.DurationError: --bake: '-5m' is not a duration like 90s, 15m, 1h30m, 2d (a non-negative number with a unit)

Times: RFC 3339 with a zone (`2026-12-04T12:00:00Z`) or unix seconds; printed as RFC 3339 UTC.

>>> format_time(parse_time("2026-12-04T12:00:00+01:00"))
'2026-12-04T11:00:00Z'
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from x0ctl.errors import UsageError

UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0, "y": 365 * 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_BARE_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_HINT = "a duration like 90s, 15m, 1h30m, 2d"


class DurationError(UsageError, ValueError):
    """A value that is not a duration or a time (exit 2): `what: problem`. Also a ValueError, for
    spec validators that collect every problem of a file (they file `problem` under their field)."""

    def __init__(self, what: str, problem: str) -> None:
        self.what = what
        self.problem = problem
        super().__init__(f"{what}: {problem}")


def parse_duration(value: Any, what: str = "duration", *, allow_zero: bool = True) -> float:
    """Seconds in a duration (see the module docstring); `what` names the option or field."""
    if isinstance(value, bool):
        raise DurationError(what, f"{value!r} is not {_HINT}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip()
        if _BARE_NUMBER.fullmatch(text):
            seconds = float(text)
        elif text and not _PART.sub("", text):
            seconds = sum(float(number) * UNIT_SECONDS[unit] for number, unit in _PART.findall(text))
        else:
            raise DurationError(what, f"{value!r} is not {_HINT} (a non-negative number with a unit)")
    if not math.isfinite(seconds) or seconds < 0:
        raise DurationError(what, f"{value!r} is not {_HINT} (a non-negative number with a unit)")
    if seconds == 0 and not allow_zero:
        raise DurationError(what, f"{value!r} must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds -> the compound form people read: `1h30m`, `2d`, `250ms`, `0s`."""
    seconds = float(seconds)
    if 0 < seconds < 1:
        return f"{seconds * 1000:g}ms"
    whole = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    if whole or not parts:
        parts.append(f"{whole}s")
    return "".join(parts)


def promql_duration(seconds: float) -> str:
    """Whole seconds -> the one-unit PromQL duration every Prometheus version accepts (`30d`, `90s`)."""
    whole = max(1, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def parse_time(value: Any, what: str = "time") -> float:
    """RFC 3339 with a zone, or unix seconds -> unix seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            try:
                moment = dt.datetime.fromisoformat(text.replace("z", "Z"))
            except ValueError:
                raise DurationError(what, f"{text!r} is neither RFC 3339 (2026-12-04T12:00:00Z) "
                                          "nor unix seconds") from None
            if moment.tzinfo is None:
                raise DurationError(what, f"{text!r} has no time zone (add Z or +00:00)")
            return moment.timestamp()
    if not math.isfinite(number) or number < 0:
        raise DurationError(what, f"{value!r} is not a time")
    return number


def format_time(at: float) -> str:
    """Unix seconds -> RFC 3339 UTC (`2026-12-04T12:00:00Z`; milliseconds only when there are some)."""
    moment = dt.datetime.fromtimestamp(at, tz=dt.UTC)
    text = moment.isoformat(timespec="milliseconds" if at % 1 else "seconds")
    return text.replace("+00:00", "Z")


def utc_now() -> str:
    """Now, to the second, as RFC 3339 UTC."""
    return format_time(float(int(dt.datetime.now(dt.UTC).timestamp())))
