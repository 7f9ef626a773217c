"""The mesh's handshake metrics (shared/domain.md), through prometheus_client.

Each HandshakeMetrics owns its CollectorRegistry, so nothing leaks into (or from) the process-wide
default registry. Every (reason, origin) series is pre-created at 0: `rate(...[5m]) > 0` alerts
need the series to exist before the first failure. `origin="local"` is this side's own rejection;
`origin="peer"` a refusal the other side reported, which anyone on the path could have sent
before the handshake keys existed: alert on `origin="local"`.

`node` (this node's name) and `peer` labels are opt-in: `serve` and the fleet probe use them, the
one-shot commands keep the plain series. `peer` only ever holds a bounded value the operator chose
(an allow-listed or inventoried peer); a peer that is not authenticated, or any peer of a server
that accepts any key, is `peer=""`, so an attacker cannot mint series.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    push_to_gateway,
    write_to_textfile,
)
from prometheus_client.exposition import basic_auth_handler, default_handler

from x0ctl.errors import IOFailure
from x0ctl.urls import redact_url
from x0ctl.handshake.wire import PROTOCOL_VERSION
from x0ctl.handshake.reasons import LOCAL, PEER, FailureReason

_PEER_REASONS = tuple(FailureReason.from_wire(code) for code in range(1, 8))  # what a peer can report

# 1 ms .. 1 s, with the 100 ms SLO boundary as an exact bucket edge.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0)
DEFAULT_JOB = "x0ctl_handshake"


class HandshakeMetrics:
    def __init__(self, *, node: str | None = None, peer_label: bool = False) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.node = node
        self._node = {"node": node} if node is not None else {}
        self._peer_label = peer_label
        scope = list(self._node) + (["peer"] if peer_label else [])
        self._success = Counter("pqc_handshake_success", "Completed post-quantum handshakes.", scope,
                                registry=self.registry)
        self._failure = Counter("pqc_handshake_failure", "Rejected or failed handshakes, by reason and by who "
                                "rejected (local: this side; peer: reported by the other side).",
                                ["reason", "origin", *scope], registry=self.registry)
        self._cookies = Counter("pqc_handshake_cookie_replies", "Hellos answered with a stateless cookie while busy "
                                "(no public-key work done).", list(self._node), registry=self.registry)
        self._latency = Histogram("pqc_handshake_latency_seconds", "Duration of completed handshakes.", scope,
                                  buckets=LATENCY_BUCKETS, registry=self.registry)
        self._fallback = Gauge("pqc_fallback_enabled", "1 while classical-only fallback (PQC disabled) is in use.",
                               list(self._node), registry=self.registry)
        series = [(reason, LOCAL) for reason in FailureReason if reason is not FailureReason.REJECTED]
        series += [(reason, PEER) for reason in _PEER_REASONS]
        self._failure_children = {(reason.value, origin, ""): self._failure.labels(
            reason=reason.value, origin=origin, **self._scope("")) for reason, origin in series}
        self._success_children: dict[str, tuple] = {}  # peer -> (counter, histogram), labels resolved once
        if scope:
            self.success_series("")
            self._plain(self._cookies)

    def success_series(self, peer: str) -> None:
        """Create the success and latency series of `peer` at 0 (so `rate()` sees them before the first)."""
        scope = self._scope(peer)
        self._success_children[peer] = (self._success.labels(**scope), self._latency.labels(**scope)) if scope \
            else (self._success, self._latency)

    def _scope(self, peer: str) -> dict[str, str]:
        return {**self._node, "peer": peer} if self._peer_label else dict(self._node)

    def _plain(self, metric):
        return metric.labels(**self._node) if self._node else metric

    def success(self, seconds: float, peer: str = "") -> None:
        if peer not in self._success_children:
            self.success_series(peer)
        children = self._success_children[peer]
        children[0].inc()
        children[1].observe(seconds)

    def failure(self, reason: FailureReason, origin: str = LOCAL, peer: str = "") -> None:
        key = (reason.value, origin, peer if self._peer_label else "")
        child = self._failure_children.get(key)
        if child is None:
            child = self._failure_children[key] = self._failure.labels(reason=reason.value, origin=origin,
                                                                       **self._scope(key[2]))
        child.inc()

    def for_peer(self, peer: str) -> PeerMetrics:
        """The same metrics with `peer` set: what one fleet entry's probes record."""
        return PeerMetrics(self, peer)

    def cookie(self) -> None:
        self._plain(self._cookies).inc()

    def set_serve_info(self, authorization: str) -> None:
        """`x0ctl_handshake_serve_info{authorization="allow_list"|"any_peer"} 1`: an open server shows."""
        Gauge("x0ctl_handshake_serve_info", "A running handshake responder: protocol version and how it "
              "authorizes initiators (any_peer: every authenticated key is accepted).",
              ["protocol_version", "authorization", *self._node], registry=self.registry).labels(
            protocol_version=str(PROTOCOL_VERSION), authorization=authorization, **self._node).set(1)

    def set_fallback(self, enabled: bool) -> None:
        self._plain(self._fallback).set(1 if enabled else 0)

    def serve_http(self, host: str, port: int) -> MetricsEndpoint:
        """Serve `/metrics` (and `/`) on host:port in a daemon thread until `close()`; IOFailure if the
        address cannot be bound."""
        from prometheus_client import start_http_server

        try:
            httpd, thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise IOFailure(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
        bound = httpd.server_address
        return MetricsEndpoint(str(bound[0]), int(bound[1]), httpd, thread)

    def exposition(self) -> str:
        return generate_latest(self.registry).decode()

    def write_textfile(self, path: Path | str) -> None:
        """Atomic (temp file + rename), as the node exporter's textfile collector requires."""
        target = Path(path)
        if not target.parent.is_dir():
            raise IOFailure(f"cannot write metrics to {target}: directory {target.parent} does not exist")
        try:
            write_to_textfile(str(target), self.registry)
        except OSError as exc:
            raise IOFailure(f"cannot write metrics to {target}: {exc.strerror or exc}") from None

    def push(self, gateway: str, *, job: str = DEFAULT_JOB, grouping_key: dict | None = None,
             timeout: float = 10.0) -> None:
        """Replace this job's group on a Pushgateway (PUT), keyed by instance=<hostname> by default."""
        key = grouping_key if grouping_key is not None else {"instance": socket.gethostname() or f"pid{os.getpid()}"}
        try:
            address, handler = _gateway_and_handler(gateway)
            push_to_gateway(address, job=job, registry=self.registry, grouping_key=key, timeout=timeout,
                            handler=handler)
        except Exception as exc:  # noqa: BLE001 - urllib raises several unrelated types
            raise IOFailure(f"cannot push metrics to {redact_url(gateway)}: {_describe(exc)}") from None

    def summary(self) -> dict:
        """The values as written, for the command's own report."""
        values: dict = {"pqc_handshake_failure_total": {LOCAL: {}, PEER: {}}}
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name in ("pqc_handshake_success_total", "pqc_handshake_latency_seconds_count",
                                   "pqc_handshake_cookie_replies_total"):
                    values[sample.name] = values.get(sample.name, 0) + int(sample.value)  # summed over peers
                elif sample.name == "pqc_handshake_failure_total" and sample.value:
                    counts = values[sample.name][sample.labels["origin"]]
                    counts[sample.labels["reason"]] = counts.get(sample.labels["reason"], 0) + int(sample.value)
                elif sample.name == "pqc_fallback_enabled":
                    values[sample.name] = int(sample.value)
        return values


class PeerMetrics:
    """`HandshakeMetrics` seen from one peer: success/failure record under `peer`."""

    def __init__(self, metrics: HandshakeMetrics, peer: str) -> None:
        self.metrics, self.peer = metrics, peer

    def success(self, seconds: float) -> None:
        self.metrics.success(seconds, self.peer)

    def failure(self, reason: FailureReason, origin: str = LOCAL) -> None:
        self.metrics.failure(reason, origin, self.peer)


class MetricsEndpoint:
    """A running `/metrics` HTTP endpoint (prometheus_client's threaded server)."""

    def __init__(self, host: str, port: int, httpd, thread) -> None:
        self.host, self.port, self._httpd, self._thread = host, port, httpd, thread

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _describe(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    code = getattr(exc, "code", None)
    if code is not None:
        return f"HTTP {code} {reason or ''}".strip()
    return str(reason or exc) or type(exc).__name__


def _gateway_and_handler(gateway: str) -> tuple[str, Callable]:
    """(URL without userinfo, request handler): `user:password@` becomes HTTP basic auth, as the
    Pushgateway's --web.config.file expects, instead of being resolved as part of the host name."""
    parts = urlsplit(gateway)
    if parts.username is None and parts.password is None:
        return gateway, default_handler
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else (parts.hostname or "")
    netloc = host + (f":{parts.port}" if parts.port is not None else "")
    address = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    username, password = unquote(parts.username or ""), unquote(parts.password or "")

    def handler(url, method, timeout, headers, data):
        return basic_auth_handler(url, method, timeout, headers, data, username, password)

    return address, handler
