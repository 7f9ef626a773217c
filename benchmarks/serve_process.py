"""`x0ctl handshake serve` as a child process for the handshake benchmarks (started the same way by all)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def start_serve(*options: str) -> tuple[subprocess.Popen, str, int, str]:
    """A loopback `serve --allow-any-peer` with `options`: (process, host, port, identity fingerprint)."""
    command = [sys.executable, "-m", "x0ctl", "-o", "json", "handshake", "serve", "--listen", "127.0.0.1:0",
               "--allow-any-peer", *options]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if "listening on " in line:
            words = line.split()
            host, _, port = words[words.index("on") + 1].rpartition(":")
            return process, host, int(port), words[words.index("identity") + 1]
        if not line and process.poll() is not None:
            break
    process.kill()
    raise SystemExit(f"serve did not start: {process.stderr.read()}")
