"""The work behind `x0ctl handshake selftest|serve|probe`: suite choice, verdicts, metrics publishing,
the server's run and summary. The CLI parses options, calls one of these, and renders the result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from x0ctl.errors import CheckFailed, EnvironmentProblem, IOFailure, UsageError
from x0ctl.handshake.fleet import FleetReport, FleetRequest, load_fleet, probe_fleet
from x0ctl.handshake.metrics import HandshakeMetrics, MetricsEndpoint
from x0ctl.handshake.net import HandshakeServer, ProbeReport, ServerSettings, parse_address, run_probe
from x0ctl.handshake.pins import allow_list, responder_pin
from x0ctl.handshake.protocol import Identity, ResponderPolicy
from x0ctl.handshake.selftest import SelftestReport, run_selftest
from x0ctl.handshake.stats import slo_checks
from x0ctl.handshake.suites import Suite, classical_suite, hybrid_suite
from x0ctl.urls import redact_url

DISABLE_PQC_VAR = "X0TTA6BL4_DISABLE_PQC"
PROTOCOLS = ("x0ctl",)  # what `probe` speaks; the mesh agent's own protocol gets its own module


def default_node_name() -> str:
    """The `node` label when none is given: the host name, as the mesh's node exporters use it."""
    import socket

    return socket.gethostname() or "localhost"


def fallback_enabled() -> bool:
    from x0ctl.pqc.guard import env_flag

    return env_flag(DISABLE_PQC_VAR)


def serving_suite(backend: str, command: str) -> Suite:
    """The hybrid suite for serve/probe; they refuse (exit 3) while the PQC fallback is on."""
    if fallback_enabled():
        raise EnvironmentProblem(
            f"{DISABLE_PQC_VAR}=true (PQC fallback): `handshake {command}` speaks only the hybrid suite",
            hint="run `x0ctl handshake selftest` to exercise and report the classical fallback",
        )
    from x0ctl.pqc import get_backend

    return hybrid_suite(get_backend(backend.strip().lower()))


def selftest_suite(backend: str) -> tuple[Suite, bool]:
    """(suite, fallback): the classical suite while the fallback is on, else the hybrid one."""
    if fallback_enabled():
        from x0ctl.pqc.guard import refuse_test_override_in_production

        refuse_test_override_in_production()  # the same refusal the PQC path gets
        return classical_suite(), True
    return serving_suite(backend, "selftest"), False


def check_pushgateway(url: str | None) -> None:
    """Refuse a malformed --pushgateway before any handshake runs, not after all of them."""
    if url is None:
        return
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
            or any(c.isspace() or not c.isprintable() for c in url):
        raise UsageError(f"--pushgateway {redact_url(url)} is not an http(s) URL")
    if parts.query or parts.fragment:
        # push_to_gateway appends /metrics/job/... to the URL: a query would end up inside the path
        raise UsageError(f"--pushgateway {redact_url(url)}: a Pushgateway URL takes no query string",
                         hint="give credentials as http://USER:PASSWORD@HOST:PORT (HTTP basic auth)")


def publish(metrics: HandshakeMetrics, metrics_file: Path | None, pushgateway: str | None, job: str) -> dict:
    published: dict = {"file": None, "pushgateway": None}
    if metrics_file is not None:
        metrics.write_textfile(metrics_file)
        published["file"] = str(metrics_file)
    if pushgateway:
        metrics.push(pushgateway, job=job)
        published["pushgateway"] = redact_url(pushgateway)
    return {**published, "values": metrics.summary()}


def _actual(check: dict) -> str:
    return "n/a (no handshake succeeded)" if check["actual"] is None else str(check["actual"])


