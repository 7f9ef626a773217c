"""The fixed set of reasons a handshake can fail for: the `reason` label of the failure metric.

A failure has an origin: `local` (this side rejected the handshake, for the full reason) or `peer`
(the other side said it refused). Peers are told only a coarse wire code (`rejected` for every
authentication or authorization failure), so a refusal is no oracle for an unauthenticated caller;
the full reason stays in this side's metrics and output. A peer-reported refusal is counted with
`origin="peer"` and never as a local rejection.
"""

from __future__ import annotations

from enum import Enum

LOCAL = "local"
PEER = "peer"
ORIGINS = (LOCAL, PEER)


class FailureReason(str, Enum):
    BAD_SIGNATURE = "bad_signature"  # a transcript signature did not verify
    KEY_CONFIRMATION = "key_confirmation"  # AEAD tag, finished or RESULT MAC did not match: different keys
    DOWNGRADE = "downgrade"  # no acceptable suite offered, or the chosen suite was never offered
    UNKNOWN_PEER = "unknown_peer"  # the peer's identity is not pinned/allowed, or the hello was meant for another
    SELF_CONNECTION = "self_connection"  # the peer presented this side's own identity
    MALFORMED = "malformed"  # bad magic, truncated frame, bad field lengths, unexpected message
    OVERSIZED = "oversized"  # a frame announced a payload above the size limit
    UNSUPPORTED_VERSION = "unsupported_version"  # a frame of a protocol version this side does not speak
    TIMEOUT = "timeout"  # the peer did not send a complete frame within the read timeout
    CONNECTION = "connection"  # connect refused/reset, or the peer closed before a frame started
    BUSY = "busy"  # the responder is at its connection limit
    BACKEND_ERROR = "backend_error"  # the PQC backend failed on well-formed input
    REJECTED = "rejected"  # peer-reported only: the peer refused authentication or authorization

    @property
    def wire_code(self) -> int | None:
        """The coarse code a peer is told (None: nothing is sent, e.g. the connection is gone)."""
        return _WIRE_CODE_OF.get(self)

    @classmethod
    def from_wire(cls, code: int) -> FailureReason:
        try:
            return _REASON_OF_WIRE[code]
        except KeyError:
            raise HandshakeFailure(cls.MALFORMED, f"unknown result code {code}") from None


RESULT_OK = 0
_WIRE_CODES = {
    FailureReason.REJECTED: 1,
    FailureReason.MALFORMED: 2,
    FailureReason.UNSUPPORTED_VERSION: 3,
    FailureReason.DOWNGRADE: 4,
    FailureReason.BUSY: 5,
    FailureReason.TIMEOUT: 6,
    FailureReason.BACKEND_ERROR: 7,
}
_COARSENED = {
    FailureReason.BAD_SIGNATURE: FailureReason.REJECTED,
    FailureReason.KEY_CONFIRMATION: FailureReason.REJECTED,
    FailureReason.UNKNOWN_PEER: FailureReason.REJECTED,
    FailureReason.SELF_CONNECTION: FailureReason.REJECTED,
    FailureReason.OVERSIZED: FailureReason.MALFORMED,
}
_WIRE_CODE_OF = {reason: _WIRE_CODES[_COARSENED.get(reason, reason)] for reason in FailureReason
                 if _COARSENED.get(reason, reason) in _WIRE_CODES}
_REASON_OF_WIRE = {code: reason for reason, code in _WIRE_CODES.items()}
REASONS: tuple[str, ...] = tuple(reason.value for reason in FailureReason)


class HandshakeFailure(Exception):
    """A handshake was rejected.

    `origin` is LOCAL when this side rejected, PEER when the other side reported a refusal;
    `authenticated` tells whether a peer report carried a valid MAC from the handshake's key
    schedule (only then is it known to come from the peer and not from someone on the path).
    Not an X0ctlError: a rejected handshake is a measured outcome, not an error of x0ctl.
    Details describe what was wrong, never key material.
    """

    def __init__(self, reason: FailureReason, detail: str = "", *, origin: str = LOCAL,
                 authenticated: bool = False) -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
        self.origin = origin
        self.authenticated = authenticated
        self.reply: bytes | None = None  # the frame to send the peer about this failure, if any

    @property
    def remote(self) -> bool:
        return self.origin == PEER
