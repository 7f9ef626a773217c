"""A real Prometheus on 127.0.0.1 holding known history, for tests and benchmarks.

History is written as OpenMetrics text, turned into TSDB blocks with
`promtool tsdb create-blocks-from openmetrics`, and served by `prometheus` with no scrape jobs and a
retention long enough that fixed past timestamps survive. promtool silently drops out-of-order and
duplicate samples, so the number of samples in the blocks is checked against the text.

    server = start_prometheus(tmp_path, openmetrics_text)
    try:
        ... server.url ...
    finally:
        server.stop()

or, in a test module:

    prometheus = prometheus_fixture(lambda: build_history(), scope="module")
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CONFIG = "global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nscrape_configs: []\n"


class PrometheusUnavailable(RuntimeError):
    """prometheus/promtool are missing or the server did not become ready."""


@dataclass
class PromServer:
    url: str
    pid: int
    data_dir: Path
    log_path: Path
    samples: int
    _process: subprocess.Popen = field(repr=False)

    def stop(self, timeout: float = 10.0) -> None:
        if self._process.poll() is not None:
            return
        os.kill(self.pid, signal.SIGTERM)
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self._process.wait(timeout=timeout)

    def query(self, promql: str, at: float) -> list[dict]:
        """Raw instant query through urllib: lets tests cross-check x0ctl against the server."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql, "time": at})
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback test server
            return json.load(response)["data"]["result"]


