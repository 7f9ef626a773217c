"""`x0ctl handshake probe --protocol mesh-agent-udp`: the Go agent's UDP handshake, against a responder on 127.0.0.1.

The responder (tests/agent_udp_responder.py) is written from the documented frame format with
pyca/cryptography, independently of x0ctl.mesh.agent_udp.
"""

from __future__ import annotations

import socket

import pytest

import x0ctl.mesh.agent_udp as agent_udp
from x0ctl.errors import UsageError
from x0ctl.pqc.fingerprint import fingerprint
from x0ctl.schemas import load_schema

from .agent_udp_responder import AgentResponder
from .conftest import assert_one_line_error

jsonschema = pytest.importorskip("jsonschema", reason="the `test` extra provides jsonschema")
MESH = ("handshake", "probe", "--protocol", "mesh-agent-udp")


def probe(cli, *args: str, expect: int = 0) -> dict:
    data = cli.json(*MESH, *args, expect=expect)
    assert not list(jsonschema.Draft202012Validator(load_schema("handshake probe", "mesh-agent-udp"))
                    .iter_errors(data))
    return data


@pytest.fixture
def pinned_key(tmp_path):
    def write(responder: AgentResponder) -> str:
        path = tmp_path / "agent.pub.hex"
        path.write_text(responder.public_key.hex() + "\n")  # as GET /mesh/pqc/pubkeys gives it
        return str(path)

    return write


def test_handshakes_with_a_pinned_agent(cli, pinned_key, monkeypatch):
    derived: list[bytes] = []
    real = agent_udp.session_key
    monkeypatch.setattr(agent_udp, "session_key", lambda secret: derived.append(real(secret)) or derived[-1])
    with AgentResponder("agent-7") as agent:
        data = probe(cli, agent.address, "--count", "3", "--peer-key", pinned_key(agent))
        assert derived == agent.session_keys and len(derived) == 3  # both sides hold the same keys
    assert data["ok"] is True and data["successes"] == 3 and data["session_keys_derived"] == 3
    assert data["responder"]["node_id"] == "agent-7" and data["pinned"] is True
    assert data["responder"]["key_id"] == agent_udp.mesh_key_id(agent.public_key)
    assert data["latency_ms"]["p50"] > 0 and data["latency_ms"]["max"] >= data["latency_ms"]["p95"]
    assert data["node_id"].startswith("x0ctl-probe-") and data["findings"] == []
    assert data["datagram_bytes"] == {"init": 1 + 2 + len(data["node_id"]) + 1184 + 1952 + 3309,
                                      "response": 1 + 2 + len("agent-7") + 1088 + 1952 + 3309}


def test_pinned_by_fingerprint_and_a_table(cli):
    with AgentResponder() as agent:
        pin = fingerprint("ML-DSA-65", agent.public_key)
        result = cli(*MESH, agent.address, "--peer-fingerprint", pin)
    assert result.exit_code == 0, result.stderr
    assert "agent-1" in result.stdout and "latency" in result.stdout


def test_unpinned_runs_need_insecure_any_peer_and_warn(cli):
    with AgentResponder() as agent:
        refused = cli(*MESH, agent.address)
        result = cli(*MESH, agent.address, "--insecure-any-peer")
    assert refused.exit_code == 2
    assert_one_line_error(refused.stderr, "--insecure-any-peer")
    assert result.exit_code == 0
    assert "identity is not checked" in result.stderr


def test_another_key_than_the_pinned_one_fails(cli, pinned_key):
    with AgentResponder() as other, AgentResponder() as agent:
        data = probe(cli, agent.address, "--peer-key", pinned_key(other), expect=1)
    assert data["outcomes"] == {"key_mismatch": 1} and data["session_keys_derived"] == 0
    with AgentResponder() as agent:
        result = cli(*MESH, agent.address, "--peer-fingerprint", "sha256:" + "0" * 64)
    assert result.exit_code == 1
    assert_one_line_error(result.stderr, "key_mismatch")


def test_a_broken_response_signature_fails(cli, pinned_key):
    with AgentResponder(corrupt_signature=True) as agent:
        data = probe(cli, agent.address, "--peer-key", pinned_key(agent), expect=1)
    assert data["outcomes"] == {"bad_signature": 1}


def test_a_truncated_response_is_malformed(cli):
    with AgentResponder(truncate=True) as agent:
        data = probe(cli, agent.address, "--insecure-any-peer", expect=1)
    assert data["outcomes"] == {"malformed": 1}
    assert "truncated" in data["attempts"][0]["detail"]


