"""A real Prometheus Pushgateway (Debian package `prometheus-pushgateway`) on 127.0.0.1.

    gateway = start_pushgateway(tmp_path)      # or the `pushgateway` session fixture
    ... push to gateway.url, read gateway.metrics() ...
    gateway.stop()                             # SIGTERM to its PID, then wait
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BINARY = "prometheus-pushgateway"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Pushgateway:
    url: str
    pid: int
    log_path: Path
    _process: subprocess.Popen = field(repr=False)

    def metrics(self) -> dict[tuple[str, frozenset], float]:
        """Every sample the gateway exposes: {(name, labels): value}."""
        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:
            text = response.read().decode()
        return {(sample.name, frozenset(sample.labels.items())): sample.value
                for family in text_string_to_metric_families(text) for sample in family.samples}

    def stop(self, timeout: float = 10.0) -> None:
        if self._process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self._process.wait(timeout=timeout)


def start_pushgateway(workdir: Path, ready_timeout: float = 20.0) -> Pushgateway:
    binary = shutil.which(BINARY) or (f"/usr/bin/{BINARY}" if os.path.exists(f"/usr/bin/{BINARY}") else None)
    if binary is None:
        pytest.skip(f"{BINARY} is not installed (apt-get install prometheus-pushgateway)")
    port = free_port()
    log_path = workdir / "pushgateway.log"
    log = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}"], stdout=log,
                               stderr=subprocess.STDOUT)
    gateway = Pushgateway(f"http://127.0.0.1:{port}", process.pid, log_path, process)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pushgateway exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{gateway.url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return gateway
        except OSError:
            time.sleep(0.1)
    gateway.stop()
    raise RuntimeError(f"pushgateway not ready after {ready_timeout} s: {log_path.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def pushgateway(tmp_path_factory):
    gateway = start_pushgateway(tmp_path_factory.mktemp("pushgateway"))
    yield gateway
    gateway.stop()