def failed_checks(data: dict) -> str:
    """One line naming every failed SLO, the failures behind them and every attack not rejected."""
    failed = [f"{name} {_actual(check)} (target {check['target']})" for name, check in data["slo"].items()
              if not check["ok"]]
    if not data["slo"]["success_rate"]["ok"]:
        counts = [f"{count} x {reason}" for reason, count in data.get("failures", {}).items()]
        counts += [f"{count} x {reason} (reported by the peer)" for reason, count in
                   data.get("peer_reported", {}).items()]
        if counts:
            failed.append("failures: " + ", ".join(counts))
    failed += [f"attack {result['attack']} gave {result['got']}, expected {result['expected']}"
               for result in data.get("negative") or () if result["ok"] is False]
    return "; ".join(failed)


def selftest(suite: Suite, fallback: bool, count: int, *, concurrency: int, negative: bool, metrics_file: Path | None,
             pushgateway: str | None, job: str, min_success_rate: float, max_p95_ms: float,
             progress: Callable[[int, int], None] | None = None) -> SelftestReport:
    metrics = HandshakeMetrics()
    report = run_selftest(suite, count, concurrency=concurrency, negative=negative, metrics=metrics,
                          fallback=fallback, min_success_rate=min_success_rate, max_p95_ms=max_p95_ms,
                          progress=progress)
    report.metrics = publish(metrics, metrics_file, pushgateway, job)
    return report


def selftest_verdict(report: SelftestReport) -> None:
    """CheckFailed (exit 1) when the fallback is on, an SLO is breached or an attack got through."""
    if report.fallback:
        raise CheckFailed(f"PQC fallback is enabled ({DISABLE_PQC_VAR}=true): handshakes are classical-only; the "
                          "fallback SLO is 0 (TTL 1 h, then the node is expected to shut down)")
    if not report.ok:
        raise CheckFailed("handshake self-test failed: " + failed_checks(report.to_dict()))


@dataclass
class ProbeRequest:
    """One `probe` invocation. `protocol` names the wire protocol; x0ctl's own is the only one here."""

    target: str
    count: int = 1
    peer_key: Path | None = None
    peer_fingerprint: str | None = None
    insecure_any_peer: bool = False
    timeout: float = 5.0
    max_payload: int = 16384
    min_success_rate: float = 99.0
    max_p95_ms: float = 100.0
    protocol: str = "x0ctl"


def probe(request: ProbeRequest, suite: Suite, identity: Identity, *, metrics_file: Path | None = None,
          pushgateway: str | None = None, job: str = "x0ctl_handshake",
          progress: Callable[[int, int], None] | None = None) -> ProbeReport:
    if request.protocol not in PROTOCOLS:
        raise UsageError(f"unknown probe protocol {request.protocol!r} (known: {', '.join(PROTOCOLS)})")
    host, port = parse_address(request.target)
    if port == 0:
        raise UsageError(f"{request.target!r}: port 0 is not a destination")
    pin = responder_pin(request.peer_key, request.peer_fingerprint, any_peer=request.insecure_any_peer)
    metrics = HandshakeMetrics()
    metrics.set_fallback(False)
    report = run_probe(host, port, suite, identity, pin=pin, count=request.count, timeout=request.timeout,
                       max_payload=request.max_payload, metrics=metrics, progress=progress)
    report.slo = slo_checks(report.tally, request.min_success_rate, request.max_p95_ms)
    report.metrics = publish(metrics, metrics_file, pushgateway, job)
    return report


def probe_verdict(report: ProbeReport) -> None:
    """IOFailure (exit 4) when the peer could not be reached at all, CheckFailed (1) on any failed check."""
    if report.unreachable:
        reason, detail = next(iter(report.last_error.items()))
        raise IOFailure(f"cannot complete a handshake with {report.target}: {reason}: {detail}")
    if not report.ok:
        raise CheckFailed(f"handshake probe of {report.target} failed: " + failed_checks(report.to_dict()))


def probe_inventory(request: FleetRequest, suite: Suite, identity: Identity, *, metrics_file: Path | None = None,
                    pushgateway: str | None = None, job: str = "x0ctl_handshake", node: str | None = None,
                    progress: Callable[[int, int], None] | None = None) -> FleetReport:
    """`probe --inventory`: every peer of the inventory, metrics labelled per peer (the inventory bounds them)."""
    peers = load_fleet(request.inventory)
    metrics = HandshakeMetrics(node=node or default_node_name(), peer_label=True)
    metrics.set_fallback(False)
    report = probe_fleet(request, peers, suite, identity, metrics=metrics, progress=progress)
    report.metrics = publish(metrics, metrics_file, pushgateway, job)
    return report


