"""`x0ctl handshake`: Hybrid post-quantum handshake: self-test, probe a peer, metrics."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from x0ctl.cli.app import OutputOption, get_app
from x0ctl.cli.options import BackendOption
from x0ctl.errors import UsageError

app = typer.Typer(help="""Hybrid post-quantum handshake: self-test, serve, probe a peer, metrics.

x0ctl's own channel handshake, protocol version 2: X-Wing (ML-KEM-768 + X25519) key exchange, identities and ML-DSA-65 transcript signatures sent only under AEAD keys from the KEM, HKDF key schedule, key confirmation, authenticated results, stateless cookies under load. Authorization is closed by default: serve needs an allow-list, probe a pinned responder. selftest proves it in-process (and that the known attacks fail), serve and probe run it over TCP. Metrics: pqc_handshake_success_total, pqc_handshake_failure_total{reason,origin}, pqc_handshake_latency_seconds. See docs/handshake.md.

Examples:
  x0ctl handshake selftest --count 1000 --negative
  x0ctl handshake serve --listen 127.0.0.1:7443 --identity node.pem --peers-file peers.txt
  x0ctl handshake probe 127.0.0.1:7443 --peer-fingerprint sha256:3f9a1c2b7d4e5f60718293a4b5c6d7e8 --count 50
