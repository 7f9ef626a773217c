"""The fixed set of reasons a handshake can fail for: the `reason` label of the failure metric.

Each reason has a one-byte wire code (carried in RESULT frames so the other side learns why it was
rejected). The set is closed: an unknown code from a peer is itself `malformed`.
"""

from __future__ import annotations

from enum import Enum


class FailureReason(str, Enum):
    BAD_SIGNATURE = "bad_signature"  # a transcript signature did not verify
    KEY_CONFIRMATION = "key_confirmation"  # a finished MAC did not match: the sides derived different keys
    REPLAY = "replay"  # nonce seen before, timestamp outside the window, or an epoch older than ours
    DOWNGRADE = "downgrade"  # no acceptable suite offered, or the chosen suite was never offered
    UNKNOWN_PEER = "unknown_peer"  # the peer's identity key is not the pinned/allowed one
    MALFORMED = "malformed"  # bad magic, truncated frame, bad field lengths, unexpected message
    OVERSIZED = "oversized"  # a frame announced a payload above the size limit
    UNSUPPORTED_VERSION = "unsupported_version"  # a frame of a protocol version this side does not speak
    TIMEOUT = "timeout"  # the peer did not send a complete frame within the read timeout
    CONNECTION = "connection"  # connect refused/reset, or the peer closed before a frame started
    BUSY = "busy"  # the responder is at its connection limit
    BACKEND_ERROR = "backend_error"  # the PQC backend failed on well-formed input

    @property
    def code(self) -> int:
        return _CODES[self]

    @classmethod
    def from_code(cls, code: int) -> FailureReason:
        try:
            return _BY_CODE[code]
        except KeyError:
            raise HandshakeFailure(cls.MALFORMED, f"unknown result code {code}") from None


_CODES = {reason: index for index, reason in enumerate(FailureReason, start=1)}
_BY_CODE = {code: reason for reason, code in _CODES.items()}
REASONS: tuple[str, ...] = tuple(reason.value for reason in FailureReason)


class HandshakeFailure(Exception):
    """A handshake was rejected. `remote` is True when the peer reported the reason to us.

    Not an X0ctlError: a rejected handshake is a measured outcome (counted per reason), not an
    error of x0ctl. Details describe what was wrong, never key material.
    """

    def __init__(self, reason: FailureReason, detail: str = "", *, remote: bool = False) -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
        self.remote = remote
