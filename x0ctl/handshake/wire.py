"""Wire format: length-prefixed, versioned, size-limited frames and the four handshake messages.

Frame: magic "X0HS" | version u8 | type u8 | payload length u32 (big-endian) | payload.
Every parser here either returns a fully validated message or raises HandshakeFailure with
`malformed`, `oversized` or `unsupported_version`; nothing else escapes, whatever the input.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from x0ctl.handshake.reasons import FailureReason, HandshakeFailure

MAGIC = b"X0HS"
PROTOCOL_VERSION = 1
HEADER = struct.Struct(">4sBBI")
HEADER_SIZE = HEADER.size  # 10
DEFAULT_MAX_PAYLOAD = 16384  # the largest legitimate message (SERVER_HELLO, hybrid) is ~6.5 KiB
NONCE_SIZE = 32
FINISHED_SIZE = 32
MAX_SUITES = 16

CLIENT_HELLO, SERVER_HELLO, CLIENT_FINISH, RESULT = 1, 2, 3, 4
MESSAGE_NAMES = {CLIENT_HELLO: "CLIENT_HELLO", SERVER_HELLO: "SERVER_HELLO", CLIENT_FINISH: "CLIENT_FINISH",
                 RESULT: "RESULT"}
RESULT_OK = 0

_MALFORMED = FailureReason.MALFORMED
_U16 = struct.Struct(">H")
_U64X2 = struct.Struct(">QQ")


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


class _Reader:
    __slots__ = ("data", "pos", "what")

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise HandshakeFailure(_MALFORMED, f"{self.what} is truncated")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return _U16.unpack(self.take(2))[0]

    def vector(self, field: str, expected: int | None) -> bytes:
        size = self.u16()
        if expected is not None and size != expected:
            raise HandshakeFailure(_MALFORMED, f"{self.what} {field} is {size} bytes, expected {expected}")
        return self.take(size)

    def finish(self) -> None:
        if self.pos != len(self.data):
            raise HandshakeFailure(_MALFORMED, f"{self.what} has {len(self.data) - self.pos} trailing bytes")


def _vector(value: bytes) -> bytes:
    return _U16.pack(len(value)) + value


@dataclass(frozen=True, slots=True)
class ClientHello:
    suites: tuple[int, ...]  # offered, most preferred first; the key share is for suites[0]
    nonce: bytes
    epoch: int
    timestamp_ms: int
    key_share: bytes
    identity: bytes

    def encode(self) -> bytes:
        return b"".join((
            bytes((len(self.suites),)), b"".join(_U16.pack(suite) for suite in self.suites), self.nonce,
            _U64X2.pack(self.epoch, self.timestamp_ms), _vector(self.key_share), _vector(self.identity),
        ))

    @classmethod
    def parse(cls, payload: bytes) -> ClientHello:
        # Straight-line offsets rather than _Reader: this runs once per handshake on the hot path.
        size = len(payload)
        count = payload[0] if size else 0
        if not 1 <= count <= MAX_SUITES:
            raise HandshakeFailure(_MALFORMED, f"CLIENT_HELLO offers {count} suites (1..{MAX_SUITES} allowed)")
        fixed_end = 1 + 2 * count + NONCE_SIZE + 16
        if size < fixed_end + 2:
            raise HandshakeFailure(_MALFORMED, "CLIENT_HELLO is truncated")
        suites = struct.unpack_from(f">{count}H", payload, 1)
        nonce = payload[1 + 2 * count:fixed_end - 16]
        epoch, timestamp_ms = _U64X2.unpack_from(payload, fixed_end - 16)
        share_end = fixed_end + 2 + _U16.unpack_from(payload, fixed_end)[0]
        if size < share_end + 2:
            raise HandshakeFailure(_MALFORMED, "CLIENT_HELLO is truncated")
        identity_end = share_end + 2 + _U16.unpack_from(payload, share_end)[0]
        if size != identity_end:
            raise HandshakeFailure(_MALFORMED, "CLIENT_HELLO is truncated" if size < identity_end else
                                   f"CLIENT_HELLO has {size - identity_end} trailing bytes")
        return cls(suites, nonce, epoch, timestamp_ms, payload[fixed_end + 2:share_end],
                   payload[share_end + 2:identity_end])


@dataclass(frozen=True, slots=True)
class ServerHello:
    suite: int
    nonce: bytes
    identity: bytes
    ciphertext: bytes
    signature: bytes
    finished: bytes
    signed: bytes = field(default=b"", compare=False, repr=False)  # the received bytes, when parsed

    def signed_part(self) -> bytes:
        """Everything the server signs and MACs (with the CLIENT_HELLO before it)."""
        if self.signed:
            return self.signed
        return _U16.pack(self.suite) + self.nonce + _vector(self.identity) + _vector(self.ciphertext)

    def encode(self) -> bytes:
        return self.signed_part() + _vector(self.signature) + self.finished

    @classmethod
    def parse(cls, payload: bytes, sizes=None) -> ServerHello:
        """`sizes(suite)` -> (identity, ciphertext, signature) lengths the suite requires, if known."""
        reader = _Reader(payload, "SERVER_HELLO")
        suite = reader.u16()
        expected = sizes(suite) if sizes else (None, None, None)
        nonce = reader.take(NONCE_SIZE)
        identity = reader.vector("identity", expected[0])
        ciphertext = reader.vector("ciphertext", expected[1])
        signed_end = reader.pos
        signature = reader.vector("signature", expected[2])
        finished = reader.take(FINISHED_SIZE)
        reader.finish()
        return cls(suite, nonce, identity, ciphertext, signature, finished, payload[:signed_end])


@dataclass(frozen=True, slots=True)
class ClientFinish:
    signature: bytes
    finished: bytes

    def encode(self) -> bytes:
        return _vector(self.signature) + self.finished

    @classmethod
    def parse(cls, payload: bytes, signature_size: int | None = None) -> ClientFinish:
        reader = _Reader(payload, "CLIENT_FINISH")
        signature = reader.vector("signature", signature_size)
        finished = reader.take(FINISHED_SIZE)
        reader.finish()
        return cls(signature, finished)


def encode_result(reason: FailureReason | None) -> bytes:
    """A RESULT frame: 0 for success, else the failure reason's code."""
    return encode_frame(RESULT, bytes((RESULT_OK if reason is None else reason.code,)))


def parse_result(payload: bytes) -> FailureReason | None:
    if len(payload) != 1:
        raise HandshakeFailure(_MALFORMED, f"RESULT payload is {len(payload)} bytes, expected 1")
    return None if payload[0] == RESULT_OK else FailureReason.from_code(payload[0])
