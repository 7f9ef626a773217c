"""The handshake protocol library (v2): real handshakes on each backend, every attack, cookies, pins."""

from __future__ import annotations

import pytest

from x0ctl.errors import UsageError
from x0ctl.handshake import (
    REASONS,
    CookieJar,
    FailureReason,
    HandshakeFailure,
    Identity,
    Initiator,
    PeerPin,
    Responder,
    ResponderPolicy,
    classical_suite,
    hybrid_suite,
    wire,
)
from x0ctl.handshake.selftest import ATTACKS, Pair, handshake_once, run_attacks, run_exchange, run_selftest
from x0ctl.handshake.stats import percentile


@pytest.fixture
def suite(backend):
    return hybrid_suite(backend)


def test_full_handshake_agrees_on_keys_and_identities(suite):
    pair = Pair.create(suite)
    client, server = handshake_once(pair)
    assert client.done and server.done
    assert client.result.session_id == server.result.session_id
    assert client.result.client_write_key == server.result.client_write_key
    assert client.result.server_write_key == server.result.server_write_key
    assert client.result.client_write_key != client.result.server_write_key
    assert client.result.peer_fingerprint == pair.policy.identity.fingerprint
    assert server.result.peer_fingerprint == pair.client.fingerprint
    # secrets stay out of repr and the public dict
    assert client.result.client_write_key.hex() not in repr(client.result)
    assert set(client.result.to_dict()) == {"suite", "peer_fingerprint", "session_id"}


def test_two_handshakes_derive_different_sessions(suite):
    pair = Pair.create(suite)
    first, _ = handshake_once(pair)
    second, _ = handshake_once(pair)
    assert first.result.session_id != second.result.session_id
    assert first.result.client_write_key != second.result.client_write_key


def test_backends_interoperate(openssl_backend, liboqs_backend):
    """A liboqs initiator completes a handshake with an openssl responder (same wire, same keys)."""
    server_suite, client_suite = hybrid_suite(openssl_backend), hybrid_suite(liboqs_backend)
    policy = ResponderPolicy(server_suite, Identity.generate(server_suite), PeerPin.any())
    client = Initiator(client_suite, Identity.generate(client_suite), pin=PeerPin([policy.identity.public_key]))
    server = Responder(policy)
    frame = client.start()
    while frame is not None:
        frame = client.receive(server.receive(frame))
    assert client.result.client_write_key == server.result.client_write_key


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.name)
def test_every_attack_is_rejected_with_its_reason(openssl_backend, attack):
    pair = Pair.create(hybrid_suite(openssl_backend))
    outcome, detail = attack.run(pair)
    assert (outcome.value if isinstance(outcome, FailureReason) else outcome) == attack.expected, detail


def test_every_attack_is_rejected_on_liboqs_too(liboqs_backend):
    assert all(result["ok"] for result in run_attacks(hybrid_suite(liboqs_backend)))


def test_classical_suite_marks_downgrade_attacks_not_applicable():
    results = {result["attack"]: result for result in run_attacks(classical_suite())}
    assert results["stripped_suites"]["ok"] is None and "not applicable" in results["stripped_suites"]["detail"]
    assert all(result["ok"] for name, result in results.items() if name not in ("stripped_suites",
                                                                                 "suite_substitution"))


def test_without_tampering_the_exchange_succeeds(suite):
    assert run_exchange(Pair.create(suite)) == (None, "accepted")


def test_hybrid_responder_refuses_a_classical_initiator(suite):
    """Both ends honest, one in fallback: the hybrid side refuses, it never downgrades."""
    classical = classical_suite()
    policy = ResponderPolicy(suite, Identity.generate(suite), PeerPin.any())
    client = Initiator(classical, Identity.generate(classical), pin=PeerPin.any())
    with pytest.raises(HandshakeFailure) as caught:
        Responder(policy).receive(client.start())
    assert caught.value.reason is FailureReason.DOWNGRADE
    assert wire.decode_frame(caught.value.reply)[0] == wire.ALERT  # no keys yet: an unauthenticated, coarse alert


def test_responder_allow_list_rejects_unknown_initiators(suite):
    pair = Pair.create(suite)
    assert handshake_once(pair)[1].done
    pair.client = Identity.generate(suite)
    with pytest.raises(HandshakeFailure) as caught:
        handshake_once(pair)
    assert caught.value.reason is FailureReason.UNKNOWN_PEER


def test_an_authenticated_refusal_reaches_the_initiator_coarsened(suite):
    """The responder refuses an unlisted initiator: it keeps `unknown_peer`, the initiator learns only
    `rejected`, from a RESULT it can verify (so it is authenticated, origin peer)."""
    pair = Pair.create(suite)
    client, server = pair.initiator(identity=Identity.generate(suite)), pair.responder()
    finish = client.receive(server.receive(client.start()))
    with pytest.raises(HandshakeFailure) as server_side:
        server.receive(finish)
    assert server_side.value.reason is FailureReason.UNKNOWN_PEER and server_side.value.origin == "local"
    with pytest.raises(HandshakeFailure) as client_side:
        client.receive(server_side.value.reply)
    refusal = client_side.value
    assert refusal.reason is FailureReason.REJECTED and refusal.origin == "peer" and refusal.authenticated
    assert refusal.reply is None


