"""`handshake serve` as a real subprocess, probed over TCP loopback: pins, attacks, limits, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mldsa

from tests.conftest import REPO, assert_one_line_error
from tests.pushgateway import free_port
from x0ctl.handshake import (
    FailureReason,
    HandshakeFailure,
    Identity,
    Initiator,
    PeerPin,
    classical_suite,
    hybrid_suite,
    wire,
)
from x0ctl.pqc.fingerprint import fingerprint

MAX_CONNECTIONS = 3
READ_TIMEOUT = 0.5
CAUSED: set[str] = set()  # local rejections the tests provoked; the server's summary must show each
CAUSED_PEER: set[str] = set()  # refusals the tests' initiators reported to the server (origin="peer")

# The latency SLO is not what these tests check; a busy 2-core machine must not fail them.
RELAXED = ("--max-p95-ms", "60000")


@dataclass
class ServerProcess:
    process: subprocess.Popen
    host: str
    port: int
    identity: str
    stdout_path: Path
    stderr_path: Path
    metrics_path: Path

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self, timeout: float = 15.0) -> tuple[int, str, str]:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
                raise
        return self.process.returncode, self.stdout_path.read_text(), self.stderr_path.read_text()


def start_server(workdir: Path, *extra: str, timeout: float = 30.0) -> ServerProcess:
    stdout_path, stderr_path = workdir / "serve.out", workdir / "serve.err"
    metrics_path = workdir / "serve.prom"
    command = [sys.executable, "-m", "x0ctl", "-o", "json", "handshake", "serve", "--listen", "127.0.0.1:0",
               "--metrics-file", str(metrics_path), "--metrics-interval", "0.5", *extra]
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=REPO,
                                   env={**os.environ, "X0CTL_BACKEND": "openssl"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in stderr_path.read_text().splitlines():
            if "listening on " in line:
                words = line.split()
                address, identity = words[words.index("on") + 1], words[words.index("identity") + 1]
                host, _, port = address.rpartition(":")
                return ServerProcess(process, host, int(port), identity, stdout_path, stderr_path, metrics_path)
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}: {stderr_path.read_text()}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"serve did not print its address: {stderr_path.read_text()}")


@pytest.fixture(scope="module")
def identity_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("handshake-keys")
    key = mldsa.MLDSA65PrivateKey.generate()
    identity = folder / "node.pem"
    identity.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    identity.chmod(0o600)
    public_pem = folder / "node.pub.pem"
    public_pem.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
    public_raw = folder / "node.pub"
    public_raw.write_bytes(key.public_key().public_bytes_raw())
    return {"identity": identity, "public_pem": public_pem, "public_raw": public_raw,
            "fingerprint": fingerprint("ML-DSA-65", key.public_key().public_bytes_raw())}


@pytest.fixture(scope="module")
def server(tmp_path_factory, identity_files):
    process = start_server(tmp_path_factory.mktemp("serve"), "--identity", str(identity_files["identity"]),
                           "--allow-any-peer", "--max-connections", str(MAX_CONNECTIONS), "--read-timeout",
                           str(READ_TIMEOUT), "--handshake-timeout", "3")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def suite():
    from x0ctl.pqc import get_backend

    return hybrid_suite(get_backend("openssl"))


def _exchange_raw(server: ServerProcess, data: bytes, *, close_write: bool = False) -> FailureReason | None:
    """Send raw bytes; return the (coarse) reason of the ALERT frame the server answers with."""
    with socket.create_connection((server.host, server.port), timeout=5) as conn:
        conn.sendall(data)
        if close_write:
            conn.shutdown(socket.SHUT_WR)
        reply = _read_reply(conn)
        assert conn.recv(1) == b""  # and the server closes the connection
    kind, payload = wire.decode_frame(reply)
    assert kind == wire.ALERT, wire.MESSAGE_NAMES[kind]
    return FailureReason.from_wire(wire.parse_alert(payload))


def _read_reply(conn: socket.socket) -> bytes:
    header = b""
    while len(header) < wire.HEADER_SIZE:
        chunk = conn.recv(wire.HEADER_SIZE - len(header))
        assert chunk, "server closed without a reply"
        header += chunk
    _, length = wire.check_header(header, 1 << 16)
    body = b""
    while len(body) < length:
        body += conn.recv(length - len(body))
    return header + body


def _server_hello(conn: socket.socket, client: Initiator) -> bytes:
    """Send the hello and return the SERVER_HELLO, answering a COOKIE first if the server is busy (this
    module's server has 3 connection slots: a connection another test still holds makes it ask)."""
    conn.sendall(client.start())
    reply = _read_reply(conn)
    for _ in range(3):
        if wire.decode_frame(reply)[0] != wire.COOKIE:
            break
        conn.sendall(client.receive(reply))
        reply = _read_reply(conn)
    return reply


def test_serve_prints_the_identity_of_its_key_file(server, identity_files):
    assert server.identity == identity_files["fingerprint"]


def test_probe_pinned_by_fingerprint_prefix(cli, server):
    data = cli.json("handshake", "probe", server.address, *RELAXED, "--count", "4", "--peer-fingerprint",
                    server.identity[:7 + 32], "--backend", "openssl")
    assert data["successes"] == 4 and data["failures"] == {} and data["pinned"] is True
    assert data["peer_fingerprints"] == [server.identity]
    assert 0 < data["latency_ms"]["p50"] <= data["latency_ms"]["p95"] <= data["latency_ms"]["max"]
    assert data["slo"]["success_rate"]["ok"] and data["ok"]


@pytest.mark.parametrize("which", ["public_pem", "public_raw"])
def test_probe_pinned_by_key_file(cli, server, identity_files, which):
    data = cli.json("handshake", "probe", server.address, *RELAXED, "--peer-key", str(identity_files[which]),
                    "--peer-fingerprint", identity_files["fingerprint"])
    assert data["successes"] == 1 and data["peer_fingerprints"] == [identity_files["fingerprint"]]


def test_probe_rejects_a_different_identity(cli, server):
    """The hello names the pinned identity; the server holds another and refuses before the KEM.
    The probe learns only a coarse, unauthenticated `rejected`; the server counts `unknown_peer`."""
    result = cli("handshake", "probe", server.address, "--peer-fingerprint", "sha256:" + "0123abcd" * 8,
                 "-o", "json")
    assert result.exit_code == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["failures"] == {} and data["peer_reported"] == {"rejected": 1}
    assert "pinned identity" in data["errors"]["peer:rejected"]
    assert_one_line_error(result.stderr, "rejected")
    CAUSED.add("unknown_peer")


def test_insecure_any_peer_warns_and_reports_what_answered(cli, server):
    result = cli("handshake", "probe", server.address, *RELAXED, "--count", "2", "--insecure-any-peer", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert "--insecure-any-peer" in result.stderr and "x0ctl: warning:" in result.stderr
    data = json.loads(result.stdout)
    assert data["pinned"] is False and data["peer_fingerprints"] == [server.identity]


@pytest.mark.parametrize("case", ["garbage", "truncated_then_closed", "truncated_then_silent", "oversized",
                                  "unsupported_version", "classical_downgrade", "empty_frame"])
def test_bad_input_gets_a_clean_reason_and_the_server_keeps_serving(server, suite, case):
    hello = Initiator(suite, Identity.generate(suite), pin=PeerPin.any()).start()
    classical = classical_suite()
    cases = {  # bytes, close after sending, the server's own reason, the coarse reason it sends
        "garbage": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True, FailureReason.MALFORMED, FailureReason.MALFORMED),
        "truncated_then_closed": (hello[:-50], True, FailureReason.MALFORMED, FailureReason.MALFORMED),
        "truncated_then_silent": (hello[:-50], False, FailureReason.TIMEOUT, FailureReason.TIMEOUT),
        "oversized": (wire.HEADER.pack(wire.MAGIC, 2, wire.CLIENT_HELLO, 1 << 20) + bytes(100), False,
                      FailureReason.OVERSIZED, FailureReason.MALFORMED),
        "unsupported_version": (hello[:4] + b"\x01" + hello[5:], False, FailureReason.UNSUPPORTED_VERSION,
                                FailureReason.UNSUPPORTED_VERSION),
        "classical_downgrade": (Initiator(classical, Identity.generate(classical), pin=PeerPin.any()).start(), False,
                                FailureReason.DOWNGRADE, FailureReason.DOWNGRADE),
        "empty_frame": (wire.encode_frame(wire.CLIENT_HELLO, b""), False, FailureReason.MALFORMED,
                        FailureReason.MALFORMED),
    }
    data, close_write, local, sent = cases[case]
    began = time.monotonic()
    assert _exchange_raw(server, data, close_write=close_write) is sent
    assert time.monotonic() - began < READ_TIMEOUT + 5  # bounded by the read timeout, never a hang
    CAUSED.add(local.value)
    _assert_handshake_works(server, suite)


def _assert_handshake_works(server: ServerProcess, suite) -> None:
    from x0ctl.handshake.net import probe_once

    initiator = Initiator(suite, Identity.generate(suite), pin=PeerPin(fingerprints=[server.identity]))
    probe_once(server.host, server.port, initiator, timeout=5, max_payload=wire.DEFAULT_MAX_PAYLOAD)
    assert initiator.done and initiator.result.peer_fingerprint == server.identity


def test_tampered_client_finish_over_tcp(server, suite):
    """A bit flipped in CLIENT_FINISH: the server cannot open it (key_confirmation, its own reason) and
    answers with a RESULT the initiator can verify, carrying only `rejected`."""
    client = Initiator(suite, Identity.generate(suite), pin=PeerPin(fingerprints=[server.identity]))
    with socket.create_connection((server.host, server.port), timeout=5) as conn:
        finish = bytearray(client.receive(_server_hello(conn, client)))
        finish[wire.HEADER_SIZE + 2 + 100] ^= 0x40
        conn.sendall(bytes(finish))
        with pytest.raises(HandshakeFailure) as caught:
            client.receive(_read_reply(conn))
    refusal = caught.value
    assert refusal.reason is FailureReason.REJECTED and refusal.remote and refusal.authenticated
    CAUSED.add("key_confirmation")


@pytest.mark.parametrize("attack, expected, reported", [
    ("tampered_ciphertext", FailureReason.KEY_CONFIRMATION, "rejected"),
    ("tampered_sealed", FailureReason.KEY_CONFIRMATION, "rejected"),
    ("suite_substitution", FailureReason.DOWNGRADE, "downgrade"),
])
def test_on_path_attacks_on_the_server_hello(server, suite, attack, expected, reported):
    """An attacker between probe and server edits SERVER_HELLO: the initiator rejects it with the
    expected reason and tells the server in a coarse ALERT, which the server counts as origin=peer."""
    from x0ctl.handshake.selftest import _edit_server_hello, _flip_server_field
    from x0ctl.handshake.suites import CLASSICAL_CODE

    edits = {
        "tampered_ciphertext": lambda frame: _flip_server_field(frame, "ciphertext", 3),
        "tampered_sealed": lambda frame: _flip_server_field(frame, "sealed", 11),
        "suite_substitution": lambda frame: _edit_server_hello(frame, suite=CLASSICAL_CODE),
    }
    client = Initiator(suite, Identity.generate(suite), pin=PeerPin(fingerprints=[server.identity]))
    with socket.create_connection((server.host, server.port), timeout=5) as conn:
        hello = _server_hello(conn, client)
        with pytest.raises(HandshakeFailure) as caught:
            client.receive(edits[attack](hello))
        assert caught.value.reason is expected and not caught.value.remote
        conn.sendall(caught.value.reply)  # what probe_once does on a local rejection
        conn.recv(1)
    CAUSED_PEER.add(reported)


def test_connection_limit_answers_busy(tmp_path, suite):
    """A server of its own, with a read timeout long enough that idle peers surely hold every slot."""
    limited = start_server(tmp_path, "--allow-any-peer", "--max-connections", "2", "--read-timeout", "20",
                           "--first-frame-timeout", "20", "--handshake-timeout", "30")
    try:
        idle = [socket.create_connection((limited.host, limited.port), timeout=5) for _ in range(2)]
        try:
            time.sleep(0.3)  # let the server accept them and take every slot
            assert _exchange_raw(limited, b"") is FailureReason.BUSY
        finally:
            for conn in idle:
                conn.close()
        deadline = time.monotonic() + 10
        while True:  # the slots come back once the idle peers are gone
            try:
                _assert_handshake_works(limited, suite)
                break
            except HandshakeFailure as failure:
                assert failure.reason is FailureReason.BUSY and time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        code, stdout, stderr = limited.stop()
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["failures"]["busy"] >= 1 and summary["failures"]["connection"] == 2
    assert summary["successes"] == 1 and summary["unfinished"] == 0


def test_serve_refuses_a_busy_port_and_bad_addresses(cli, server):
    result = cli("handshake", "serve", "--listen", server.address, "--allow-any-peer")
    assert result.exit_code == 4, result.stderr
    assert_one_line_error(result.stderr, "cannot listen on", server.address)
    for bad in ("localhost", "127.0.0.1:99999", ":80"):
        result = cli("handshake", "serve", "--listen", bad)
        assert result.exit_code == 2, (bad, result.stderr)
        assert_one_line_error(result.stderr, "HOST:PORT")


def test_probe_of_a_closed_port_is_an_io_failure(cli):
    result = cli("handshake", "probe", f"127.0.0.1:{free_port()}", "--timeout", "2", "--insecure-any-peer")
    assert result.exit_code == 4, result.stderr
    assert_one_line_error(result.stderr, "connection", "refused")


def test_sigterm_stops_cleanly_with_every_reason_counted(server):
    """Runs last in this module: the summary and the metrics file account for what the tests did."""
    from prometheus_client.parser import text_string_to_metric_families

    began = time.monotonic()
    code, stdout, stderr = server.stop()
    assert code == 0, stderr
    assert time.monotonic() - began < 12  # drains, does not wait for the 3 s handshake timeout per worker
    assert "Traceback" not in stderr
    summary = json.loads(stdout)
    assert summary["stopped_by"] == "SIGTERM" and summary["unfinished"] == 0
    assert summary["successes"] >= 1
    assert CAUSED <= set(summary["failures"]), (CAUSED, summary["failures"])
    assert CAUSED_PEER <= set(summary["peer_reported"]), (CAUSED_PEER, summary["peer_reported"])
    assert summary["authorization"] == "any_peer"
    samples = {(sample.name, sample.labels.get("reason"), sample.labels.get("origin")): sample.value
               for family in text_string_to_metric_families(server.metrics_path.read_text())
               for sample in family.samples}
    assert samples[("pqc_handshake_success_total", None, None)] == summary["successes"]
    assert samples[("pqc_handshake_latency_seconds_count", None, None)] == summary["successes"]
    assert samples[("pqc_fallback_enabled", None, None)] == 0
    for reason, count in summary["failures"].items():
        assert samples[("pqc_handshake_failure_total", reason, "local")] == count
    for reason, count in summary["peer_reported"].items():
        assert samples[("pqc_handshake_failure_total", reason, "peer")] == count
    node = socket.gethostname()
    assert f'x0ctl_handshake_serve_info{{authorization="any_peer",node="{node}",protocol_version="2"}} 1.0' in \
        server.metrics_path.read_text()


def test_serve_allow_list_admits_only_the_listed_initiator(cli, tmp_path, identity_files):
    """serve --peer-fingerprint: the probe holding that identity (--identity) gets in, any other
    initiator is refused with unknown_peer, which the probe learns from the RESULT."""
    limited = start_server(tmp_path, "--peer-fingerprint", identity_files["fingerprint"])
    try:
        admitted = cli.json("handshake", "probe", limited.address, *RELAXED, "--identity",
                            str(identity_files["identity"]), "--peer-fingerprint", limited.identity)
        assert admitted["successes"] == 1
        refused = cli("handshake", "probe", limited.address, "--peer-fingerprint", limited.identity, "-o", "json")
        assert refused.exit_code == 1
        data = json.loads(refused.stdout)
        assert data["failures"] == {} and data["peer_reported"] == {"rejected": 1}  # coarse, authenticated
        assert_one_line_error(refused.stderr, "rejected")
    finally:
        code, stdout, stderr = limited.stop()
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["successes"] == 1 and summary["failures"] == {"unknown_peer": 1}
    assert summary["authorization"] == "allow_list"


def test_one_source_with_idle_connections_cannot_take_every_slot(tmp_path, suite):
    """Issue 16: a source holding idle sockets gets at most --max-per-source of the slots, and an idle
    socket is dropped after --first-frame-timeout; an honest source still gets its handshake."""
    from x0ctl.handshake.net import probe_once

    limited = start_server(tmp_path, "--allow-any-peer", "--max-connections", "4", "--max-per-source", "2",
                           "--first-frame-timeout", "1", "--read-timeout", "20", "--handshake-timeout", "30")
    idle = []
    try:
        for _ in range(4):  # from 127.0.0.2: two are admitted, two refused as busy
            idle.append(socket.create_connection((limited.host, limited.port), timeout=5,
                                                 source_address=("127.0.0.2", 0)))
        time.sleep(0.2)
        honest = Initiator(suite, Identity.generate(suite), pin=PeerPin(fingerprints=[limited.identity]))
        probe_once(limited.host, limited.port, honest, timeout=10, max_payload=wire.DEFAULT_MAX_PAYLOAD,
                   source="127.0.0.3")
        assert honest.done
        refused = [conn for conn in idle if _read_reply(conn)[5] == wire.ALERT]  # busy, or the first-frame timeout
        assert len(refused) == 4
    finally:
        for conn in idle:
            conn.close()
        code, stdout, stderr = limited.stop()
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["successes"] == 1 and summary["failures"] == {"busy": 2, "timeout": 2}


def test_serve_and_probe_use_the_keystore_identity(cli, tmp_path):
    """Issue 16: --keystore DIR uses the keystore's active ML-DSA-65 key on both ends."""
    server_store, client_store = tmp_path / "server-keys", tmp_path / "client-keys"
    for store in (server_store, client_store):
        assert cli("--backend", "openssl", "keys", "generate", "--keystore", str(store)).exit_code == 0
    server_fingerprint = cli.json("keys", "list", "--keystore", str(server_store))
    client_fingerprint = cli.json("keys", "list", "--keystore", str(client_store))
    server_sig = next(key["id"] for key in server_fingerprint["keys"] if key["purpose"] == "sig")
    client_sig = next(key["id"] for key in client_fingerprint["keys"] if key["purpose"] == "sig")
    served = start_server(tmp_path, "--keystore", str(server_store), "--peer-fingerprint", client_sig)
    try:
        assert served.identity == server_sig
        data = cli.json("handshake", "probe", served.address, *RELAXED, "--keystore", str(client_store),
                        "--peer-fingerprint", server_sig)
        assert data["successes"] == 1
    finally:
        code, stdout, stderr = served.stop()
    assert code == 0, stderr
    assert json.loads(stdout)["successes"] == 1
    both = cli("handshake", "probe", "127.0.0.1:9", "--insecure-any-peer", "--keystore", str(client_store),
               "--identity", str(tmp_path / "x.pem"))
    assert both.exit_code == 2 and "give one" in both.stderr
