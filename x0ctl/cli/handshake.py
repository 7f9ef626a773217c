"""`x0ctl handshake`: Hybrid post-quantum handshake: self-test, probe a peer, metrics."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from x0ctl.cli.app import OutputOption, get_app
from x0ctl.errors import CheckFailed, EnvironmentProblem, IOFailure, UsageError

app = typer.Typer(help="""Hybrid post-quantum handshake: self-test, serve, probe a peer, metrics.

The mesh's channel handshake: X-Wing (ML-KEM-768 + X25519) key exchange, both sides signing the transcript with ML-DSA-65, HKDF key schedule and key confirmation. selftest proves it in-process (and that the known attacks fail), serve and probe run it over TCP. Metrics: pqc_handshake_success_total, pqc_handshake_failure_total{reason}, pqc_handshake_latency_seconds. See docs/handshake.md.

Examples:
  x0ctl handshake selftest --count 1000 --negative
  x0ctl handshake serve --listen 127.0.0.1:7443
  x0ctl handshake probe 127.0.0.1:7443 --peer-fingerprint sha256:3f9a1c2b7d4e5f60718293a4b5c6d7e8 --count 50
""", no_args_is_help=True)

DISABLE_PQC_VAR = "X0TTA6BL4_DISABLE_PQC"

BackendOption = Annotated[
    str | None,
    typer.Option("--backend", help="PQC backend: auto, openssl or liboqs (default: the global --backend).",
                 metavar="auto|openssl|liboqs", show_default=False),
]
MetricsFileOption = Annotated[
    Path | None,
    typer.Option("--metrics-file", help="Write the pqc_handshake_* metrics here (textfile collector format, atomic).",
                 show_default=False),
]
PushgatewayOption = Annotated[
    str | None,
    typer.Option("--pushgateway", help="Push the metrics to this Pushgateway URL (job x0ctl_handshake).",
                 metavar="URL", show_default=False),
]
JobOption = Annotated[str, typer.Option("--job", help="Pushgateway job name.")]
MinSuccessOption = Annotated[
    float, typer.Option("--min-success-rate", min=0.0, max=100.0, help="SLO: minimum success rate in percent.")
]
MaxP95Option = Annotated[float, typer.Option("--max-p95-ms", min=0.0, help="SLO: p95 latency must stay below this.")]
MaxMessageOption = Annotated[
    int, typer.Option("--max-message-size", min=1024, max=1 << 20, help="Largest frame payload accepted, in bytes.")
]
IdentityOption = Annotated[
    Path | None,
    typer.Option("--identity", help="This side's ML-DSA-65 private key (PKCS#8 PEM, seed form); default: an "
                 "ephemeral identity.", show_default=False),
]


def _fallback_enabled() -> bool:
    from x0ctl.pqc.guard import env_flag

    return env_flag(DISABLE_PQC_VAR)


def _hybrid_suite(app_, backend: str | None):
    from x0ctl.handshake import hybrid_suite
    from x0ctl.pqc import get_backend

    return hybrid_suite(get_backend((backend or app_.backend).strip().lower()))


def _refuse_fallback(command: str) -> None:
    if _fallback_enabled():
        raise EnvironmentProblem(
            f"{DISABLE_PQC_VAR}=true (PQC fallback): `handshake {command}` speaks only the hybrid suite",
            hint="run `x0ctl handshake selftest` to exercise and report the classical fallback",
        )


def _check_pushgateway(url: str | None) -> None:
    """Refuse a malformed --pushgateway before any handshake runs, not after all of them."""
    if url is None:
        return
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise UsageError(f"--pushgateway {url!r} is not an http(s) URL")


def _publish(metrics, metrics_file: Path | None, pushgateway: str | None, job: str) -> dict:
    published: dict = {"file": None, "pushgateway": None}
    if metrics_file is not None:
        metrics.write_textfile(metrics_file)
        published["file"] = str(metrics_file)
    if pushgateway:
        metrics.push(pushgateway, job=job)
        published["pushgateway"] = pushgateway
    return {**published, "values": metrics.summary()}


@app.command("selftest")
def selftest(
    ctx: typer.Context,
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=10_000_000, help="Handshakes to run.")] = 1000,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=256,
                                             help="Handshakes in flight at once (threads).")] = 1,
    negative: Annotated[bool, typer.Option("--negative", help="Also run every attack; each must be rejected "
                                           "with its expected reason.")] = False,
    backend: BackendOption = None,
    metrics_file: MetricsFileOption = None,
    pushgateway: PushgatewayOption = None,
    job: JobOption = "x0ctl_handshake",
    min_success_rate: MinSuccessOption = 99.0,
    max_p95_ms: MaxP95Option = 100.0,
    output: OutputOption = None,
) -> None:
    """Run initiator/responder pairs in-process through the full hybrid handshake and check the SLOs.

    Reports successes, failures by reason, latency p50/p95/p99/max and the time spent per phase (keygen, encapsulate, decapsulate, sign, verify, kdf). Exit 1 when the success rate is below --min-success-rate (99%), p95 is not below --max-p95-ms (100 ms), an attack of --negative is not rejected with its expected reason, or PQC fallback is on: with X0TTA6BL4_DISABLE_PQC=true the test runs classical-only (X25519 + Ed25519), sets pqc_fallback_enabled 1 and fails, because the fallback SLO is zero (fallback has a 1 h TTL, then the node is expected to shut down).

    Examples:
      x0ctl handshake selftest
      x0ctl handshake selftest --count 200 --negative -o json
      x0ctl handshake selftest --backend liboqs --concurrency 2 --metrics-file /var/lib/node_exporter/x0ctl.prom
    """
    from x0ctl.handshake import classical_suite
    from x0ctl.handshake.metrics import HandshakeMetrics
    from x0ctl.handshake.selftest import run_selftest

    app_ = get_app(ctx, output)
    _check_pushgateway(pushgateway)
    fallback = _fallback_enabled()
    if fallback:
        from x0ctl.pqc.guard import refuse_test_override_in_production

        refuse_test_override_in_production()  # the same refusal the PQC path gets
        app_.warn(f"{DISABLE_PQC_VAR}=true: PQC fallback is ON; running classical-only handshakes (X25519 + Ed25519). "
                  "Fallback has a TTL of 1 h, after which the node is expected to shut down.")
        suite = classical_suite()
    else:
        suite = _hybrid_suite(app_, backend)
    metrics = HandshakeMetrics()
    with app_.progress("handshakes", total=count) as progress:
        report = run_selftest(suite, count, concurrency=concurrency, negative=negative, metrics=metrics,
                              fallback=fallback, min_success_rate=min_success_rate, max_p95_ms=max_p95_ms,
                              progress=progress)
    report.metrics = _publish(metrics, metrics_file, pushgateway, job)
    data = report.to_dict()
    app_.emit(data, lambda console: _selftest_table(console, data))
    if fallback:
        raise CheckFailed(f"PQC fallback is enabled ({DISABLE_PQC_VAR}=true): handshakes are classical-only; the "
                          "fallback SLO is 0 (TTL 1 h, then the node is expected to shut down)")
    if not report.ok:
        raise CheckFailed("handshake self-test failed: " + _failed_checks(data))


def _failed_checks(data: dict) -> str:
    failed = [f"{name} {check['actual']} (target {check['target']})" for name, check in data["slo"].items()
              if not check["ok"]]
    if not data["slo"]["success_rate"]["ok"] and data.get("failures"):
        failed.append("failures: " + ", ".join(f"{count} x {reason}" for reason, count in data["failures"].items()))
    failed += [f"attack {result['attack']} gave {result['got']}, expected {result['expected']}"
               for result in data.get("negative") or () if result["ok"] is False]
    return "; ".join(failed)


def _outcome_lines(console, data: dict) -> None:
    latency = data["latency_ms"]
    console.print(f"  handshakes  {data['successes']}/{data['attempts']} ok ({data['success_rate']:.2f}%)")
    for reason, count in data["failures"].items():
        console.print(f"  [red]failed[/red]      {count} x {reason}")
    console.print(f"  latency ms  p50 {latency['p50']:.2f}  p95 {latency['p95']:.2f}  p99 {latency['p99']:.2f}  "
                  f"max {latency['max']:.2f}")


def _selftest_table(console, data: dict) -> None:
    from rich.table import Table

    suite = data["suite"]
    console.print(f"Handshake self-test: {suite['name']}, backend {suite['backend'] or 'none (classical)'}")
    console.print(f"  run         {data['count']} handshakes, concurrency {data['concurrency']}")
    _outcome_lines(console, data)
    console.print(f"  throughput  {data['handshakes_per_second']:.0f} handshakes/s")
    phases = "  ".join(f"{name} {value:.3f}" for name, value in data["phases_ms"].items())
    console.print(f"  phases ms   {phases}")
    for name, check in data["slo"].items():
        mark = "ok" if check["ok"] else "[red]BREACH[/red]"
        console.print(f"  SLO {name:<15} {check['actual']} (target {check['target']}) {mark}")
    if data["fallback"]["enabled"]:
        console.print(f"  [red]PQC fallback ENABLED[/red]: {data['fallback']['classical']}; "
                      f"TTL {data['fallback']['ttl_seconds']} s")
    if data["negative"]:
        table = Table(title="Attacks", title_justify="left")
        for column in ("attack", "expected", "got", "result"):
            table.add_column(column)
        for result in data["negative"]:
            verdict = {True: "rejected", False: "[red]FAILED[/red]", None: "n/a"}[result["ok"]]
            table.add_row(result["attack"], result["expected"], str(result["got"] or "-"), verdict)
        console.print(table)
    if data["metrics"].get("file") or data["metrics"].get("pushgateway"):
        where = ", ".join(str(v) for k, v in data["metrics"].items() if k != "values" and v)
        console.print(f"  metrics     written to {where}")


def _server_policy(suite, identity, peer_keys, peer_fingerprints, epoch, replay_window, max_message_size):
    from x0ctl.handshake import PeerPin, ReplayCache, ResponderPolicy
    from x0ctl.handshake.identity import load_peer_key

    allowed = None
    if peer_keys or peer_fingerprints:
        allowed = PeerPin([load_peer_key(path) for path in peer_keys], peer_fingerprints)
    return ResponderPolicy(suite, identity, ReplayCache(window_seconds=replay_window), epoch=epoch,
                           allowed_peers=allowed, max_payload=max_message_size)


def _identity(suite, path: Path | None):
    from x0ctl.handshake import Identity
    from x0ctl.handshake.identity import load_identity

    return load_identity(path, suite) if path is not None else Identity.generate(suite)


@app.command("serve")
def serve(
    ctx: typer.Context,
    listen: Annotated[str, typer.Option("--listen", "-l", help="HOST:PORT to listen on (port 0: any free port).")]
    = "127.0.0.1:7443",
    identity: IdentityOption = None,
    peer_key: Annotated[list[Path] | None, typer.Option("--peer-key", help="Accept only initiators with this "
                        "public key (PEM or raw); repeatable.", show_default=False)] = None,
    peer_fingerprint: Annotated[list[str] | None, typer.Option("--peer-fingerprint", help="Accept only initiators "
                                "with this fingerprint (or unique prefix); repeatable.", show_default=False)] = None,
    max_connections: Annotated[int, typer.Option("--max-connections", min=1, max=4096,
                                                 help="Concurrent connections; extra ones get `busy`.")] = 64,
    max_message_size: MaxMessageOption = 16384,
    read_timeout: Annotated[float, typer.Option("--read-timeout", min=0.05, help="Seconds to wait for each "
                                                "frame.")] = 5.0,
    handshake_timeout: Annotated[float, typer.Option("--handshake-timeout", min=0.1, help="Seconds one "
                                                     "handshake may take in total.")] = 10.0,
    epoch: Annotated[int, typer.Option("--epoch", min=0, help="Current key epoch; older hellos are replays.")] = 0,
    replay_window: Annotated[float, typer.Option("--replay-window", min=1.0, help="Seconds a hello timestamp may "
                                                 "differ from this clock.")] = 30.0,
    metrics_file: MetricsFileOption = None,
    metrics_interval: Annotated[float, typer.Option("--metrics-interval", min=0.5, help="Seconds between "
                                                    "--metrics-file rewrites.")] = 10.0,
    pushgateway: PushgatewayOption = None,
    job: JobOption = "x0ctl_handshake",
    backend: BackendOption = None,
    output: OutputOption = None,
) -> None:
    """Answer hybrid handshakes over TCP until SIGTERM or Ctrl-C.

    Each connection carries one handshake. Prints `listening on HOST:PORT identity sha256:...` on stderr once bound (with an ephemeral identity unless --identity is given; probes pin that fingerprint). Limits concurrent connections, frame size and time per frame and per handshake; every rejection is answered with its reason, counted in the metrics, and the server keeps serving. On SIGTERM it stops accepting, lets running handshakes finish, writes/pushes the metrics and prints a summary.

    Examples:
      x0ctl handshake serve --listen 0.0.0.0:7443 --identity node.pem
      x0ctl handshake serve --listen 127.0.0.1:0 --metrics-file /var/lib/node_exporter/handshake.prom
    """
    import signal
    import threading

    from x0ctl.handshake.metrics import HandshakeMetrics
    from x0ctl.handshake.net import HandshakeServer, ServerSettings, parse_address

    app_ = get_app(ctx, output)
    _check_pushgateway(pushgateway)
    _refuse_fallback("serve")
    host, port = parse_address(listen)
    suite = _hybrid_suite(app_, backend)
    own = _identity(suite, identity)
    policy = _server_policy(suite, own, peer_key or [], peer_fingerprint or [], epoch, replay_window, max_message_size)
    metrics = HandshakeMetrics()
    metrics.set_fallback(False)
    server = HandshakeServer(policy, host, port, ServerSettings(max_connections, read_timeout, handshake_timeout),
                             metrics=metrics)
    server.bind()
    stop = threading.Event()
    received: list[str] = []

    def request_stop(signum, _frame) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    sys.stderr.write(f"x0ctl: handshake: listening on {server.address} identity {own.fingerprint} "
                     f"suite {suite.name} backend {suite.backend_name}\n")
    sys.stderr.flush()
    flusher = None
    if metrics_file is not None:
        metrics.write_textfile(metrics_file)

        def flush_periodically() -> None:
            while not stop.wait(metrics_interval):
                try:
                    metrics.write_textfile(metrics_file)
                except IOFailure as exc:
                    app_.warn(str(exc))

        flusher = threading.Thread(target=flush_periodically, daemon=True, name="x0ctl-metrics")
        flusher.start()
    try:
        server.serve(stop)
    finally:
        stop.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    unfinished = server.drain(0)
    data = {"listen": server.address, "identity": own.fingerprint, "suite": suite.describe(),
            "stopped_by": received[0] if received else None, "unfinished": unfinished,
            **server.tally.to_dict(), "phases_ms": server.tally.phases_ms(),
            "metrics": _publish(metrics, metrics_file, pushgateway, job)}

    def table(console) -> None:
        console.print(f"Handshake server on {data['listen']} stopped ({data['stopped_by'] or 'done'}); identity "
                      f"{data['identity']}")
        _outcome_lines(console, data)

    app_.emit(data, table)


@app.command("probe")
def probe(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="The responder, HOST:PORT.", metavar="HOST:PORT")],
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=1_000_000, help="Handshakes to run (one TCP "
                                       "connection each).")] = 1,
    peer_key: Annotated[Path | None, typer.Option("--peer-key", help="Expected responder public key (PEM or raw).",
                                                  show_default=False)] = None,
    peer_fingerprint: Annotated[str | None, typer.Option(
        "--peer-fingerprint", help="Expected responder fingerprint, sha256:<64 hex> or a prefix of >= 32 hex digits.",
        show_default=False)] = None,
    identity: IdentityOption = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.05, help="Seconds per handshake (connect + "
                                           "exchange).")] = 5.0,
    epoch: Annotated[int, typer.Option("--epoch", min=0, help="This side's key epoch.")] = 0,
    max_message_size: MaxMessageOption = 16384,
    metrics_file: MetricsFileOption = None,
    pushgateway: PushgatewayOption = None,
    job: JobOption = "x0ctl_handshake",
    min_success_rate: MinSuccessOption = 99.0,
    max_p95_ms: MaxP95Option = 100.0,
    backend: BackendOption = None,
    protocol: Annotated[str, typer.Option("--protocol", help="x0ctl (this toolkit's hybrid handshake over TCP) or "
                                          "mesh-agent-udp (the deployed Go agent's UDP handshake, port 5000 by "
                                          "default; docs/mesh.md).")] = "x0ctl",
    audit: Annotated[bool, typer.Option("--audit", help="mesh-agent-udp: also test what the agent's protocol leaves "
                                        "open (replayed init, unknown or changed keys) and exit 1 on findings.")] = False,
    node_id: Annotated[str | None, typer.Option("--node-id", help="mesh-agent-udp: the node id to present (default: "
                                                "a random x0ctl-probe-... id; never reuse a live node's id, the agent "
                                                "replaces its session).", show_default=False)] = None,
    output: OutputOption = None,
) -> None:
    """Run real hybrid handshakes against a peer over TCP and report latency percentiles.

    The responder's identity is pinned like known_hosts: with --peer-key or --peer-fingerprint any other key fails with unknown_peer; without them the first identity seen is pinned for the rest of the run (and a warning says so). Exit 1 on any failed check (a wrong identity, an SLO breach), 4 when the peer cannot be reached at all.

    With --protocol mesh-agent-udp it speaks the deployed Go agent's UDP handshake instead (0x10 init / 0x11 response, ML-KEM-768, ML-DSA-65, HKDF-SHA256) and --audit reports what that protocol leaves open.

    Examples:
      x0ctl handshake probe 10.0.0.7:7443 --peer-fingerprint sha256:3f2a9c1b7d4e5f60718293a4b5c6d7e8
      x0ctl handshake probe 127.0.0.1:7443 --count 100 --peer-key peer.pub.pem -o json
      x0ctl handshake probe --protocol mesh-agent-udp 10.0.0.7:5000 --peer-key agent.pub.hex --audit
    """
    from x0ctl.cli.handshake_mesh import check_protocol, probe_mesh_agent

    if check_protocol(protocol) == "mesh-agent-udp":
        probe_mesh_agent(get_app(ctx, output), target, count=count, peer_key=peer_key,
                         peer_fingerprint=peer_fingerprint, timeout=timeout, audit=audit, node_id=node_id)
        return
    if audit or node_id is not None:
        raise UsageError("--audit and --node-id apply to --protocol mesh-agent-udp only")
    from x0ctl.handshake import PeerPin, normalize_fingerprint
    from x0ctl.handshake.identity import load_peer_key
    from x0ctl.handshake.metrics import HandshakeMetrics
    from x0ctl.handshake.net import parse_address, run_probe
    from x0ctl.handshake.reasons import FailureReason
    from x0ctl.handshake.stats import slo_checks
    from x0ctl.pqc.fingerprint import fingerprint

    app_ = get_app(ctx, output)
    _check_pushgateway(pushgateway)
    _refuse_fallback("probe")
    host, port = parse_address(target)
    if port == 0:
        raise UsageError(f"{target!r}: port 0 is not a destination")
    suite = _hybrid_suite(app_, backend)
    pin = None
    if peer_key is not None or peer_fingerprint is not None:
        keys = [load_peer_key(peer_key)] if peer_key is not None else []
        if keys and peer_fingerprint is not None:
            actual = fingerprint(suite.identity_algorithm, keys[0]).removeprefix("sha256:")
            if not actual.startswith(normalize_fingerprint(peer_fingerprint)):
                raise UsageError(f"--peer-key {peer_key} does not have fingerprint {peer_fingerprint}")
        pin = PeerPin(keys, [peer_fingerprint] if peer_fingerprint is not None and not keys else [])
    else:
        app_.warn("peer identity not pinned (no --peer-key/--peer-fingerprint): trusting the first key seen")
    own = _identity(suite, identity)
    metrics = HandshakeMetrics()
    metrics.set_fallback(False)
    with app_.progress("handshakes", total=count) as progress:
        report = run_probe(host, port, suite, own, count=count, pin=pin, epoch=epoch, timeout=timeout,
                           max_payload=max_message_size, metrics=metrics, progress=progress)
    data = report.to_dict()
    data["slo"] = slo_checks(report.tally, min_success_rate, max_p95_ms)
    data["ok"] = all(check["ok"] for check in data["slo"].values())
    data["metrics"] = _publish(metrics, metrics_file, pushgateway, job)

    def table(console) -> None:
        console.print(f"Handshake probe of {data['target']} ({suite.name}, backend {suite.backend_name})")
        console.print(f"  peer        {', '.join(data['peer_fingerprints']) or 'unknown'}"
                      f"{'' if data['pinned'] else ' (not pinned)'}")
        _outcome_lines(console, data)
        for reason, detail in data["errors"].items():
            console.print(f"  {reason}: {detail}")

    app_.emit(data, table)
    unreachable = {FailureReason.CONNECTION.value, FailureReason.TIMEOUT.value}
    if report.tally.successes == 0 and data["failures"] and set(data["failures"]) <= unreachable:
        reason, detail = next(iter(data["errors"].items()))
        raise IOFailure(f"cannot complete a handshake with {data['target']}: {reason}: {detail}")
    if not data["ok"]:
        raise CheckFailed(f"handshake probe of {data['target']} failed: " + _failed_checks(data))