def fleet_verdict(report: FleetReport) -> None:
    """IOFailure (exit 4) when no peer could be reached at all, CheckFailed (1) naming every failed peer."""
    failed = report.failed
    if not failed:
        return
    named = ", ".join(f"{outcome.peer.name} ({outcome.reason})" for outcome in failed)
    message = f"handshake probe failed for {len(failed)} of {len(report.outcomes)} peers: {named}"
    if report.unreachable:
        raise IOFailure(message)
    raise CheckFailed(message)


@dataclass
class ServeReport:
    """What `serve` prints when it stops."""

    listen: str
    identity: str
    suite: Suite
    authorization: str  # "allow_list" or "any_peer"
    server: HandshakeServer
    stopped_by: str | None = None
    unfinished: int = 0
    metrics: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        tally = self.server.tally
        return {"listen": self.listen, "identity": self.identity, "suite": self.suite.describe(),
                "authorization": self.authorization, "stopped_by": self.stopped_by, "unfinished": self.unfinished,
                "evicted": self.server.evictions,
                **tally.to_dict(), "cookie_replies": tally.cookies, "phases_ms": tally.phases_ms(),
                "metrics": self.metrics}


class HandshakeService:
    """`serve`: `bind()`, then `run(stop)` answers handshakes until `stop` is set, then returns its report."""

    def __init__(self, suite: Suite, identity: Identity, listen: str, *, peer_keys=(), peer_fingerprints=(),
                 peers_file: Path | None = None, allow_any_peer: bool = False, settings: ServerSettings,
                 max_payload: int, node: str | None = None, metrics_listen: str | None = None) -> None:
        host, port = parse_address(listen)
        self.metrics_address = parse_address(metrics_listen) if metrics_listen is not None else None
        allowed = allow_list(peer_keys, peer_fingerprints, peers_file, any_peer=allow_any_peer)
        self.authorization = "any_peer" if allowed.is_any else "allow_list"
        self.suite, self.identity = suite, identity
        self.node = node or default_node_name()
        self.metrics = HandshakeMetrics(node=self.node, peer_label=True)
        self.metrics.set_fallback(False)
        self.metrics.set_serve_info(self.authorization)
        self.metrics_endpoint: MetricsEndpoint | None = None
        policy = ResponderPolicy(suite, identity, allowed, max_payload=max_payload)
        self.server = HandshakeServer(policy, host, port, settings, metrics=self.metrics,
                                      label_peers=not allowed.is_any)

    def bind(self) -> str:
        """Bind the handshake listener, then the /metrics endpoint if one was asked for."""
        self.server.bind()
        if self.metrics_address is not None:
            self.metrics_endpoint = self.metrics.serve_http(*self.metrics_address)
        return self.server.address

    def run(self, stop: threading.Event, *, metrics_file: Path | None, metrics_interval: float,
            pushgateway: str | None, job: str, warn: Callable[[str], None]) -> ServeReport:
        flusher = None
        if metrics_file is not None:
            self.metrics.write_textfile(metrics_file)

            def flush_periodically() -> None:
                while not stop.wait(metrics_interval):
                    try:
                        self.metrics.write_textfile(metrics_file)
                    except IOFailure as exc:
                        warn(str(exc))

            flusher = threading.Thread(target=flush_periodically, daemon=True, name="x0ctl-metrics")
            flusher.start()
        try:
            self.server.serve(stop)
        finally:
            stop.set()
            if self.metrics_endpoint is not None:
                self.metrics_endpoint.close()
        report = ServeReport(self.server.address, self.identity.fingerprint, self.suite, self.authorization,
                             self.server, unfinished=self.server.drain(0))
        report.metrics = publish(self.metrics, metrics_file, pushgateway, job)
        return report
