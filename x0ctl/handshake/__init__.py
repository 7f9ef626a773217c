"""x0ctl's own hybrid post-quantum handshake (protocol version 2): library, self-test, TCP serve/probe.

    from x0ctl.pqc import get_backend
    from x0ctl.handshake import Identity, Initiator, PeerPin, Responder, ResponderPolicy, hybrid_suite
    suite = hybrid_suite(get_backend("auto"))
    server_id, client_id = Identity.generate(suite), Identity.generate(suite)
    policy = ResponderPolicy(suite, server_id, allowed_peers=PeerPin([client_id.public_key]))
    client = Initiator(suite, client_id, pin=PeerPin([server_id.public_key]))
    session = Responder(policy)              # one per connection
    frame = client.start()
    while frame is not None:                 # CLIENT_HELLO, SERVER_HELLO, CLIENT_FINISH, RESULT
        frame = client.receive(session.receive(frame))
    # client.result / session.result; a rejection raises HandshakeFailure(reason) with .reply to send

See docs/handshake.md for the specification: message flow, key schedule, properties and threat model.
"""

from __future__ import annotations

from x0ctl.handshake.protocol import (
    PHASES,
    CookieJar,
    HandshakeResult,
    Identity,
    Initiator,
    PeerPin,
    Responder,
    ResponderPolicy,
    normalize_fingerprint,
)
from x0ctl.handshake.reasons import LOCAL, ORIGINS, PEER, REASONS, FailureReason, HandshakeFailure
from x0ctl.handshake.suites import ClassicalSuite, HybridSuite, Suite, classical_suite, hybrid_suite

__all__ = [
    "LOCAL",
    "ORIGINS",
    "PEER",
    "PHASES",
    "REASONS",
    "ClassicalSuite",
    "CookieJar",
    "FailureReason",
    "HandshakeFailure",
    "HandshakeResult",
    "HybridSuite",
    "Identity",
    "Initiator",
    "PeerPin",
    "Responder",
    "ResponderPolicy",
    "Suite",
    "classical_suite",
    "hybrid_suite",
    "normalize_fingerprint",
]