def count_openmetrics_samples(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.startswith("#"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A loopback port nothing listens on (bound and released, so connecting is refused)."""
    return free_port()


def require_binaries() -> tuple[str, str]:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not prometheus or not promtool:
        raise PrometheusUnavailable(
            "prometheus and promtool are required (apt-get install -y --no-install-recommends prometheus)")
    return prometheus, promtool


def build_blocks(tmp_dir: Path, openmetrics_text: str, data_dir: Path) -> int:
    """Write blocks for the text into data_dir; returns the sample count, which must match the text."""
    _, promtool = require_binaries()
    if not openmetrics_text.rstrip().endswith("# EOF"):
        openmetrics_text = openmetrics_text.rstrip("\n") + "\n# EOF\n"
    source = tmp_dir / "history.om"
    source.write_text(openmetrics_text)
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(source), str(data_dir)],
                   check=True, capture_output=True, text=True, timeout=300)
    listing = subprocess.run([promtool, "tsdb", "list", str(data_dir)], check=True, capture_output=True, text=True,
                             timeout=60).stdout.splitlines()
    # Header: BLOCK ULID  MIN TIME  MAX TIME  DURATION  NUM SAMPLES  NUM CHUNKS  NUM SERIES  SIZE
    stored = 0
    for line in listing[1:]:
        fields = line.split()
        if fields:
            stored += int(fields[4])
    expected = count_openmetrics_samples(openmetrics_text)
    if stored != expected:
        raise AssertionError(f"promtool stored {stored} samples but the history has {expected}: "
                             "out-of-order or duplicate samples were dropped")
    return stored


def start_prometheus(
    tmp_dir: Path,
    openmetrics_text: str,
    *,
    web_config: str | None = None,
    probe_context: ssl.SSLContext | None = None,
    probe_headers: dict[str, str] | None = None,
    ready_timeout: float = 60.0,
    config: str = CONFIG,
) -> PromServer:
    """Build blocks from the history and serve them on a free loopback port until stop().

    web_config is Prometheus' --web.config.file (TLS, client certificates, basic auth); the URL is
    https when it has tls_server_config. probe_context/probe_headers let the /-/ready probe through.
    """
    prometheus, _ = require_binaries()
    tmp_dir = Path(tmp_dir)
    data_dir = tmp_dir / "data"
    samples = build_blocks(tmp_dir, openmetrics_text, data_dir)
    config_path = tmp_dir / "prometheus.yml"
    config_path.write_text(config)
    log_path = tmp_dir / "prometheus.log"
    extra_args, scheme = [], "http"
    if web_config is not None:
        (tmp_dir / "web.yml").write_text(web_config)
        extra_args.append(f"--web.config.file={tmp_dir / 'web.yml'}")
        scheme = "https" if "tls_server_config" in web_config else "http"
    last_error = ""
    for _attempt in range(3):  # the free port can be taken between probing and binding
        port = free_port()
        log = log_path.open("w")
        process = subprocess.Popen(
            [prometheus, f"--config.file={config_path}", f"--storage.tsdb.path={data_dir}",
             "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}",
             "--log.level=warn", *extra_args],
            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_dir,
        )
        log.close()
        server = PromServer(f"{scheme}://127.0.0.1:{port}", process.pid, data_dir, log_path, samples, process)
        if _wait_ready(server, process, ready_timeout, probe_context, probe_headers or {}):
            return server
        server.stop()
        last_error = log_path.read_text()[-2000:]
        if "address already in use" not in last_error:
            break
    raise PrometheusUnavailable(f"prometheus did not become ready: {last_error}")


def _wait_ready(server: PromServer, process: subprocess.Popen, timeout: float,
                context: ssl.SSLContext | None, headers: dict[str, str]) -> bool:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(f"{server.url}/-/ready", headers=headers)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(OSError, urllib.error.URLError), \
                urllib.request.urlopen(request, timeout=2, context=context) as response:  # noqa: S310
            if response.status == 200:
                return True
        time.sleep(0.1)
    return False


def prometheus_fixture(history: Callable[[], str], scope: str = "module"):
    """A pytest fixture serving `history()` for the whole scope, stopped at its end."""

    @pytest.fixture(scope=scope)
    def _prometheus(tmp_path_factory):
        server = start_prometheus(tmp_path_factory.mktemp("prometheus"), history())
        try:
            yield server
        finally:
            server.stop()

    return _prometheus


# A known history of the mesh's own metrics (names from ../shared/domain.md), for SLO and rollout tests.

MESH_BASE = 1748736000  # 2025-06-01T00:00:00Z
MESH_STEP = 300  # one sample per series every 5 minutes
MESH_STEPS = 1152  # 4 days of history
MESH_END = MESH_BASE + MESH_STEPS * MESH_STEP
MESH_DEGRADED_STEPS = 12  # node-b's last hour is degraded
MESH_BUCKETS = ("0.025", "0.05", "0.1", "0.25", "+Inf")
HEALTHY = {"success": 600, "failure": 0, "buckets": (300, 580, 597, 600, 600)}
DEGRADED = {"success": 360, "failure": 240, "buckets": (100, 300, 500, 590, 600)}
FALLBACK_STEPS = range(MESH_STEPS - 6, MESH_STEPS - 3)  # node-b in fallback from END-30m to END-20m (samples)
ROTATION_EVERY = 72  # one key rotation per node every 6 hours


def mesh_history() -> str:
    """Two nodes, job="x0": node-a healthy throughout; node-b degraded over the last hour.

    Every counter starts at 0, samples sit on a 5-minute grid ending at MESH_END, so rate() over any
    window that is a multiple of 5 minutes and ends on the grid is exact (no extrapolation).
    node-a never fails, so it has no pqc_handshake_failure_total series at all.
    """
    nodes = ("node-a", "node-b")
    times = [MESH_BASE + step * MESH_STEP for step in range(MESH_STEPS + 1)]

    def profile(node: str, step: int) -> dict:
        degraded = node == "node-b" and step > MESH_STEPS - MESH_DEGRADED_STEPS
        return DEGRADED if degraded else HEALTHY

    def counter(node: str, key: str) -> list[int]:
        values, total = [], 0
        for step in range(MESH_STEPS + 1):
            if step:
                total += profile(node, step)[key]
            values.append(total)
        return values

    lines = ["# TYPE pqc_handshake_success counter"]
    for node in nodes:
        for t, v in zip(times, counter(node, "success"), strict=True):
            lines.append(f'pqc_handshake_success_total{{instance="{node}",job="x0"}} {v} {t}')
    lines.append("# TYPE pqc_handshake_failure counter")
    for t, v in zip(times, counter("node-b", "failure"), strict=True):
        lines.append(f'pqc_handshake_failure_total{{instance="node-b",job="x0",reason="timeout"}} {v} {t}')
    lines.append("# TYPE pqc_handshake_latency_seconds histogram")
    for node in nodes:
        totals = [0] * len(MESH_BUCKETS)
        for step, t in enumerate(times):
            if step:
                totals = [a + b for a, b in zip(totals, profile(node, step)["buckets"], strict=True)]
            for le, v in zip(MESH_BUCKETS, totals, strict=True):
                lines.append(f'pqc_handshake_latency_seconds_bucket{{instance="{node}",job="x0",le="{le}"}} {v} {t}')
            lines.append(f'pqc_handshake_latency_seconds_count{{instance="{node}",job="x0"}} {totals[-1]} {t}')
            lines.append(f'pqc_handshake_latency_seconds_sum{{instance="{node}",job="x0"}} {totals[-1] * 0.03:.2f} {t}')
    lines.append("# TYPE pqc_fallback_enabled gauge")
    for node in nodes:
        for step, t in enumerate(times):
            value = 1 if node == "node-b" and step in FALLBACK_STEPS else 0
            lines.append(f'pqc_fallback_enabled{{instance="{node}",job="x0"}} {value} {t}')
    lines.append("# TYPE key_rotation_success counter")
    for node in nodes:
        for step, t in enumerate(times):
            lines.append(f'key_rotation_success_total{{instance="{node}",job="x0"}} {step // ROTATION_EVERY} {t}')
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
