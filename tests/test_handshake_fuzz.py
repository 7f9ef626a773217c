"""Fuzzing the wire parser and both state machines: only HandshakeFailure may come out, never a hang."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from x0ctl.handshake import (
    HandshakeFailure,
    Identity,
    Initiator,
    PeerPin,
    Responder,
    ResponderPolicy,
    hybrid_suite,
    wire,
)
from x0ctl.handshake.net import read_frame

# database=None: no .hypothesis/ folder in the work tree; failures print their reproducing example.
FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def parties(request):
    from x0ctl.pqc import get_backend

    suite = hybrid_suite(get_backend("openssl"))
    client_identity = Identity.generate(suite)
    policy = ResponderPolicy(suite, Identity.generate(suite), PeerPin([client_identity.public_key]))
    return suite, policy, client_identity


def frames(max_payload=8192):
    """Frames with a valid header around arbitrary payloads, plus raw arbitrary bytes."""
    framed = st.builds(lambda kind, payload: wire.encode_frame(kind, payload),
                       st.sampled_from(sorted(wire.MESSAGE_NAMES)),
                       st.binary(max_size=max_payload))
    return st.one_of(framed, st.binary(max_size=512))


def _only_handshake_failures(call) -> None:
    try:
        call()
    except HandshakeFailure as failure:
        assert failure.reason.value  # a reason from the fixed set
        assert str(failure)


@FUZZ
@given(data=frames())
def test_decoders_raise_only_handshake_failure(data):
    def parse_all():
        kind, payload = wire.decode_frame(data)
        for parser in (wire.ClientHello.parse, wire.ServerHello.parse, wire.ClientFinish.parse, wire.parse_result,
                       wire.parse_alert, wire.parse_cookie,
                       lambda data: wire.Authenticated.parse(data, 1952, 3309, "sealed part")):
            _only_handshake_failures(lambda parser=parser: parser(payload))
    _only_handshake_failures(parse_all)


@FUZZ
@given(data=frames())
def test_responder_survives_anything(parties, data):
    _, policy, _ = parties
    _only_handshake_failures(lambda: Responder(policy).receive(data))
    _only_handshake_failures(lambda: Responder(policy, source=b"127.0.0.2", require_cookie=True).receive(data))
    assert policy.cookies.challenge(data, b"127.0.0.2") is None or wire.decode_frame(data)[0] == wire.CLIENT_HELLO


@FUZZ
@given(data=frames())
def test_initiator_survives_anything_as_a_server_reply(parties, data):
    suite, policy, client_identity = parties
    client = Initiator(suite, client_identity, pin=PeerPin([policy.identity.public_key]))
    client.start()
    _only_handshake_failures(lambda: client.receive(data))


@st.composite
def mutated_hellos(draw):
    """A real CLIENT_HELLO with a few bytes changed, truncated or extended."""
    return draw(st.tuples(st.lists(st.tuples(st.integers(0, 3300), st.integers(1, 255)), max_size=4),
                          st.integers(0, 3300), st.binary(max_size=8)))


@FUZZ
@given(mutation=mutated_hellos())
def test_mutated_client_hellos_are_accepted_or_cleanly_rejected(parties, mutation):
    suite, policy, client_identity = parties
    flips, cut, extra = mutation
    hello = bytearray(Initiator(suite, client_identity, pin=PeerPin([policy.identity.public_key])).start())
    for index, mask in flips:
        if index < len(hello):
            hello[index] ^= mask
    data = bytes(hello[:cut]) + extra if cut < len(hello) else bytes(hello) + extra
    _only_handshake_failures(lambda: Responder(policy).receive(data))


@FUZZ
@given(suites=st.lists(st.integers(0, 0xFFFF), min_size=0, max_size=20), share=st.binary(max_size=40),
       intended=st.binary(min_size=32, max_size=32), cookie=st.binary(max_size=80))
def test_structurally_valid_hellos_with_wrong_contents(parties, suites, share, intended, cookie):
    _, policy, _ = parties
    body = bytes((len(suites) % 256,)) + b"".join(struct.pack(">H", s) for s in suites) + bytes(32) + intended + \
        struct.pack(">H", len(share)) + share + struct.pack(">H", len(cookie)) + cookie
    frame = wire.encode_frame(wire.CLIENT_HELLO, body)
    _only_handshake_failures(lambda: Responder(policy).receive(frame))
    _only_handshake_failures(lambda: Responder(policy, require_cookie=True).receive(frame))


@settings(max_examples=40, deadline=None, database=None)
@given(data=st.binary(max_size=64), close=st.booleans())
def test_socket_reader_never_hangs(data, close):
    """Whatever arrives, read_frame returns or fails within its timeout."""
    left, right = socket.socketpair()
    with left, right:
        left.sendall(data)
        if close:
            left.shutdown(socket.SHUT_WR)
        began = time.monotonic()
        try:
            read_frame(right, 1024, time.monotonic() + 0.2, 0.05)
        except HandshakeFailure:
            pass
        assert time.monotonic() - began < 5.0  # the deadline is 0.2 s; generous for a busy machine


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, 6500), st.integers(1, 255)), min_size=1, max_size=3),
       cut=st.integers(0, 7000))
def test_mutated_server_hellos_are_rejected_cleanly(parties, flips, cut):
    suite, policy, client_identity = parties
    client = Initiator(suite, client_identity, pin=PeerPin([policy.identity.public_key]))
    original = Responder(policy).receive(client.start())
    reply = bytearray(original)
    for index, mask in flips:
        if index < len(reply):
            reply[index] ^= mask
    data = bytes(reply[:cut]) if cut < len(reply) else bytes(reply)
    try:
        client.receive(data)
    except HandshakeFailure:
        return
    assert data == original, "a modified SERVER_HELLO was accepted"