def test_out_of_order_messages_are_malformed(suite):
    pair = Pair.create(suite)
    client, server = pair.initiator(), pair.responder()
    hello = client.start()
    with pytest.raises(HandshakeFailure) as caught:
        client.receive(hello)  # a CLIENT_HELLO reflected back at its sender
    assert caught.value.reason is FailureReason.MALFORMED
    client = pair.initiator()
    client.start()
    with pytest.raises(HandshakeFailure) as caught:
        client.receive(wire.encode_result(0, bytes(32)))  # "success" before anything happened
    assert caught.value.reason is FailureReason.MALFORMED
    server_hello = server.receive(hello)
    with pytest.raises(HandshakeFailure) as caught:
        server.receive(server_hello)
    assert caught.value.reason is FailureReason.MALFORMED


class TestCookies:
    def test_cookie_round_trip_and_binding(self, suite):
        jar = Pair.create(suite).policy.cookies
        nonce = bytes(range(32))
        cookie = jar.issue(b"127.0.0.2", nonce)
        assert jar.valid(cookie, b"127.0.0.2", nonce)
        assert not jar.valid(cookie, b"127.0.0.3", nonce)
        assert not jar.valid(cookie, b"127.0.0.2", bytes(32))
        assert not jar.valid(cookie[:-1] + bytes((cookie[-1] ^ 1,)), b"127.0.0.2", nonce)
        assert not jar.valid(b"", b"127.0.0.2", nonce)

    def test_cookies_expire_after_the_next_period(self):
        now = [1000.0]
        jar = CookieJar(lifetime=30, clock=lambda: now[0])
        cookie = jar.issue(b"a", bytes(32))
        now[0] += 45  # the next period: still valid
        assert jar.valid(cookie, b"a", bytes(32))
        now[0] += 30
        assert not jar.valid(cookie, b"a", bytes(32))

    def test_a_second_hello_without_a_valid_cookie_is_busy(self, suite):
        pair = Pair.create(suite)
        server = pair.responder(require_cookie=True)
        hello = pair.initiator().start()
        assert wire.decode_frame(server.receive(hello))[0] == wire.COOKIE
        with pytest.raises(HandshakeFailure) as caught:
            server.receive(hello)
        assert caught.value.reason is FailureReason.BUSY

    def test_an_initiator_answers_one_cookie_only(self, suite):
        pair = Pair.create(suite)
        client = pair.initiator()
        cookie = pair.responder(require_cookie=True).receive(client.start())
        client.receive(cookie)
        with pytest.raises(HandshakeFailure) as caught:
            client.receive(cookie)
        assert caught.value.reason is FailureReason.MALFORMED


class TestPeerPin:
    def test_fingerprint_and_prefix(self, openssl_backend):
        suite = hybrid_suite(openssl_backend)
        identity = Identity.generate(suite)
        digits = identity.fingerprint.removeprefix("sha256:")
        for text in (identity.fingerprint, digits[:32], digits.upper()[:40], "sha256:" + digits[:32]):
            assert PeerPin(fingerprints=[text]).allows("ML-DSA-65", identity.public_key), text
        for short in (digits[:8], digits[:31], "sha256:" + digits[:12]):  # grindable: refused outright
            with pytest.raises(UsageError, match="32 hex digits"):
                PeerPin(fingerprints=[short])
        other = Identity.generate(suite)
        assert not PeerPin(fingerprints=[digits[:32]]).allows("ML-DSA-65", other.public_key)
        assert not PeerPin([identity.public_key]).allows("ML-DSA-65", other.public_key)
        # the algorithm is bound into the fingerprint
        assert not PeerPin(fingerprints=[identity.fingerprint]).allows("ML-DSA-87", identity.public_key)

    @pytest.mark.parametrize("text", ["", "sha256:", "abc", "xyz12345678", "0" * 65])
    def test_bad_fingerprints_are_usage_errors(self, text):
        with pytest.raises(UsageError):
            PeerPin(fingerprints=[text])

    def test_an_empty_pin_is_refused_and_any_must_be_spelled_out(self, openssl_backend):
        with pytest.raises(UsageError, match="PeerPin.any"):
            PeerPin()
        identity = Identity.generate(hybrid_suite(openssl_backend))
        assert PeerPin.any().is_any and PeerPin.any().allows("ML-DSA-65", identity.public_key)
        assert PeerPin.any().intended_peer("ML-DSA-65", bytes(32)) == wire.ANY_PEER

    def test_the_intended_peer_is_named_only_for_a_single_identity(self, openssl_backend):
        suite = hybrid_suite(openssl_backend)
        one, two = Identity.generate(suite), Identity.generate(suite)
        nonce = bytes(range(32))
        by_key = PeerPin([one.public_key]).intended_peer("ML-DSA-65", nonce)
        by_fingerprint = PeerPin(fingerprints=[one.fingerprint[:7 + 40]]).intended_peer("ML-DSA-65", nonce)
        assert by_key == by_fingerprint != wire.ANY_PEER
        assert PeerPin([one.public_key]).intended_peer("ML-DSA-65", bytes(32)) != by_key  # salted by the nonce
        assert PeerPin([one.public_key, two.public_key]).intended_peer("ML-DSA-65", nonce) == wire.ANY_PEER


