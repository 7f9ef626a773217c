"""The mesh's hybrid post-quantum handshake: protocol library, in-process self-test, TCP peer probe.

    from x0ctl.pqc import get_backend
    from x0ctl.handshake import Identity, Initiator, Responder, ResponderPolicy, hybrid_suite
    suite = hybrid_suite(get_backend("auto"))
    server = ResponderPolicy(suite, Identity.generate(suite))
    client, session = Initiator(suite, Identity.generate(suite)), Responder(server)
    frame = client.start()
    while frame is not None:            # CLIENT_HELLO, SERVER_HELLO, CLIENT_FINISH, RESULT
        frame = session.receive(frame)
        frame = client.receive(frame)
    # client.result / session.result; any rejection raises HandshakeFailure(reason)

See docs/handshake.md for the wire format, the key schedule and the failure reasons.
"""

from __future__ import annotations

from x0ctl.handshake.protocol import (
    PHASES,
    HandshakeResult,
    Identity,
    Initiator,
    PeerPin,
    ReplayCache,
    Responder,
    ResponderPolicy,
    derive_keys,
    normalize_fingerprint,
)
from x0ctl.handshake.reasons import REASONS, FailureReason, HandshakeFailure
from x0ctl.handshake.suites import ClassicalSuite, HybridSuite, Suite, classical_suite, hybrid_suite

__all__ = [
    "PHASES",
    "REASONS",
    "ClassicalSuite",
    "FailureReason",
    "HandshakeFailure",
    "HandshakeResult",
    "HybridSuite",
    "Identity",
    "Initiator",
    "PeerPin",
    "ReplayCache",
    "Responder",
    "ResponderPolicy",
    "Suite",
    "classical_suite",
    "derive_keys",
    "hybrid_suite",
    "normalize_fingerprint",
]
