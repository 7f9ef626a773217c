"""The handshake protocol library: real handshakes on each backend, every attack, anti-replay, pins."""

from __future__ import annotations

import hashlib

import pytest

from x0ctl.errors import UsageError
from x0ctl.handshake import (
    REASONS,
    FailureReason,
    HandshakeFailure,
    Identity,
    Initiator,
    PeerPin,
    ReplayCache,
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
    policy = ResponderPolicy(server_suite, Identity.generate(server_suite))
    client = Initiator(client_suite, Identity.generate(client_suite), pin=PeerPin([policy.identity.public_key]))
    server = Responder(policy)
    frame = client.start()
    while frame is not None:
        frame = client.receive(server.receive(frame))
    assert client.result.client_write_key == server.result.client_write_key


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.name)
def test_every_attack_is_rejected_with_its_reason(openssl_backend, attack):
    pair = Pair.create(hybrid_suite(openssl_backend), epoch=1)
    reason, detail = attack.run(pair)
    assert reason is attack.expected, detail


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
    policy = ResponderPolicy(suite, Identity.generate(suite))
    client = Initiator(classical, Identity.generate(classical))
    with pytest.raises(HandshakeFailure) as caught:
        Responder(policy).receive(client.start())
    assert caught.value.reason is FailureReason.DOWNGRADE


def test_responder_allow_list_rejects_unknown_initiators(suite):
    pair = Pair.create(suite)
    stranger = Identity.generate(suite)
    pair.policy.allowed_peers = PeerPin(fingerprints=[pair.client.fingerprint])
    assert handshake_once(pair)[1].done
    pair.client = stranger
    with pytest.raises(HandshakeFailure) as caught:
        handshake_once(pair)
    assert caught.value.reason is FailureReason.UNKNOWN_PEER


def test_rejection_result_reaches_the_initiator_with_the_reason(suite):
    pair = Pair.create(suite, epoch=3)
    client = pair.initiator(epoch=2)
    hello = client.start()
    with pytest.raises(HandshakeFailure) as server_side:
        Responder(pair.policy).receive(hello)
    with pytest.raises(HandshakeFailure) as client_side:
        client.receive(wire.encode_result(server_side.value.reason))
    assert client_side.value.reason is FailureReason.REPLAY and client_side.value.remote


def test_out_of_order_messages_are_malformed(suite):
    pair = Pair.create(suite)
    client, server = pair.initiator(), Responder(pair.policy)
    hello = client.start()
    with pytest.raises(HandshakeFailure) as caught:
        client.receive(hello)  # a CLIENT_HELLO reflected back at its sender
    assert caught.value.reason is FailureReason.MALFORMED
    with pytest.raises(HandshakeFailure) as caught:
        client.receive(wire.encode_result(None))  # "success" before anything happened
    assert caught.value.reason is FailureReason.MALFORMED
    server_hello = server.receive(hello)
    with pytest.raises(HandshakeFailure) as caught:
        server.receive(server_hello)
    assert caught.value.reason is FailureReason.MALFORMED


class TestReplayCache:
    def test_same_nonce_twice_is_a_replay(self):
        cache = ReplayCache(window_seconds=30)
        cache.check_and_store(b"a", 1_000_000, 1_000_000)
        with pytest.raises(HandshakeFailure, match="already used"):
            cache.check_and_store(b"a", 1_000_000, 1_000_100)

    def test_timestamps_outside_the_window_are_replays(self):
        cache = ReplayCache(window_seconds=30)
        for offset in (-30_001, 30_001):
            with pytest.raises(HandshakeFailure) as caught:
                cache.check_and_store(b"n%d" % offset, 1_000_000 + offset, 1_000_000)
            assert caught.value.reason is FailureReason.REPLAY
        cache.check_and_store(b"edge", 1_000_000 - 30_000, 1_000_000)

    def test_expired_entries_are_dropped(self):
        cache = ReplayCache(window_seconds=1)
        cache.check_and_store(b"a", 0, 0)
        cache.check_and_store(b"b", 5_000, 5_000)
        assert len(cache) == 1

    def test_eviction_raises_the_horizon_so_evicted_hellos_stay_rejected(self):
        cache = ReplayCache(capacity=2, window_seconds=60)
        now = 100_000
        cache.check_and_store(b"a", now - 3, now)
        cache.check_and_store(b"b", now - 2, now)
        cache.check_and_store(b"c", now - 1, now)  # evicts a
        assert len(cache) == 2
        with pytest.raises(HandshakeFailure, match="horizon"):
            cache.check_and_store(b"a", now - 3, now)  # no longer cached, still refused
        cache.check_and_store(b"d", now, now)

    def test_bad_settings_are_usage_errors(self):
        with pytest.raises(UsageError):
            ReplayCache(capacity=0)


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


def test_reason_codes_round_trip_and_are_stable():
    assert REASONS[:8] == ("bad_signature", "key_confirmation", "replay", "downgrade", "unknown_peer", "malformed",
                           "oversized", "unsupported_version")
    for reason in FailureReason:
        frame = wire.encode_result(reason)
        assert wire.parse_result(wire.decode_frame(frame)[1]) is reason
    with pytest.raises(HandshakeFailure) as caught:
        wire.parse_result(bytes((200,)))
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
    """Changing any byte of CLIENT_HELLO that the responder still accepts breaks key confirmation."""
    pair = Pair.create(suite)
    nonce_offset = wire.HEADER_SIZE + 1 + 2  # count, one suite, then the nonce

    def change_nonce(step, frame):
        return frame[:nonce_offset] + hashlib.sha256(frame).digest() + frame[nonce_offset + 32:] if step == 0 else frame

    reason, _ = run_exchange(pair, change_nonce)
    assert reason is FailureReason.KEY_CONFIRMATION


@pytest.mark.parametrize("message", [
    wire.ClientHello((1, 2), bytes(range(32)), 7, 123, b"k" * 5, b"i" * 3),
    wire.ServerHello(1, bytes(32), b"id", b"ct" * 3, b"sig", bytes(range(32))),
    wire.ClientFinish(b"sig" * 2, bytes(32)),
], ids=lambda message: type(message).__name__)
def test_messages_round_trip_and_every_truncation_or_extension_is_malformed(message):
    payload = message.encode()
    assert type(message).parse(payload) == message
    for cut in range(len(payload)):
        with pytest.raises(HandshakeFailure) as caught:
            type(message).parse(payload[:cut])
        assert caught.value.reason is FailureReason.MALFORMED, cut
    with pytest.raises(HandshakeFailure, match="trailing"):
        type(message).parse(payload + b"\x00")