def test_audit_shows_what_the_agent_leaves_open(cli, pinned_key):
    with AgentResponder() as agent:
        data = probe(cli, agent.address, "--peer-key", pinned_key(agent), "--audit", expect=1)
        answered = len(agent.session_keys)
    codes = {f["code"]: f["severity"] for f in data["findings"]}
    assert codes["replayed_init_accepted"] == "fail"
    assert codes["unknown_peer_trusted"] == "fail"
    assert codes["peer_key_not_pinned"] == "fail"
    assert {"no_freshness", "no_key_confirmation", "no_classical_half", "ip_fragmentation"} <= set(codes)
    assert codes["forged_init_refused"] == "info"
    assert data["successes"] == 1 and answered == 3  # the handshake, the replay, the second key


def test_audit_tells_a_hardened_agent_apart(cli, pinned_key):
    with AgentResponder(reject_replays=True, pin_first_key=True) as agent:
        data = probe(cli, agent.address, "--peer-key", pinned_key(agent), "--audit", "--timeout", "0.3", expect=1)
        assert agent.refused == 3  # the replay, the second key, the broken signature
    codes = {f["code"] for f in data["findings"]}
    assert {"replayed_init_refused", "peer_key_pinned", "unknown_peer_trusted"} <= codes
    assert not {"replayed_init_accepted", "peer_key_not_pinned"} & codes


def test_audit_catches_an_agent_that_skips_signature_checks(cli, pinned_key):
    with AgentResponder(skip_verification=True) as agent:
        data = probe(cli, agent.address, "--peer-key", pinned_key(agent), "--audit", expect=1)
    assert {f["code"]: f["severity"] for f in data["findings"]}["forged_init_accepted"] == "fail"


def test_nothing_listening_exits_4(cli):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
    result = cli(*MESH, f"127.0.0.1:{port}", "--timeout", "0.3", "--insecure-any-peer")
    assert result.exit_code == 4
    assert_one_line_error(result.stderr, "no handshake with the agent")


def test_a_silent_port_times_out_with_exit_4(cli):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        data = probe(cli, f"127.0.0.1:{silent.getsockname()[1]}", "--timeout", "0.2", "--insecure-any-peer",
                     expect=4)
    assert data["outcomes"] == {"timeout": 1}


def test_a_silent_port_shows_no_response_size_rather_than_none(cli):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        result = cli(*MESH, f"127.0.0.1:{silent.getsockname()[1]}", "--timeout", "0.2", "--insecure-any-peer",
                     env={"COLUMNS": "200"})
    assert result.exit_code == 4
    assert "response -" in result.stdout and "None" not in result.stdout


@pytest.mark.parametrize(("args", "code", "fragment"), [
    (("127.0.0.1:5000", "--peer-fingerprint", "sha256:abcd"), 2, "fingerprint"),
    (("127.0.0.1:5000", "--peer-key", "{missing}"), 4, "cannot read peer key"),
    (("127.0.0.1:0", "--insecure-any-peer"), 2, "port 0"),
    (("127.0.0.1:5000", "--peer-key", "{bad}"), 2, "neither PEM"),
])
def test_bad_input(cli, tmp_path, args, code, fragment):
    (tmp_path / "bad").write_text("zz")
    args = [a.format(missing=tmp_path / "missing", bad=tmp_path / "bad") for a in args]
    result = cli(*MESH, *args)
    assert result.exit_code == code
    assert_one_line_error(result.stderr, fragment)


def test_protocol_options_are_checked(cli):
    assert_one_line_error(cli("handshake", "probe", "--protocol", "quic", "127.0.0.1:1").stderr, "--protocol")
    result = cli("handshake", "probe", "127.0.0.1:1", "--audit")
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "mesh-agent-udp only")


@pytest.mark.parametrize(("text", "expected"), [
    ("10.0.0.7", ("10.0.0.7", 5000)), ("10.0.0.7:6000", ("10.0.0.7", 6000)), ("[::1]", ("::1", 5000)),
    ("[::1]:7", ("::1", 7)), ("agent.local", ("agent.local", 5000)), ("::1", ("::1", 5000)),
])
def test_targets_default_to_the_agents_port(text, expected):
    assert agent_udp.parse_target(text) == expected


@pytest.mark.parametrize("text", ["", ":5000", "host:port", "[::1]x", "host:70000", "host:0"])
def test_bad_targets(text):
    with pytest.raises(UsageError):
        agent_udp.parse_target(text)