def test_reason_wire_codes_are_coarse_and_stable():
    assert REASONS[:6] == ("bad_signature", "key_confirmation", "downgrade", "unknown_peer", "self_connection",
                           "malformed")
    for reason in (FailureReason.BAD_SIGNATURE, FailureReason.KEY_CONFIRMATION, FailureReason.UNKNOWN_PEER,
                   FailureReason.SELF_CONNECTION):
        assert FailureReason.from_wire(reason.wire_code) is FailureReason.REJECTED
    assert FailureReason.from_wire(FailureReason.OVERSIZED.wire_code) is FailureReason.MALFORMED
    assert FailureReason.CONNECTION.wire_code is None
    for reason in (FailureReason.BUSY, FailureReason.DOWNGRADE, FailureReason.UNSUPPORTED_VERSION):
        assert FailureReason.from_wire(reason.wire_code) is reason
        assert wire.parse_alert(wire.decode_frame(wire.encode_alert(reason.wire_code))[1]) == reason.wire_code
    with pytest.raises(HandshakeFailure) as caught:
        FailureReason.from_wire(200)
    assert caught.value.reason is FailureReason.MALFORMED


def test_selftest_counts_and_phases(openssl_backend):
    from x0ctl.handshake.metrics import HandshakeMetrics

    metrics = HandshakeMetrics()
    report = run_selftest(hybrid_suite(openssl_backend), 12, concurrency=2, metrics=metrics)
    data = report.to_dict()
    assert data["successes"] == 12 and data["failures"] == {} and report.slo["success_rate"]["ok"]
    assert all(data["phases_ms"][phase] > 0 for phase in ("keygen", "encapsulate", "decapsulate", "sign", "verify",
                                                            "kdf"))
    latency = data["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert metrics.summary()["pqc_handshake_success_total"] == 12
    assert metrics.summary()["pqc_fallback_enabled"] == 0


def test_selftest_reports_an_slo_breach(openssl_backend):
    report = run_selftest(hybrid_suite(openssl_backend), 3, max_p95_ms=0.001)
    assert not report.ok and report.slo["p95_latency_ms"]["ok"] is False and report.slo["success_rate"]["ok"]


def test_percentile_nearest_rank():
    values = [float(i) for i in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile(values, 0.99)) == (50.0, 95.0, 99.0)
    assert percentile([], 0.5) == 0.0 and percentile([7.0], 0.99) == 7.0


def test_transcript_binds_the_client_hello(suite):
    """Changing a CLIENT_HELLO so that the responder still accepts it (here: its intended peer
    replaced by "any") breaks key confirmation, because the whole hello is in the transcript."""
    pair = Pair.create(suite)
    intended_at = wire.HEADER_SIZE + 1 + 2 + wire.NONCE_SIZE  # count, one suite, the nonce, then the intended peer

    def forget_intended_peer(step, frame):
        if step:
            return frame
        return frame[:intended_at] + wire.ANY_PEER + frame[intended_at + wire.INTENDED_PEER_SIZE:]

    reason, _ = run_exchange(pair, forget_intended_peer)
    assert reason is FailureReason.KEY_CONFIRMATION


def test_classical_suite_round_trip_with_cookie():
    pair = Pair.create(classical_suite())
    client, server = pair.initiator(), pair.responder(require_cookie=True)
    frame = client.start()
    while frame is not None:
        frame = client.receive(server.receive(frame))
    assert client.result.session_id == server.result.session_id and client.cookie_rounds == 1


def _parse_authenticated(data: bytes):
    return wire.Authenticated.parse(data, None, None, "sealed part")


@pytest.mark.parametrize("message, parse", [
    (wire.ClientHello((1, 2), bytes(range(32)), b"k" * 5, bytes(32), b"c" * 4), wire.ClientHello.parse),
    (wire.ServerHello(1, bytes(32), b"ct" * 3, b"sealed"), wire.ServerHello.parse),
    (wire.ClientFinish(b"sealed" * 2), wire.ClientFinish.parse),
    (wire.Authenticated(b"id", b"sig", bytes(range(32))), _parse_authenticated),
], ids=lambda value: type(value).__name__)
def test_messages_round_trip_and_every_truncation_or_extension_is_malformed(message, parse):
    payload = message.encode()
    assert parse(payload) == message
    for cut in range(len(payload)):
        with pytest.raises(HandshakeFailure) as caught:
            parse(payload[:cut])
        assert caught.value.reason is FailureReason.MALFORMED, cut
    with pytest.raises(HandshakeFailure, match="trailing"):
        parse(payload + b"\x00")
