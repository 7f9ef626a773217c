"""Reading a rollout's NDJSON event stream, for the rollout tests that drive real x0ctl processes."""

from __future__ import annotations

import json
import os
import subprocess
import time

from .promserver import MESH_END

# the canary's series in tests/promserver.mesh_history: healthy throughout, degraded in the last hour, absent
END = str(MESH_END)
HEALTHY = '{instance="node-a"}'
BROKEN = '{instance="node-b"}'
MISSING = '{instance="node-z"}'
DRIVER = {"set_weight": "true", "rollback": "true"}


def ndjson(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def read_until(process: subprocess.Popen, predicate, timeout: float = 30, seen: list | None = None) -> list[dict]:
    """Events from the process's stdout up to the first one `predicate` accepts (bounded in time),
    appended to `seen` when given (a caller that goes on reading keeps one list)."""
    seen = [] if seen is None else seen
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(json.loads(line))
        if predicate(seen[-1]):
            return seen
    raise AssertionError(f"the rollout never got there: {seen} {process.stderr.read()}")


def read_terminal(controller: int) -> str:
    """Everything written to a pseudo-terminal until its other side closes (the process exited)."""
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")
