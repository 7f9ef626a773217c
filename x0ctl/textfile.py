"""Reading the files operators name on the command line (specs, plans, scenarios, inventories, key
and token files), with one rule for every command:

- the file is missing, unreadable or not a regular file: `IOFailure`, exit 4;
- its content is malformed (not UTF-8 text where text is expected, invalid YAML/JSON, wrong shape):
  `UsageError`, exit 2.

>>> read_text("/nonexistent/plan.yaml", "plan")
Traceback (most recent call last):
...
x0ctl.errors.IOFailure: cannot read plan /nonexistent/plan.yaml: No such file or directory
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from x0ctl.errors import IOFailure, UsageError


def read_bytes(path: str | Path, what: str) -> bytes:
    """The file's bytes; IOFailure (exit 4) when it is missing, unreadable or a directory."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise IOFailure(f"cannot read {what} {path}: {exc.strerror or type(exc).__name__}") from None


def read_private_bytes(path: str | Path, what: str) -> bytes:
    """A private key or identity file's bytes, refused (UsageError, exit 2) when group or others can
    access it, as ssh refuses such a key: a secret others could read is already exposed, and one
    others can write may have been replaced. Missing or unreadable: IOFailure (exit 4).
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise IOFailure(f"cannot read {what} {path}: {exc.strerror or type(exc).__name__}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise IOFailure(f"cannot read {what} {path}: not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise UsageError(f"{what} {path} has mode {mode:04o}: group/others can access it",
                             hint=f"chmod 600 {path}; treat a secret others could read as exposed")
        return handle.read()


def read_text(path: str | Path, what: str) -> str:
    """The file's text; IOFailure (exit 4) when unreadable, UsageError (exit 2) when not UTF-8 text."""
    data = read_bytes(path, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{what} {path}: not a UTF-8 text file") from None
    if "\x00" in text:
        raise UsageError(f"{what} {path}: not a text file (it contains NUL bytes)")
    return text


def read_yaml(path: str | Path, what: str) -> Any:
    """The one YAML document in the file (None when empty); UsageError (exit 2) when it is not YAML."""
    import yaml

    return _parsed_yaml(path, what, yaml.safe_load)


def read_yaml_all(path: str | Path, what: str) -> list[Any]:
    """Every non-empty YAML document in the file, with read_yaml's rules."""
    import yaml

    return _parsed_yaml(path, what, lambda text: [d for d in yaml.safe_load_all(text) if d is not None])


def _parsed_yaml(path: str | Path, what: str, parse: Callable[[str], Any]) -> Any:
    import yaml

    text = read_text(path, what)
    try:
        return parse(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UsageError(f"{what} {path}: not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise nested_too_deeply(path, what) from None


def read_json(path: str | Path, what: str) -> Any:
    """The JSON document in the file; IOFailure (exit 4) when unreadable, UsageError (exit 2) when it
    is not UTF-8 JSON or nests deeper than the parser can follow."""
    text = read_text(path, what)
    return parse_json(text, path, what)


def parse_json(text: str | bytes, path: str | Path, what: str) -> Any:
    """`text` (already read from `path`) as JSON, with read_json's rules."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} {path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{what} {path}: not a UTF-8 text file") from None
    except RecursionError:
        raise nested_too_deeply(path, what) from None


def nested_too_deeply(path: str | Path, what: str) -> UsageError:
    """The error for a YAML/JSON document deeper than the parser's recursion limit: a truncated or
    hostile file is bad input (exit 2), not an internal error."""
    return UsageError(f"{what} {path}: nested too deeply to read (a truncated or hostile file?)")