""", no_args_is_help=True)

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
KeystoreOption = Annotated[
    Path | None,
    typer.Option("--keystore", help="Use this keystore's active ML-DSA-65 signing key as the identity (instead of "
                 "--identity).", show_default=False),
]
IdentityOption = Annotated[
    Path | None,
    typer.Option("--identity", help="This side's ML-DSA-65 private key (PKCS#8 PEM, seed form); default: an "
                 "ephemeral identity.", show_default=False),
]


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
    from x0ctl.handshake import service

    app_ = get_app(ctx, output)
    service.check_pushgateway(pushgateway)
    suite, fallback = service.selftest_suite(app_.backend_for(backend))
    if fallback:
        app_.warn(f"{service.DISABLE_PQC_VAR}=true: PQC fallback is ON; running classical-only handshakes (X25519 + "
                  "Ed25519). Fallback has a TTL of 1 h, after which the node is expected to shut down.")
    with app_.progress("handshakes", total=count) as progress:
        report = service.selftest(suite, fallback, count, concurrency=concurrency, negative=negative,
                                  metrics_file=metrics_file, pushgateway=pushgateway, job=job,
                                  min_success_rate=min_success_rate, max_p95_ms=max_p95_ms, progress=progress)
    data = report.to_dict()
    app_.emit(data, lambda console: _selftest_table(console, data))
    service.selftest_verdict(report)


def _outcome_lines(console, data: dict) -> None:
    latency = data["latency_ms"]
    console.print(f"  handshakes  {data['successes']}/{data['attempts']} ok ({data['success_rate']:.2f}%)")
    for reason, count in data["failures"].items():
        console.print(f"  [red]failed[/red]      {count} x {reason}")
    for reason, count in data["peer_reported"].items():
        console.print(f"  [red]refused[/red]     {count} x {reason} (reported by the peer)")
    if latency["p50"] is None:
        console.print("  latency ms  - (no handshake succeeded)")
    else:
        console.print(f"  latency ms  p50 {latency['p50']:.2f}  p95 {latency['p95']:.2f}  "
                      f"p99 {latency['p99']:.2f}  max {latency['max']:.2f}")


def _selftest_table(console, data: dict) -> None:
    suite = data["suite"]
    console.print(f"Handshake self-test: {suite['name']}, backend {suite['backend'] or 'none (classical)'}")
    console.print(f"  run         {data['count']} handshakes, concurrency {data['concurrency']}")
    _outcome_lines(console, data)
    console.print(f"  throughput  {data['handshakes_per_second']:.0f} handshakes/s")
    phases = "  ".join(f"{name} {value:.3f}" for name, value in data["phases_ms"].items())
    console.print(f"  phases ms   {phases}")
    for name, check in data["slo"].items():
        mark = "ok" if check["ok"] else "[red]BREACH[/red]"
        actual = "n/a" if check["actual"] is None else check["actual"]
        console.print(f"  SLO {name:<15} {actual} (target {check['target']}) {mark}")
    if data["fallback"]["enabled"]:
        console.print(f"  [red]PQC fallback ENABLED[/red]: {data['fallback']['classical']}; "
                      f"TTL {data['fallback']['ttl_seconds']} s")
    if data["negative"]:
        table = console.table("attack", "expected", "got", "result", title="Attacks")
        for result in data["negative"]:
            verdict = {True: "rejected", False: "[red]FAILED[/red]", None: "n/a"}[result["ok"]]
            table.add_row(result["attack"], result["expected"], str(result["got"] or "-"), verdict)
        console.print(table)
    if data["metrics"].get("file") or data["metrics"].get("pushgateway"):
        where = ", ".join(str(v) for k, v in data["metrics"].items() if k != "values" and v)
        console.print(f"  metrics     written to {where}")


def _identity(suite, path: Path | None, keystore: Path | None = None):
    from x0ctl.handshake.identity import node_identity

    return node_identity(suite, path, keystore)


@app.command("serve")
def serve(
    ctx: typer.Context,
    listen: Annotated[str, typer.Option("--listen", "-l", help="HOST:PORT to listen on (port 0: any free port).")]
    = "127.0.0.1:7443",
    identity: IdentityOption = None,
    keystore: KeystoreOption = None,
    peer_key: Annotated[list[Path] | None, typer.Option("--peer-key", help="Accept the initiator with this "
                        "public key (PEM or raw); repeatable.", show_default=False)] = None,
    peer_fingerprint: Annotated[list[str] | None, typer.Option("--peer-fingerprint", help="Accept the initiator "
                                "with this fingerprint (or a prefix of >= 32 hex digits); repeatable.",
                                show_default=False)] = None,
    peers_file: Annotated[Path | None, typer.Option("--peers-file", help="Accept the initiators whose fingerprints "
                          "this file lists, one per line (# comments).", show_default=False)] = None,
    allow_any_peer: Annotated[bool, typer.Option("--allow-any-peer", help="Accept ANY initiator that proves "
                              "possession of some key: authentication without authorization. Warned about and "
                              "shown in the metrics.")] = False,
    max_connections: Annotated[int, typer.Option("--max-connections", min=1, max=4096,
                                                 help="Concurrent connections; extra ones get `busy`.")] = 64,
    max_per_source: Annotated[int, typer.Option("--max-per-source", min=1, max=4096,
                                                help="Concurrent connections one source address may hold; extra "
                                                "ones get `busy`.")] = 8,
    first_frame_timeout: Annotated[float, typer.Option("--first-frame-timeout", min=0.05, help="Seconds from "
                                   "accept to a complete CLIENT_HELLO; an idle or trickling socket is dropped "
                                   "then.")] = 1.0,
    min_rate: Annotated[float, typer.Option("--min-rate", min=0.0, help="Bytes per second every later frame must "
                        "arrive at: it must be complete within --first-frame-timeout plus its size at this rate "
                        "(a trickling peer is dropped with `timeout`). 0: no minimum.")] = 8192.0,
    cookie_rate: Annotated[float, typer.Option("--cookie-rate", min=0.0, help="Handshakes per second answered "
                           "without a cookie; beyond it (or with half the connections taken) a hello must "
                           "first echo a stateless cookie. 0: always.")] = 100.0,
    max_message_size: MaxMessageOption = 16384,
    read_timeout: Annotated[float, typer.Option("--read-timeout", min=0.05, help="Seconds to wait for each "
                                                "frame.")] = 5.0,
    handshake_timeout: Annotated[float, typer.Option("--handshake-timeout", min=0.1, help="Seconds one "
                                                     "handshake may take in total.")] = 10.0,
    metrics_file: MetricsFileOption = None,
    metrics_interval: Annotated[float, typer.Option("--metrics-interval", min=0.5, help="Seconds between "
                                                    "--metrics-file rewrites.")] = 10.0,
    metrics_listen: Annotated[str | None, typer.Option("--metrics-listen", metavar="HOST:PORT", help="Serve the "
                              "metrics for Prometheus at http://HOST:PORT/metrics while running.",
                              show_default=False)] = None,
    node: Annotated[str | None, typer.Option("--node", help="The `node` label on every metric (default: the host "
                    "name).", show_default=False)] = None,
    pushgateway: PushgatewayOption = None,
    job: JobOption = "x0ctl_handshake",
    backend: BackendOption = None,
    output: OutputOption = None,
) -> None:
    """Answer hybrid handshakes over TCP until SIGTERM or Ctrl-C.

    Needs an allow-list of initiators (--peer-key, --peer-fingerprint, --peers-file) or an explicit --allow-any-peer. Each connection carries one handshake. Prints `listening on HOST:PORT identity sha256:...` on stderr once bound (with an ephemeral identity unless --identity is given; probes pin that fingerprint). Limits concurrent connections, frame size, time per frame and per handshake, and public-key work (cookies past --cookie-rate); every local rejection is counted with its reason, peers are told only a coarse one, and the server keeps serving. On SIGTERM it stops accepting, lets running handshakes finish, writes/pushes the metrics and prints a summary.

    Examples:
      x0ctl handshake serve --listen 0.0.0.0:7443 --identity node.pem --peers-file /etc/x0ctl/peers
      x0ctl handshake serve --listen 127.0.0.1:0 --allow-any-peer --metrics-file /var/lib/node_exporter/handshake.prom
      x0ctl handshake serve --keystore /var/lib/x0ctl/keys --peers-file peers --metrics-listen 127.0.0.1:9464
    """
    import signal
    import threading

    from x0ctl.handshake import service
    from x0ctl.handshake.net import ServerSettings

    app_ = get_app(ctx, output)
    service.check_pushgateway(pushgateway)
    suite = service.serving_suite(app_.backend_for(backend), "serve")
    own = _identity(suite, identity, keystore)
    responder = service.HandshakeService(
        suite, own, listen, peer_keys=peer_key or [], peer_fingerprints=peer_fingerprint or [], peers_file=peers_file,
        allow_any_peer=allow_any_peer, settings=ServerSettings(max_connections, read_timeout, handshake_timeout,
                                                               cookie_rate, max_per_source, first_frame_timeout,
                                                               min_rate),
        max_payload=max_message_size, node=node, metrics_listen=metrics_listen)
    if allow_any_peer:
        app_.warn("--allow-any-peer: ANY initiator holding ANY key is accepted; the handshake authenticates keys "
                  "but authorizes nobody (x0ctl_handshake_serve_info{authorization=\"any_peer\"} 1)")
    address = responder.bind()
    stop = threading.Event()
    received: list[str] = []

    def request_stop(signum, _frame) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    sys.stderr.write(f"x0ctl: handshake: listening on {address} identity {own.fingerprint} "
                     f"suite {suite.name} backend {suite.backend_name} authorization {responder.authorization}\n")
    if responder.metrics_endpoint is not None:
        sys.stderr.write(f"x0ctl: handshake: metrics on {responder.metrics_endpoint.url}\n")
    sys.stderr.flush()
    try:
        report = responder.run(stop, metrics_file=metrics_file, metrics_interval=metrics_interval,
                               pushgateway=pushgateway, job=job, warn=app_.warn)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    report.stopped_by = received[0] if received else None
    data = report.to_dict()

    def table(console) -> None:
        console.print(f"Handshake server on {data['listen']} stopped ({data['stopped_by'] or 'done'}); identity "
                      f"{data['identity']}; authorization {data['authorization']}")
        _outcome_lines(console, data)
        console.print(f"  cookies     {data['cookie_replies']} hellos answered with a cookie")
        if data["evicted"]:
            console.print(f"  evicted     {data['evicted']} connections for sources below their fair share")

    app_.emit(data, table)


@app.command("probe")
def probe(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Argument(help="The responder, HOST:PORT (or --inventory).",
                                                 metavar="HOST:PORT", show_default=False)] = None,
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=1_000_000, help="Handshakes to run (one TCP "
                                       "connection each).")] = 1,
    peer_key: Annotated[Path | None, typer.Option("--peer-key", help="Expected responder public key (PEM or raw).",
                                                  show_default=False)] = None,
    peer_fingerprint: Annotated[str | None, typer.Option(
        "--peer-fingerprint", help="Expected responder fingerprint, sha256:<64 hex> or a prefix of >= 32 hex digits.",
        show_default=False)] = None,
    insecure_any_peer: Annotated[bool, typer.Option("--insecure-any-peer", help="Accept any responder key: the "
                                 "probe then proves nothing about who answered.")] = False,
    identity: IdentityOption = None,
    keystore: KeystoreOption = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.05, help="Seconds per handshake (connect + "
                                           "exchange).")] = 5.0,
    max_message_size: MaxMessageOption = 16384,
    metrics_file: MetricsFileOption = None,
    pushgateway: PushgatewayOption = None,
    job: JobOption = "x0ctl_handshake",
    min_success_rate: MinSuccessOption = 99.0,
    max_p95_ms: Annotated[float | None, typer.Option("--max-p95-ms", min=0.0, help="SLO: p95 latency must stay "
                          "below this (default 100; with --inventory checked per peer only when given).",
                          show_default=False)] = None,
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
    inventory: Annotated[Path | None, typer.Option("--inventory", help="Probe every peer of this inventory "
                         "(YAML or CSV: HOST:PORT and the peer's fingerprint per entry, or rollout's nodes: "
                         "list) instead of one HOST:PORT.", show_default=False)] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=1024, help="With --inventory: "
                           "peers probed at once.")] = 16,
    node: Annotated[str | None, typer.Option("--node", help="With --inventory: the `node` label of the metrics "
                    "(default: the host name).", show_default=False)] = None,
) -> None:
    """Run real hybrid handshakes against a peer over TCP and report latency percentiles.

    The responder's identity must be pinned like known_hosts (--peer-key or --peer-fingerprint; any other key fails with unknown_peer), or --insecure-any-peer given. A handshake counts as a success only on the responder's authenticated acceptance; refusals the responder reports are listed under peer_reported. Exit 1 on any failed check (a wrong identity, a refusal, an SLO breach), 4 when the peer cannot be reached at all.

    With --inventory FILE every peer listed there is probed, --concurrency at a time, each pinned to its own fingerprint; a table shows per peer ok, latency p50/p95 and the failure reason, the metrics carry a `peer` label (the entry's name), and exit 1 names every failed peer.

    With --protocol mesh-agent-udp it speaks the deployed Go agent's UDP handshake instead (0x10 init / 0x11 response, ML-KEM-768, ML-DSA-65, HKDF-SHA256) and --audit reports what that protocol leaves open.

    Examples:
      x0ctl handshake probe 10.0.0.7:7443 --peer-fingerprint sha256:3f2a9c1b7d4e5f60718293a4b5c6d7e8
      x0ctl handshake probe 127.0.0.1:7443 --count 100 --peer-key peer.pub.pem -o json
      x0ctl handshake probe --inventory peers.yaml --concurrency 50 --metrics-file /var/lib/node_exporter/fleet.prom
      x0ctl handshake probe --protocol mesh-agent-udp 10.0.0.7:5000 --peer-key agent.pub.hex --audit
    """
    from x0ctl.cli.handshake_mesh import check_protocol, probe_mesh_agent

    if check_protocol(protocol) == "mesh-agent-udp":
        if inventory is not None or target is None:
            raise UsageError("--protocol mesh-agent-udp probes one HOST:PORT; --inventory is for x0ctl's protocol")
        probe_mesh_agent(get_app(ctx, output), target, count=count, peer_key=peer_key,
                         peer_fingerprint=peer_fingerprint, timeout=timeout, audit=audit, node_id=node_id,
                         insecure_any_peer=insecure_any_peer)
        return
    if audit or node_id is not None:
        raise UsageError("--audit and --node-id apply to --protocol mesh-agent-udp only")
    from x0ctl.handshake import service

    app_ = get_app(ctx, output)
    service.check_pushgateway(pushgateway)
    if inventory is not None or target is None:
        _probe_fleet(app_, target, peer_key, peer_fingerprint, inventory, count, concurrency, insecure_any_peer,
                     timeout, max_message_size, min_success_rate, max_p95_ms, backend, identity, keystore,
                     metrics_file, pushgateway, job, node)
        return
    max_p95_ms = 100.0 if max_p95_ms is None else max_p95_ms
    request = service.ProbeRequest(target, count, peer_key, peer_fingerprint, insecure_any_peer, timeout,
                                   max_message_size, min_success_rate, max_p95_ms)
    suite = service.serving_suite(app_.backend_for(backend), "probe")
    own = _identity(suite, identity, keystore)
    if insecure_any_peer:
        app_.warn("--insecure-any-peer: the responder's identity is not checked; a success proves only that "
                  "something holding some key answered")
    with app_.progress("handshakes", total=count) as progress:
        report = service.probe(request, suite, own, metrics_file=metrics_file, pushgateway=pushgateway, job=job,
                               progress=progress)
    data = report.to_dict()

    def table(console) -> None:
        console.print(f"Handshake probe of {data['target']} ({suite.name}, backend {suite.backend_name})")
        console.print(f"  peer        {', '.join(data['peer_fingerprints']) or 'unknown'}"
                      f"{'' if data['pinned'] else ' (NOT pinned: --insecure-any-peer)'}")
        _outcome_lines(console, data)
        for reason, detail in data["errors"].items():
            console.print(f"  {reason}: {detail}")

    app_.emit(data, table)
    service.probe_verdict(report)


def _probe_fleet(app_, target, peer_key, peer_fingerprint, inventory, count, concurrency, insecure_any_peer, timeout,
                 max_message_size, min_success_rate, max_p95_ms, backend, identity, keystore, metrics_file,
                 pushgateway, job, node) -> None:
    """`probe --inventory`: the fleet branch of `probe`, kept apart from the single-target path."""
    from x0ctl.errors import UsageError
    from x0ctl.handshake import service

    if inventory is None:
        raise UsageError("probe needs HOST:PORT (or --inventory FILE)")
    if target is not None or peer_key is not None or peer_fingerprint is not None:
        raise UsageError("--inventory names the peers and their fingerprints: give no HOST:PORT, --peer-key "
                         "or --peer-fingerprint with it")
    request = service.FleetRequest(inventory, count, concurrency, insecure_any_peer, timeout, max_message_size,
                                   min_success_rate, max_p95_ms)
    suite = service.serving_suite(app_.backend_for(backend), "probe")
    own = _identity(suite, identity, keystore)
    if request.insecure_any_peer:
        app_.warn("--insecure-any-peer: the peers' identities are not checked; a success proves only that "
                  "something holding some key answered")
    with app_.progress("peers", total=1) as progress:  # the callback carries the inventory's size
        report = service.probe_inventory(request, suite, own, metrics_file=metrics_file, pushgateway=pushgateway,
                                         job=job, node=node, progress=progress)
    data = report.to_dict()

    def table(console) -> None:
        summary = data["summary"]
        console.print(f"Handshake probe of {summary['peers']} peers from {data['inventory']} ({suite.name}, "
                      f"backend {suite.backend_name}): {summary['ok']} ok, {summary['failed']} failed, "
                      f"{data['seconds']:.1f} s")
        right = {"justify": "right"}
        grid = console.table("peer", "target", "ok", ("handshakes", right), ("p50 ms", right), ("p95 ms", right),
                             ("reason", {"overflow": "fold"}))
        for peer in data["peers"]:
            latency = peer["latency_ms"]
            grid.add_row(peer["name"], peer["target"], "ok" if peer["ok"] else "[red]FAILED[/red]",
                         f"{peer['successes']}/{peer['attempts']}",
                         "-" if latency["p50"] is None else f"{latency['p50']:.2f}",
                         "-" if latency["p95"] is None else f"{latency['p95']:.2f}",
                         "" if peer["reason"] is None else f"{peer['reason']}: {peer['error'] or ''}".rstrip(": "))
        console.print(grid)

    app_.emit(data, table)
    service.fleet_verdict(report)
