"""The mesh's handshake metrics (shared/domain.md), through prometheus_client.

Each HandshakeMetrics owns its CollectorRegistry, so nothing leaks into (or from) the process-wide
default registry. Every (reason, origin) series is pre-created at 0: `rate(...[5m]) > 0` alerts
need the series to exist before the first failure. `origin="local"` is this side's own rejection;
`origin="peer"` a refusal the other side reported, which anyone on the path could have sent
before the handshake keys existed: alert on `origin="local"`.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    push_to_gateway,
    write_to_textfile,
)

from x0ctl.errors import IOFailure
from x0ctl.handshake.wire import PROTOCOL_VERSION
from x0ctl.handshake.reasons import LOCAL, PEER, FailureReason

_PEER_REASONS = tuple(FailureReason.from_wire(code) for code in range(1, 8))  # what a peer can report

# 1 ms .. 1 s, with the 100 ms SLO boundary as an exact bucket edge.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0)
DEFAULT_JOB = "x0ctl_handshake"


class HandshakeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._success = Counter("pqc_handshake_success", "Completed post-quantum handshakes.",
                                registry=self.registry)
        self._failure = Counter("pqc_handshake_failure", "Rejected or failed handshakes, by reason and by who "
                                "rejected (local: this side; peer: reported by the other side).", ["reason", "origin"],
                                registry=self.registry)
        self._cookies = Counter("pqc_handshake_cookie_replies", "Hellos answered with a stateless cookie while busy "
                                "(no public-key work done).", registry=self.registry)
        self._latency = Histogram("pqc_handshake_latency_seconds", "Duration of completed handshakes.",
                                  buckets=LATENCY_BUCKETS, registry=self.registry)
        self._fallback = Gauge("pqc_fallback_enabled", "1 while classical-only fallback (PQC disabled) is in use.",
                               registry=self.registry)
        series = [(reason, LOCAL) for reason in FailureReason if reason is not FailureReason.REJECTED]
        series += [(reason, PEER) for reason in _PEER_REASONS]
        self._failure_children = {(reason.value, origin): self._failure.labels(reason=reason.value, origin=origin)
                                  for reason, origin in series}

    def success(self, seconds: float) -> None:
        self._success.inc()
        self._latency.observe(seconds)

    def failure(self, reason: FailureReason, origin: str = LOCAL) -> None:
        key = (reason.value, origin)
        child = self._failure_children.get(key)
        if child is None:
            child = self._failure_children[key] = self._failure.labels(reason=reason.value, origin=origin)
        child.inc()

    def cookie(self) -> None:
        self._cookies.inc()

    def set_serve_info(self, authorization: str) -> None:
        """`x0ctl_handshake_serve_info{authorization="allow_list"|"any_peer"} 1`: an open server shows."""
        Gauge("x0ctl_handshake_serve_info", "A running handshake responder: protocol version and how it "
              "authorizes initiators (any_peer: every authenticated key is accepted).",
              ["protocol_version", "authorization"], registry=self.registry).labels(
            protocol_version=str(PROTOCOL_VERSION), authorization=authorization).set(1)

    def set_fallback(self, enabled: bool) -> None:
        self._fallback.set(1 if enabled else 0)

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
            push_to_gateway(gateway, job=job, registry=self.registry, grouping_key=key, timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - urllib raises several unrelated types
            raise IOFailure(f"cannot push metrics to {gateway}: {_describe(exc)}") from None

    def summary(self) -> dict:
        """The values as written, for the command's own report."""
        values: dict = {"pqc_handshake_failure_total": {LOCAL: {}, PEER: {}}}
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name == "pqc_handshake_success_total":
                    values[sample.name] = int(sample.value)
                elif sample.name == "pqc_handshake_failure_total" and sample.value:
                    values[sample.name][sample.labels["origin"]][sample.labels["reason"]] = int(sample.value)
                elif sample.name in ("pqc_handshake_latency_seconds_count", "pqc_fallback_enabled",
                                     "pqc_handshake_cookie_replies_total"):
                    values[sample.name] = int(sample.value)
        return values


def _describe(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    code = getattr(exc, "code", None)
    if code is not None:
        return f"HTTP {code} {reason or ''}".strip()
    return str(reason or exc) or type(exc).__name__
