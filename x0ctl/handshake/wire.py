"""Wire format of protocol version 2: length-prefixed, versioned, size-limited frames.

Frame: magic "X0HS" | version u8 (= 2) | type u8 | payload length u32 (big-endian) | payload.
Every parser here either returns a fully validated message or raises HandshakeFailure with
`malformed`, `oversized` or `unsupported_version`; nothing else escapes, whatever the input.
Protocol version 1 is not spoken any more (docs/handshake.md, "Version 1"): its frames are
`unsupported_version`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from x0ctl.handshake.reasons import FailureReason, HandshakeFailure

MAGIC = b"X0HS"
PROTOCOL_VERSION = 2
HEADER = struct.Struct(">4sBBI")
HEADER_SIZE = HEADER.size  # 10
DEFAULT_MAX_PAYLOAD = 16384  # the largest legitimate message (SERVER_HELLO, hybrid) is ~6.5 KiB
NONCE_SIZE = 32
FINISHED_SIZE = 32
INTENDED_PEER_SIZE = 32
RESULT_MAC_SIZE = 32
MAX_COOKIE = 64
MAX_SUITES = 16
ANY_PEER = bytes(INTENDED_PEER_SIZE)  # the intended-peer field of a hello that names no responder

CLIENT_HELLO, SERVER_HELLO, CLIENT_FINISH, RESULT, ALERT, COOKIE = 1, 2, 3, 4, 5, 6
MESSAGE_NAMES = {CLIENT_HELLO: "CLIENT_HELLO", SERVER_HELLO: "SERVER_HELLO", CLIENT_FINISH: "CLIENT_FINISH",
                 RESULT: "RESULT", ALERT: "ALERT", COOKIE: "COOKIE"}

_MALFORMED = FailureReason.MALFORMED
_HELLO_PREFIX = MAGIC + bytes((PROTOCOL_VERSION, CLIENT_HELLO))
_U16 = struct.Struct(">H")


def encode_frame(message_type: int, payload: bytes) -> bytes:
    return HEADER.pack(MAGIC, PROTOCOL_VERSION, message_type, len(payload)) + payload


def check_header(header: bytes, max_payload: int) -> tuple[int, int]:
    """Validate a 10-byte header; returns (message type, payload length)."""
    if len(header) < HEADER_SIZE:
        raise HandshakeFailure(_MALFORMED, f"truncated frame header ({len(header)} of {HEADER_SIZE} bytes)")
    magic, version, message_type, length = HEADER.unpack_from(header)
    if magic != MAGIC:
        raise HandshakeFailure(_MALFORMED, "bad frame magic")
    if version != PROTOCOL_VERSION:
        raise HandshakeFailure(FailureReason.UNSUPPORTED_VERSION,
                               f"protocol version {version}; this side speaks {PROTOCOL_VERSION}")
    if message_type not in MESSAGE_NAMES:
        raise HandshakeFailure(_MALFORMED, f"unknown message type {message_type}")
    if length > max_payload:
        raise HandshakeFailure(FailureReason.OVERSIZED,
                               f"payload of {length} bytes exceeds the {max_payload}-byte limit")
    return message_type, length


def decode_frame(frame: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> tuple[int, bytes]:
    """A complete frame held in memory -> (message type, payload)."""
    message_type, length = check_header(frame, max_payload)
    if len(frame) != HEADER_SIZE + length:
        what = "truncated" if len(frame) < HEADER_SIZE + length else "trailing bytes after"
        raise HandshakeFailure(_MALFORMED, f"{what} frame payload ({len(frame) - HEADER_SIZE} of {length} bytes)")
    return message_type, frame[HEADER_SIZE:]


def vector(value: bytes) -> bytes:
    return _U16.pack(len(value)) + value


@dataclass(frozen=True, slots=True)
class ClientHello:
    """In clear: nothing that names the initiator. `intended_peer` commits to the responder it wants."""

    suites: tuple[int, ...]  # offered, most preferred first; the key share is for suites[0]
    nonce: bytes
    key_share: bytes
    intended_peer: bytes  # ANY_PEER, or HMAC(nonce, label || first 16 bytes of the pinned fingerprint)
    cookie: bytes = b""  # empty, or the responder's COOKIE echoed back

    def encode(self) -> bytes:
        return b"".join((bytes((len(self.suites),)), b"".join(_U16.pack(suite) for suite in self.suites),
                         self.nonce, self.intended_peer, vector(self.key_share), vector(self.cookie)))

    @classmethod
    def parse(cls, payload: bytes) -> ClientHello:
        # Straight-line offsets rather than _Reader: this runs on every hello, also the refused ones.
        size = len(payload)
        count = payload[0] if size else 0
        if not 1 <= count <= MAX_SUITES:
            raise HandshakeFailure(_MALFORMED, f"CLIENT_HELLO offers {count} suites (1..{MAX_SUITES} allowed)")
        nonce_at = 1 + 2 * count
        share_at = nonce_at + NONCE_SIZE + INTENDED_PEER_SIZE
        if size < share_at + 2:
            raise HandshakeFailure(_MALFORMED, "CLIENT_HELLO is truncated")
        share_end = share_at + 2 + _U16.unpack_from(payload, share_at)[0]
        if size < share_end + 2:
            raise HandshakeFailure(_MALFORMED, "CLIENT_HELLO is truncated")
        cookie_length = _U16.unpack_from(payload, share_end)[0]
        cookie_end = share_end + 2 + cookie_length
        if cookie_length > MAX_COOKIE:
            raise HandshakeFailure(_MALFORMED, f"CLIENT_HELLO cookie is {cookie_length} bytes")
        if size != cookie_end:
            raise HandshakeFailure(_MALFORMED, "CLIENT_HELLO is truncated" if size < cookie_end else
                                   f"CLIENT_HELLO has {size - cookie_end} trailing bytes")
        return cls(struct.unpack_from(f">{count}H", payload, 1), payload[nonce_at:nonce_at + NONCE_SIZE],
                   payload[share_at + 2:share_end], payload[nonce_at + NONCE_SIZE:share_at],
                   payload[share_end + 2:cookie_end])


def locate_nonce_and_cookie(frame: bytes) -> tuple[bytes, bytes] | None:
    """(nonce, cookie) of a CLIENT_HELLO frame, read in place; None if it is not one (cheap, no copies
    of the key share: this runs for every hello a busy responder refuses)."""
    if len(frame) < HEADER_SIZE + 1 or frame[:6] != _HELLO_PREFIX:
        return None
    nonce_at = HEADER_SIZE + 1 + 2 * frame[HEADER_SIZE]
    share_at = nonce_at + NONCE_SIZE + INTENDED_PEER_SIZE
    if len(frame) < share_at + 2:
        return None
    cookie_at = share_at + 2 + _U16.unpack_from(frame, share_at)[0]
    if len(frame) < cookie_at + 2:
        return None
    cookie_end = cookie_at + 2 + _U16.unpack_from(frame, cookie_at)[0]
    if cookie_end != len(frame) or cookie_end - cookie_at - 2 > MAX_COOKIE \
            or int.from_bytes(frame[6:10], "big") != len(frame) - HEADER_SIZE:
        return None
    return frame[nonce_at:nonce_at + NONCE_SIZE], frame[cookie_at + 2:cookie_end]


@dataclass(frozen=True, slots=True)
class ServerHello:
    """In clear: the chosen suite, the responder's nonce and the KEM ciphertext. Everything that
    authenticates the responder (its identity, signature and finished MAC) is in `sealed`."""

    suite: int
    nonce: bytes
    ciphertext: bytes
    sealed: bytes

    def clear_part(self) -> bytes:
        """What enters the transcript before the handshake keys exist."""
        return _U16.pack(self.suite) + self.nonce + vector(self.ciphertext)

    def encode(self) -> bytes:
        return self.clear_part() + vector(self.sealed)

    @classmethod
    def parse(cls, payload: bytes) -> ServerHello:
        return cls.parse_with_clear_part(payload)[0]

    @classmethod
    def parse_with_clear_part(cls, payload: bytes) -> tuple[ServerHello, bytes]:
        """(message, its clear part as received) in straight-line offsets: once per handshake."""
        size = len(payload)
        ciphertext_at = 2 + NONCE_SIZE
        if size < ciphertext_at + 2:
            raise HandshakeFailure(_MALFORMED, "SERVER_HELLO is truncated")
        clear_end = ciphertext_at + 2 + _U16.unpack_from(payload, ciphertext_at)[0]
        if size < clear_end + 2:
            raise HandshakeFailure(_MALFORMED, "SERVER_HELLO is truncated")
        sealed_end = clear_end + 2 + _U16.unpack_from(payload, clear_end)[0]
        if size != sealed_end:
            raise HandshakeFailure(_MALFORMED, "SERVER_HELLO is truncated" if size < sealed_end else
                                   f"SERVER_HELLO has {size - sealed_end} trailing bytes")
        message = cls(_U16.unpack_from(payload)[0], payload[2:ciphertext_at], payload[ciphertext_at + 2:clear_end],
                      payload[clear_end + 2:])
        return message, payload[:clear_end]


@dataclass(frozen=True, slots=True)
class ClientFinish:
    sealed: bytes  # the initiator's identity, signature and finished MAC, under its handshake key

    def encode(self) -> bytes:
        return vector(self.sealed)

    @classmethod
    def parse(cls, payload: bytes) -> ClientFinish:
        size = len(payload)
        end = 2 + _U16.unpack_from(payload)[0] if size >= 2 else 2
        if size != end:
            raise HandshakeFailure(_MALFORMED, "CLIENT_FINISH is truncated" if size < end else
                                   f"CLIENT_FINISH has {size - end} trailing bytes")
        return cls(payload[2:])


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The plaintext inside a sealed part: who this side is, its transcript signature, its finished MAC."""

    identity: bytes
    signature: bytes
    finished: bytes

    def encode(self) -> bytes:
        return vector(self.identity) + vector(self.signature) + self.finished

    @classmethod
    def parse(cls, plaintext: bytes, identity_size: int | None, signature_size: int | None,
              what: str) -> Authenticated:
        """`identity_size`/`signature_size`: the suite's exact sizes (None: any)."""
        size = len(plaintext)
        if size < 2:
            raise HandshakeFailure(_MALFORMED, f"{what} is truncated")
        identity_end = 2 + _U16.unpack_from(plaintext)[0]
        if identity_size is not None and identity_end - 2 != identity_size:
            raise HandshakeFailure(_MALFORMED, f"{what} identity is {identity_end - 2} bytes, expected {identity_size}")
        if size < identity_end + 2:
            raise HandshakeFailure(_MALFORMED, f"{what} is truncated")
        signature_end = identity_end + 2 + _U16.unpack_from(plaintext, identity_end)[0]
        if signature_size is not None and signature_end - identity_end - 2 != signature_size:
            raise HandshakeFailure(_MALFORMED, f"{what} signature is {signature_end - identity_end - 2} bytes, "
                                   f"expected {signature_size}")
        end = signature_end + FINISHED_SIZE
        if size != end:
            raise HandshakeFailure(_MALFORMED, f"{what} is truncated" if size < end else
                                   f"{what} has {size - end} trailing bytes")
        return cls(plaintext[2:identity_end], plaintext[identity_end + 2:signature_end], plaintext[signature_end:])


def encode_result(code: int, mac: bytes) -> bytes:
    """RESULT (responder -> initiator, after CLIENT_FINISH): wire code, MAC under the result key."""
    return encode_frame(RESULT, bytes((code,)) + mac)


def parse_result(payload: bytes) -> tuple[int, bytes]:
    if len(payload) != 1 + RESULT_MAC_SIZE:
        raise HandshakeFailure(_MALFORMED, f"RESULT payload is {len(payload)} bytes, expected {1 + RESULT_MAC_SIZE}")
    return payload[0], payload[1:]


def encode_alert(code: int) -> bytes:
    """ALERT: an unauthenticated, coarse refusal (either direction); the receiver labels it peer-reported."""
    return encode_frame(ALERT, bytes((code,)))


def parse_alert(payload: bytes) -> int:
    if len(payload) != 1:
        raise HandshakeFailure(_MALFORMED, f"ALERT payload is {len(payload)} bytes, expected 1")
    return payload[0]


def parse_cookie(payload: bytes) -> bytes:
    if not 1 <= len(payload) <= MAX_COOKIE:
        raise HandshakeFailure(_MALFORMED, f"COOKIE payload is {len(payload)} bytes")
    return payload
