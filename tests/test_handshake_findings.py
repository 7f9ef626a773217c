"""Issue 21's design review, one attack per finding, each written to fail against protocol v1.

Findings: 1 authorization fails open, 2 unauthenticated RESULT frames, 3 the replay cache,
4 identities in clear, 5 no cookie, 6 epoch / self-connection / ephemeral secrets / reason
oracles / intended peer. The TCP ones run `handshake serve` and `handshake probe` for real on
loopback, through a frame-aware relay that records (and, as an on-path attacker, rewrites) traffic.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mldsa

import x0ctl.handshake as handshake_package
from tests.conftest import REPO
from tests.test_handshake_net import RELAXED, start_server
from x0ctl.handshake import FailureReason, HandshakeFailure, Identity, Initiator, PeerPin, Responder, ResponderPolicy
from x0ctl.errors import UsageError
from x0ctl.handshake import wire
from x0ctl.pqc.fingerprint import fingerprint

TO_SERVER, TO_CLIENT = "to_server", "to_client"


@pytest.fixture(scope="module")
def suite():
    from x0ctl.handshake import hybrid_suite
    from x0ctl.pqc import get_backend

    return hybrid_suite(get_backend("openssl"))


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Two ML-DSA-65 identities on disk: the server's and the client's."""
    folder = tmp_path_factory.mktemp("finding-keys")
    found = {}
    for name in ("server", "client"):
        key = mldsa.MLDSA65PrivateKey.generate()
        path = folder / f"{name}.pem"
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        path.chmod(0o600)
        public = key.public_key().public_bytes_raw()
        found[name] = {"path": str(path), "public": public, "fingerprint": fingerprint("ML-DSA-65", public)}
    return found


