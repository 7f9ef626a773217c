"""`x0ctl handshake probe --protocol mesh-agent-udp HOST:PORT`: the deployed Go agent's UDP handshake.

Kept apart from x0ctl/cli/handshake.py (x0ctl's own protocol): `probe` hands over to
`probe_mesh_agent` when --protocol is mesh-agent-udp. The work is x0ctl.mesh.agent_udp.probe_agent.
"""

from __future__ import annotations

from pathlib import Path

from x0ctl.errors import CheckFailed, IOFailure, UsageError

PROTOCOLS = ("x0ctl", "mesh-agent-udp")


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise UsageError(f"--protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    return protocol


def probe_mesh_agent(app_, target: str, *, count: int, peer_key: Path | None, peer_fingerprint: str | None,
                     timeout: float, audit: bool, node_id: str | None, insecure_any_peer: bool) -> None:
    from x0ctl.mesh.agent_udp import probe_agent_at

    if peer_key is None and peer_fingerprint is None:
        if not insecure_any_peer:
            raise UsageError("pin the agent's identity with --peer-key or --peer-fingerprint, or accept any key "
                             "explicitly with --insecure-any-peer")
        app_.warn("--insecure-any-peer: the agent's identity is not checked; trusting the first key seen")
    report = probe_agent_at(target, backend=app_.backend, count=count, timeout=timeout, peer_key=peer_key,
                            peer_fingerprint=peer_fingerprint, audit=audit, node_id=node_id)
    data = report.to_dict()
    app_.emit(data, lambda console: _table(console, data))
    if not report.reachable:
        first = report.attempts[0]
        raise IOFailure(f"no handshake with the agent at {data['target']}: {first.outcome}: {first.detail}")
    if not report.ok:
        failed = [f"{outcome} {n}" for outcome, n in data["outcomes"].items() if outcome != "ok"]
        failed += [f["code"] for f in data["findings"] if f["severity"] == "fail"]
        raise CheckFailed(f"mesh agent probe of {data['target']}: {', '.join(failed)}")


def _table(console, data: dict) -> None:
    responder = data["responder"]
    console.print(f"Mesh agent UDP handshake probe of {data['target']} as {data['node_id']} "
                  f"({data['kem']}, {data['signature']}, {data['kdf']})")
    console.print(f"  agent       {responder['node_id'] or 'no answer'}  key id {responder['key_id'] or '-'}  "
                  f"{responder['fingerprint'] or ''}{'' if data['pinned'] else ' (not pinned)'}")
    outcomes = ", ".join(f"{k} {v}" for k, v in data["outcomes"].items())
    latency = data["latency_ms"]
    console.print(f"  handshakes  {data['successes']}/{data['count']} ({outcomes}); session keys derived "
                  f"{data['session_keys_derived']}")
    if latency["p50"] is not None:
        console.print(f"  latency     p50 {latency['p50']:.2f} ms  p95 {latency['p95']:.2f} ms  "
                      f"max {latency['max']:.2f} ms")
    sizes = data["datagram_bytes"]
    response = "-" if sizes["response"] is None else f"{sizes['response']} B"
    console.print(f"  datagrams   init {sizes['init']} B, response {response}")
    for finding in data["findings"]:
        mark = "[red]FAIL[/red]" if finding["severity"] == "fail" else "info"
        console.print(f"  {mark} {finding['code']}: {finding['detail']}")