def _read_frame(conn: socket.socket) -> bytes | None:
    data = b""
    while len(data) < wire.HEADER_SIZE:
        chunk = conn.recv(wire.HEADER_SIZE - len(data))
        if not chunk:
            return None
        data += chunk
    length = int.from_bytes(data[6:10], "big")
    while len(data) < wire.HEADER_SIZE + length:
        chunk = conn.recv(wire.HEADER_SIZE + length - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class Relay:
    """A loopback man in the middle: forwards whole frames, lets `rewrite(direction, index, frame)`
    change them, and records everything that passed. One connection at a time, bounded by timeouts."""

    def __init__(self, upstream: tuple[str, int], rewrite: Callable[[str, int, bytes], bytes] | None = None) -> None:
        self.upstream = upstream
        self.rewrite = rewrite or (lambda direction, index, frame: frame)
        self.captured: list[tuple[str, bytes]] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _pipe(self, source: socket.socket, target: socket.socket, direction: str) -> None:
        index = 0
        try:
            while (frame := _read_frame(source)) is not None:
                frame = self.rewrite(direction, index, frame)
                self.captured.append((direction, frame))
                target.sendall(frame)
                index += 1
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _run(self) -> None:
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        server = socket.create_connection(self.upstream, timeout=10)
        client.settimeout(10)
        with client, server:
            back = threading.Thread(target=self._pipe, args=(server, client, TO_CLIENT), daemon=True)
            back.start()
            self._pipe(client, server, TO_SERVER)
            back.join(10)

    def close(self) -> None:
        self.listener.close()
        self.thread.join(10)

    def wire_bytes(self) -> bytes:
        return b"".join(frame for _, frame in self.captured)


def _probe(cli, address: str, *args: str):
    return cli("handshake", "probe", address, *RELAXED, "--timeout", "10", "-o", "json", *args)


# 1. Authorization fails open ---------------------------------------------------------------------

def test_finding1_probe_without_a_pin_is_refused(cli):
    result = cli("handshake", "probe", "127.0.0.1:9", "--timeout", "1")
    assert result.exit_code == 2, result.stderr
    assert "--insecure-any-peer" in result.stderr


def test_finding1_serve_without_an_allow_list_is_refused():
    command = [sys.executable, "-m", "x0ctl", "handshake", "serve", "--listen", "127.0.0.1:0"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, cwd=REPO)
    except subprocess.TimeoutExpired:
        pytest.fail("serve without an allow-list started serving")
    assert done.returncode == 2, done.stderr
    assert "--allow-any-peer" in done.stderr


def test_finding1_library_refuses_a_missing_pin(suite):
    identity = Identity.generate(suite)
    with pytest.raises(TypeError):
        Initiator(suite, identity)  # pin is a required keyword
    with pytest.raises(TypeError):
        ResponderPolicy(suite, identity)  # allowed_peers is required
    for refused in (lambda: Initiator(suite, identity, pin=None), lambda: ResponderPolicy(suite, identity, None),
                    PeerPin):
        with pytest.raises(UsageError, match="PeerPin.any"):
            refused()
    assert PeerPin.any().allows("ML-DSA-65", identity.public_key)  # the opt-out exists, spelled out


# 2. RESULT frames are unauthenticated -------------------------------------------------------------

def test_finding2_forged_ok_after_a_refusal_does_not_make_probe_succeed(cli, tmp_path, keys):
    """The server refuses the probe's CLIENT_FINISH (a bit flipped on the path); the attacker then
    rewrites the server's RESULT to `ok`. The probe must fail."""
    server = start_server(tmp_path, "--identity", keys["server"]["path"], "--peer-fingerprint",
                          keys["client"]["fingerprint"])

    def attack(direction: str, index: int, frame: bytes) -> bytes:
        if direction == TO_SERVER and index == 1:
            return frame[:-20] + bytes((frame[-20] ^ 1,)) + frame[-19:]
        if direction == TO_CLIENT and frame[5] == wire.RESULT:
            return frame[:wire.HEADER_SIZE] + b"\x00" + frame[wire.HEADER_SIZE + 1:]
        return frame

    relay = Relay((server.host, server.port), attack)
    try:
        result = _probe(cli, relay.address, "--identity", keys["client"]["path"], "--peer-fingerprint",
                        server.identity)
    finally:
        relay.close()
        server.stop()
    assert result.exit_code == 1, result.stdout
    assert json.loads(result.stdout)["successes"] == 0


def test_finding2_a_peer_reported_refusal_is_not_a_local_rejection(suite):
    server, client = Identity.generate(suite), Identity.generate(suite)
    policy = ResponderPolicy(suite, server, allowed_peers=PeerPin([client.public_key]))
    responder = Responder(policy)
    responder.receive(Initiator(suite, client, pin=PeerPin([server.public_key])).start())
    with pytest.raises(HandshakeFailure) as caught:
        responder.receive(wire.encode_alert(FailureReason.REJECTED.wire_code))
    assert caught.value.origin == "peer" and not caught.value.authenticated
    assert caught.value.reply is None  # a refusal is never answered


def test_finding2_serve_counts_peer_reports_under_origin_peer(tmp_path, suite, keys):
    server = start_server(tmp_path, "--identity", keys["server"]["path"], "--allow-any-peer")
    try:
        client = Initiator(suite, Identity.generate(suite), pin=PeerPin([keys["server"]["public"]]))
        with socket.create_connection((server.host, server.port), timeout=10) as conn:
            conn.sendall(client.start())
            assert _read_frame(conn)[5] == wire.SERVER_HELLO
            conn.sendall(wire.encode_alert(FailureReason.REJECTED.wire_code))
            conn.recv(1)
    finally:
        code, stdout, stderr = server.stop()
    summary = json.loads(stdout)
    assert summary["failures"] == {} and summary["peer_reported"] == {"rejected": 1}
    text = server.metrics_path.read_text()
    node = socket.gethostname()  # serve labels its metrics with node; peer="" for an unauthenticated peer
    assert f'pqc_handshake_failure_total{{node="{node}",origin="peer",peer="",reason="rejected"}} 1.0' in text


# 3. The replay cache -------------------------------------------------------------------------------

def test_finding3_no_replay_state_a_repeated_hello_is_answered_and_cannot_be_completed(tmp_path, suite, keys):
    """Without a cache, a replayed hello costs one handshake's work and yields keys only the original
    initiator can use; it cannot lock anyone out (nothing is stored)."""
    server = start_server(tmp_path, "--identity", keys["server"]["path"], "--allow-any-peer")
    try:
        hello = Initiator(suite, Identity.generate(suite), pin=PeerPin([keys["server"]["public"]])).start()
        for _ in range(3):
            with socket.create_connection((server.host, server.port), timeout=10) as conn:
                conn.sendall(hello)
                assert _read_frame(conn)[5] == wire.SERVER_HELLO
        assert not hasattr(handshake_package, "ReplayCache")
    finally:
        server.stop()


# 4. Identities in clear ----------------------------------------------------------------------------

def test_finding4_no_identity_travels_in_clear(cli, tmp_path, keys):
    server = start_server(tmp_path, "--identity", keys["server"]["path"], "--peer-fingerprint",
                          keys["client"]["fingerprint"])
    relay = Relay((server.host, server.port))
    try:
        result = _probe(cli, relay.address, "--identity", keys["client"]["path"], "--peer-fingerprint",
                        server.identity)
    finally:
        relay.close()
        server.stop()
    assert result.exit_code == 0, result.stderr
    captured = relay.wire_bytes()
    for name in ("server", "client"):
        public = keys[name]["public"]
        assert public[:64] not in captured and public[-64:] not in captured, f"{name} key in clear"
        digest = bytes.fromhex(keys[name]["fingerprint"].removeprefix("sha256:"))
        assert digest[:16] not in captured, f"{name} fingerprint in clear"


# 5. No cookie ---------------------------------------------------------------------------------------

def test_finding5_busy_responder_answers_a_cookieless_hello_with_a_cookie_and_no_kem(suite):
    server, client = Identity.generate(suite), Identity.generate(suite)
    policy = ResponderPolicy(suite, server, allowed_peers=PeerPin([client.public_key]))
    initiator = Initiator(suite, client, pin=PeerPin([server.public_key]))
    busy = Responder(policy, source=b"127.0.0.2", require_cookie=True)
    reply = busy.receive(initiator.start())
    assert wire.decode_frame(reply)[0] == wire.COOKIE
    assert busy.phases["encapsulate"] == 0 and busy.phases["sign"] == 0
    frame = initiator.receive(reply)  # the hello again, with the cookie: now it gets the handshake
    while frame is not None:
        frame = initiator.receive(busy.receive(frame))
    assert initiator.done and busy.done
    stolen = Responder(policy, source=b"127.0.0.3", require_cookie=True)  # the cookie is bound to its source
    retry = Initiator(suite, client, pin=PeerPin([server.public_key]))
    cookie = Responder(policy, source=b"127.0.0.2", require_cookie=True).receive(retry.start())
    assert wire.decode_frame(stolen.receive(retry.receive(cookie)))[0] == wire.COOKIE


def test_finding5_serve_under_load_answers_with_cookies(tmp_path, suite, keys):
    server = start_server(tmp_path, "--identity", keys["server"]["path"], "--allow-any-peer", "--cookie-rate", "0")
    try:
        initiator = Initiator(suite, Identity.generate(suite), pin=PeerPin([keys["server"]["public"]]))
        with socket.create_connection((server.host, server.port), timeout=10) as conn:
            conn.sendall(initiator.start())
            assert _read_frame(conn)[5] == wire.COOKIE
        from x0ctl.handshake.net import probe_once

        honest = Initiator(suite, Identity.generate(suite), pin=PeerPin([keys["server"]["public"]]))
        probe_once(server.host, server.port, honest, timeout=10, max_payload=wire.DEFAULT_MAX_PAYLOAD)
        assert honest.done and honest.cookie_rounds == 1
    finally:
        code, stdout, _ = server.stop()
    summary = json.loads(stdout)
    assert summary["successes"] == 1 and summary["failures"] == {} and summary["cookie_replies"] == 1


# 6. Epoch, self-connection, ephemeral secrets, reason oracles, intended peer -----------------------

def test_finding6_no_client_chosen_epoch_or_timestamp():
    assert not {"epoch", "timestamp_ms"} & set(wire.ClientHello.__dataclass_fields__)


def test_finding6_self_connection_is_rejected(suite):
    own = Identity.generate(suite)
    policy = ResponderPolicy(suite, own, allowed_peers=PeerPin([own.public_key]))
    client = Initiator(suite, own, pin=PeerPin([own.public_key]))
    responder = Responder(policy)
    with pytest.raises(HandshakeFailure) as caught:
        frame = client.start()
        while frame is not None:
            frame = client.receive(responder.receive(frame))
    assert caught.value.reason is FailureReason.SELF_CONNECTION


def test_finding6_ephemeral_secrets_are_dropped(suite):
    server, client = Identity.generate(suite), Identity.generate(suite)
    policy = ResponderPolicy(suite, server, allowed_peers=PeerPin([client.public_key]))
    initiator, responder = Initiator(suite, client, pin=PeerPin([server.public_key])), Responder(policy)
    frame = initiator.start()
    while frame is not None:
        frame = initiator.receive(responder.receive(frame))
    refused = Initiator(suite, Identity.generate(suite), pin=PeerPin([server.public_key]))  # not allowed
    refusing = Responder(policy)
    finish = refused.receive(refusing.receive(refused.start()))
    with pytest.raises(HandshakeFailure) as caught:
        refusing.receive(finish)
    with pytest.raises(HandshakeFailure):
        refused.receive(caught.value.reply)
    for side in (initiator, responder, refused, refusing):
        leftovers = [name for name, value in vars(side).items() if hasattr(value, "decapsulate")
                     or type(value).__name__ == "HandshakeKeys"
                     or name in ("_client_fk", "_keys", "_traffic") and value]
        assert not leftovers, (type(side).__name__, leftovers)


def test_finding6_refusal_reasons_are_coarse_for_an_unauthenticated_peer(cli, tmp_path, keys):
    server = start_server(tmp_path, "--identity", keys["server"]["path"], "--peer-fingerprint",
                          keys["client"]["fingerprint"])
    try:
        result = _probe(cli, server.address, "--peer-fingerprint", server.identity)  # an unlisted initiator
    finally:
        code, stdout, _ = server.stop()
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert "unknown_peer" not in json.dumps(data["failures"]) and data["peer_reported"] == {"rejected": 1}
    assert json.loads(stdout)["failures"] == {"unknown_peer": 1}  # the full reason stays local


def test_finding6_hello_binds_the_intended_peer(suite):
    server, client, other = (Identity.generate(suite) for _ in range(3))
    policy = ResponderPolicy(suite, server, allowed_peers=PeerPin([client.public_key]))
    with pytest.raises(HandshakeFailure) as caught:
        Responder(policy).receive(Initiator(suite, client, pin=PeerPin([other.public_key])).start())
    assert caught.value.reason is FailureReason.UNKNOWN_PEER
