"""The handshake state machines (sans I/O): frames in, frames out, HandshakeFailure on rejection.

    initiator                                   responder
    CLIENT_HELLO  suites, nonce_c, epoch, time,  ->
                  key share (X-Wing pk), id_c
                                             <-  SERVER_HELLO  suite, nonce_s, id_s, X-Wing ct,
                                                               sig_s(T1), HMAC(fk_s, T1)
    CLIENT_FINISH sig_c(T2), HMAC(fk_c, T2)     ->
                                             <-  RESULT        ok | failure reason

    T1 = SHA-256(label || CLIENT_HELLO frame || SERVER_HELLO up to its signature)
    T2 = SHA-256(T1 || sig_s || finished_s)
    fk_s, fk_c, k_c2s, k_s2c = HKDF-SHA256(ikm = X-Wing secret, salt = T1, info = label)

The CLIENT_HELLO frame (protocol version, offered suites, nonce, epoch, timestamp, key share,
client identity) and the server's choices and identity are all under both signatures and both
MACs, so a stripped suite list, a swapped key or a changed version fails verification.
Checks run cheapest first: suite and pin, then the finished MAC, then the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import string
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from x0ctl.errors import UsageError
from x0ctl.handshake import wire
from x0ctl.handshake.reasons import FailureReason, HandshakeFailure
from x0ctl.handshake.suites import Suite
from x0ctl.pqc.base import PQCError
from x0ctl.pqc.fingerprint import PREFIX, fingerprint

TRANSCRIPT_LABEL = b"x0ctl handshake v1"
KEY_SCHEDULE_INFO = b"x0ctl handshake v1 keys"
SERVER_CONTEXT = b"x0ctl-handshake-v1 server"
CLIENT_CONTEXT = b"x0ctl-handshake-v1 client"
PHASES = ("keygen", "encapsulate", "decapsulate", "sign", "verify", "kdf")
DEFAULT_REPLAY_WINDOW = 30.0
DEFAULT_REPLAY_CAPACITY = 100_000
# A pin is an authentication decision: a short prefix can be matched by grinding keys (8 hex
# digits: ~2^32 keygens, a few dollars of compute). 32 hex digits = 128 bits.
MIN_FINGERPRINT_PREFIX = 32

_SHA256 = hashes.SHA256()
_clock = time.perf_counter


def derive_keys(shared_secret: bytes, transcript_hash: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """(server finished key, client finished key, client->server key, server->client key)."""
    block = HKDF(_SHA256, 128, transcript_hash, KEY_SCHEDULE_INFO).derive(shared_secret)
    return block[:32], block[32:64], block[64:96], block[96:]


def finished_mac(key: bytes, transcript_hash: bytes) -> bytes:
    return hmac.digest(key, transcript_hash, "sha256")


@dataclass
class Identity:
    """A signing identity: the private key object stays inside; only public facts are shown."""

    algorithm: str
    key: object = field(repr=False)
    public_key: bytes = field(repr=False)
    fingerprint: str = ""

    @classmethod
    def from_key(cls, algorithm: str, key) -> Identity:
        public = key.public_key()
        return cls(algorithm, key, public, fingerprint(algorithm, public))

    @classmethod
    def generate(cls, suite: Suite) -> Identity:
        return cls.from_key(suite.identity_algorithm, suite.generate_identity())


def normalize_fingerprint(text: str) -> str:
    """`sha256:<hex>` or a hex prefix (>= MIN_FINGERPRINT_PREFIX digits) -> lowercase hex prefix; UsageError otherwise."""
    value = text.strip().lower().removeprefix(PREFIX)
    if len(value) < MIN_FINGERPRINT_PREFIX or len(value) > 64 or not set(value) <= set(string.hexdigits.lower()):
        raise UsageError(f"{text!r} is not a key fingerprint: expected sha256:<64 hex> or at least "
                         f"{MIN_FINGERPRINT_PREFIX} hex digits of one")
    return value


class PeerPin:
    """The identities a peer may present (like known_hosts): raw public keys and/or fingerprints."""

    def __init__(self, public_keys: Iterable[bytes] = (), fingerprints: Iterable[str] = ()) -> None:
        self.public_keys = frozenset(bytes(key) for key in public_keys)
        self.prefixes = tuple(normalize_fingerprint(text) for text in fingerprints)
        self._seen: dict[tuple[str, bytes], bool] = {}

    def allows(self, algorithm: str, public_key: bytes) -> bool:
        if public_key in self.public_keys:
            return True
        if not self.prefixes:
            return False
        cached = self._seen.get((algorithm, public_key))
        if cached is None:
            digest = fingerprint(algorithm, public_key).removeprefix(PREFIX)
            cached = any(digest.startswith(prefix) for prefix in self.prefixes)
            if len(self._seen) < 64:
                self._seen[(algorithm, public_key)] = cached
        return cached

    def describe(self) -> list[str]:
        return [f"key {fingerprint_hint(key)}" for key in sorted(self.public_keys)] + \
               [f"fingerprint {prefix}" for prefix in self.prefixes]


def fingerprint_hint(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


class ReplayCache:
    """Bounded anti-replay state: (epoch, nonce) pairs seen inside the timestamp window.

    A hello is accepted once, and only while |now - timestamp| <= window. The cache holds at most
    `capacity` entries; when it must evict a live entry, it raises its horizon to that entry's
    timestamp and from then on refuses every hello at or before the horizon, so eviction can
    never reopen a replay. Thread-safe: one cache serves all of a responder's connections.
    """

    def __init__(self, capacity: int = DEFAULT_REPLAY_CAPACITY, window_seconds: float = DEFAULT_REPLAY_WINDOW) -> None:
        if capacity < 1 or window_seconds <= 0:
            raise UsageError("replay cache needs a capacity >= 1 and a window > 0 seconds")
        self.capacity = capacity
        self.window_ms = int(window_seconds * 1000)
        self.horizon_ms = -1
        self._entries: OrderedDict[bytes, int] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def check_and_store(self, key: bytes, timestamp_ms: int, now_ms: int) -> None:
        if abs(now_ms - timestamp_ms) > self.window_ms:
            raise HandshakeFailure(FailureReason.REPLAY, f"hello timestamp is {(now_ms - timestamp_ms) / 1000:.1f} s "
                                   f"from this node's clock (window {self.window_ms / 1000:g} s)")
        with self._lock:
            entries = self._entries
            expired_before = now_ms - self.window_ms
            while entries:
                oldest_key, oldest_ms = next(iter(entries.items()))
                if oldest_ms >= expired_before:
                    break
                del entries[oldest_key]
            if timestamp_ms <= self.horizon_ms:
                raise HandshakeFailure(FailureReason.REPLAY, "hello is older than the replay cache's horizon")
            if key in entries:
                raise HandshakeFailure(FailureReason.REPLAY, "hello nonce was already used")
            if len(entries) >= self.capacity:
                _, evicted_ms = entries.popitem(last=False)
                self.horizon_ms = max(self.horizon_ms, evicted_ms)
            entries[key] = timestamp_ms


@dataclass
class HandshakeResult:
    """A completed handshake. The traffic keys stay on the object; to_dict() shows public facts only."""

    suite: str
    peer_algorithm: str
    peer_public_key: bytes = field(repr=False)
    session_id: str
    phases: dict[str, float]
    client_write_key: bytes = field(repr=False, default=b"")
    server_write_key: bytes = field(repr=False, default=b"")

    @property
    def peer_fingerprint(self) -> str:
        return fingerprint(self.peer_algorithm, self.peer_public_key)

    def to_dict(self) -> dict:
        return {"suite": self.suite, "peer_fingerprint": self.peer_fingerprint, "session_id": self.session_id}


def _session_id(transcript2: bytes, client_finished: bytes) -> str:
    return hashlib.sha256(b"x0ctl session id" + transcript2 + client_finished).hexdigest()[:32]


def _crypto_failure(what: str, exc: Exception) -> HandshakeFailure:
    if isinstance(exc, HandshakeFailure):
        return exc
    if isinstance(exc, (PQCError, ValueError)):  # the peer's bytes were rejected by the primitive
        return HandshakeFailure(FailureReason.MALFORMED, f"{what}: {getattr(exc, 'message', 'invalid input')}")
    return HandshakeFailure(FailureReason.BACKEND_ERROR, f"{what} failed in the backend ({type(exc).__name__})")


class Initiator:
    """The connecting side. `start()` -> CLIENT_HELLO; `receive(frame)` until `result` is set."""

    def __init__(self, suite: Suite, identity: Identity, *, pin: PeerPin | None = None, epoch: int = 0,
                 max_payload: int = wire.DEFAULT_MAX_PAYLOAD, clock: Callable[[], float] = time.time,
                 offered: tuple[int, ...] | None = None) -> None:
        self.suite = suite
        self.identity = identity
        self.pin = pin
        self.epoch = epoch
        self.max_payload = max_payload
        self.clock = clock
        self.offered = offered or (suite.code,)
        self.phases = dict.fromkeys(PHASES, 0.0)
        self.result: HandshakeResult | None = None
        self.peer_identity: bytes | None = None
        self._state = "start"

    def start(self) -> bytes:
        if self._state != "start":
            raise RuntimeError("Initiator.start() called twice")
        began = _clock()
        try:
            self._kem_key = self.suite.generate_kem_key()
        except Exception as exc:  # noqa: BLE001 - reported as backend_error
            raise _crypto_failure("key generation", exc) from None
        self.phases["keygen"] += _clock() - began
        hello = wire.ClientHello(self.offered, os.urandom(wire.NONCE_SIZE), self.epoch, int(self.clock() * 1000),
                                 self._kem_key.public_key(), self.identity.public_key)
        self._hello_frame = wire.encode_frame(wire.CLIENT_HELLO, hello.encode())
        self._state = "hello_sent"
        return self._hello_frame

    def _server_sizes(self, suite_code: int):
        if suite_code != self.suite.code:
            return None, None, None
        sizes = self.suite.sizes
        return sizes.identity, sizes.ciphertext, sizes.signature

    def receive(self, frame: bytes) -> bytes | None:
        message_type, payload = wire.decode_frame(frame, self.max_payload)
        if message_type == wire.RESULT:
            reason = wire.parse_result(payload)
            if reason is not None:
                self._state = "failed"
                raise HandshakeFailure(reason, "rejected by the responder", remote=True)
            if self._state != "finish_sent":
                raise HandshakeFailure(FailureReason.MALFORMED, "success RESULT before the handshake completed")
            self._state = "done"
            self.result = self._pending
            return None
        if message_type != wire.SERVER_HELLO or self._state != "hello_sent":
            raise HandshakeFailure(FailureReason.MALFORMED, f"unexpected {wire.MESSAGE_NAMES[message_type]}")
        return self._on_server_hello(payload)

    def _on_server_hello(self, payload: bytes) -> bytes:
        suite, phases = self.suite, self.phases
        hello = wire.ServerHello.parse(payload, self._server_sizes)
        if hello.suite not in self.offered or hello.suite != suite.code:
            raise HandshakeFailure(FailureReason.DOWNGRADE, f"responder chose suite 0x{hello.suite:04x}, "
                                   f"which this side did not offer first")
        if self.pin is not None and not self.pin.allows(suite.identity_algorithm, hello.identity):
            raise HandshakeFailure(FailureReason.UNKNOWN_PEER, "responder identity "
                                   f"{fingerprint(suite.identity_algorithm, hello.identity)} is not the pinned one")
        began = _clock()
        try:
            shared = self._kem_key.decapsulate(hello.ciphertext)
        except Exception as exc:  # noqa: BLE001
            raise _crypto_failure("decapsulation", exc) from None
        decapsulated = _clock()
        transcript = hashlib.sha256(TRANSCRIPT_LABEL)
        transcript.update(self._hello_frame)
        transcript.update(hello.signed_part())
        transcript1 = transcript.digest()
        server_fk, client_fk, client_write, server_write = derive_keys(shared, transcript1)
        derived = _clock()
        phases["decapsulate"] += decapsulated - began
        phases["kdf"] += derived - decapsulated
        if not hmac.compare_digest(finished_mac(server_fk, transcript1), hello.finished):
            raise HandshakeFailure(FailureReason.KEY_CONFIRMATION, "responder finished MAC does not match")
        verifier = suite.verifier(hello.identity)
        began = _clock()
        valid = verifier.verify(transcript1, hello.signature, SERVER_CONTEXT)
        verified = _clock()
        phases["verify"] += verified - began
        if not valid:
            raise HandshakeFailure(FailureReason.BAD_SIGNATURE, "responder transcript signature is invalid")
        transcript2 = hashlib.sha256(transcript1 + hello.signature + hello.finished).digest()
        try:
            signature = self.identity.key.sign(transcript2, CLIENT_CONTEXT)
        except Exception as exc:  # noqa: BLE001
            raise _crypto_failure("signing", exc) from None
        signed = _clock()
        phases["sign"] += signed - verified
        finished = finished_mac(client_fk, transcript2)
        phases["kdf"] += _clock() - signed
        self.peer_identity = hello.identity
        self._pending = HandshakeResult(suite.name, suite.identity_algorithm, hello.identity,
                                        _session_id(transcript2, finished), phases, client_write, server_write)
        self._state = "finish_sent"
        return wire.encode_frame(wire.CLIENT_FINISH, wire.ClientFinish(signature, finished).encode())

    @property
    def done(self) -> bool:
        return self._state == "done"


@dataclass
class ResponderPolicy:
    """What a responder accepts; one policy (and its replay cache) is shared by all connections."""

    suite: Suite
    identity: Identity
    replay_cache: ReplayCache = field(default_factory=ReplayCache)
    epoch: int = 0
    allowed_peers: PeerPin | None = None
    max_payload: int = wire.DEFAULT_MAX_PAYLOAD
    clock: Callable[[], float] = time.time


class Responder:
    """The accepting side of one connection: `receive(frame)` returns the frame to send back."""

    def __init__(self, policy: ResponderPolicy) -> None:
        self.policy = policy
        self.phases = dict.fromkeys(PHASES, 0.0)
        self.result: HandshakeResult | None = None
        self._state = "await_hello"

    def receive(self, frame: bytes) -> bytes:
        message_type, payload = wire.decode_frame(frame, self.policy.max_payload)
        if message_type == wire.CLIENT_HELLO and self._state == "await_hello":
            return self._on_client_hello(frame, payload)
        if message_type == wire.CLIENT_FINISH and self._state == "await_finish":
            return self._on_client_finish(payload)
        if message_type == wire.RESULT and self._state == "await_finish":
            reason = wire.parse_result(payload)
            if reason is not None:  # the initiator rejected our SERVER_HELLO and says why
                self._state = "failed"
                raise HandshakeFailure(reason, "rejected by the initiator", remote=True)
        raise HandshakeFailure(FailureReason.MALFORMED, f"unexpected {wire.MESSAGE_NAMES[message_type]}")

    def _on_client_hello(self, frame: bytes, payload: bytes) -> bytes:
        policy, phases = self.policy, self.phases
        suite = policy.suite
        hello = wire.ClientHello.parse(payload)
        if hello.suites[0] != suite.code:
            offered = ", ".join(f"0x{code:04x}" for code in hello.suites)
            raise HandshakeFailure(FailureReason.DOWNGRADE, f"initiator prefers suite(s) {offered}; this responder "
                                   f"requires {suite.name}")
        if len(hello.key_share) != suite.sizes.key_share or len(hello.identity) != suite.sizes.identity:
            raise HandshakeFailure(FailureReason.MALFORMED, "CLIENT_HELLO key share or identity has the wrong size")
        if hello.epoch < policy.epoch:
            raise HandshakeFailure(FailureReason.REPLAY, f"epoch {hello.epoch} is older than the current epoch "
                                   f"{policy.epoch}")
        if policy.allowed_peers is not None and not policy.allowed_peers.allows(suite.identity_algorithm,
                                                                                  hello.identity):
            raise HandshakeFailure(FailureReason.UNKNOWN_PEER, "initiator identity "
                                   f"{fingerprint(suite.identity_algorithm, hello.identity)} is not allowed")
        policy.replay_cache.check_and_store(hello.epoch.to_bytes(8, "big") + hello.nonce, hello.timestamp_ms,
                                            int(policy.clock() * 1000))
        began = _clock()
        try:
            ciphertext, shared = suite.encapsulate(hello.key_share)
        except Exception as exc:  # noqa: BLE001
            raise _crypto_failure("encapsulation to the initiator's key share", exc) from None
        encapsulated = _clock()
        signed_part = wire.ServerHello(suite.code, os.urandom(wire.NONCE_SIZE), policy.identity.public_key,
                                       ciphertext, b"", b"").signed_part()
        transcript = hashlib.sha256(TRANSCRIPT_LABEL)
        transcript.update(frame)
        transcript.update(signed_part)
        transcript1 = transcript.digest()
        server_fk, client_fk, client_write, server_write = derive_keys(shared, transcript1)
        finished = finished_mac(server_fk, transcript1)
        derived = _clock()
        try:
            signature = policy.identity.key.sign(transcript1, SERVER_CONTEXT)
        except Exception as exc:  # noqa: BLE001
            raise _crypto_failure("signing", exc) from None
        signed = _clock()
        phases["encapsulate"] += encapsulated - began
        phases["kdf"] += derived - encapsulated
        phases["sign"] += signed - derived
        self._client_hello = hello
        self._client_fk = client_fk
        self._keys = (client_write, server_write)
        self._transcript2 = hashlib.sha256(transcript1 + signature + finished).digest()
        self._state = "await_finish"
        return wire.encode_frame(wire.SERVER_HELLO, b"".join((signed_part, _vector(signature), finished)))

    def _on_client_finish(self, payload: bytes) -> bytes:
        policy, phases = self.policy, self.phases
        suite = policy.suite
        finish = wire.ClientFinish.parse(payload, suite.sizes.signature)
        began = _clock()
        expected = finished_mac(self._client_fk, self._transcript2)
        phases["kdf"] += _clock() - began
        if not hmac.compare_digest(expected, finish.finished):
            raise HandshakeFailure(FailureReason.KEY_CONFIRMATION, "initiator finished MAC does not match")
        verifier = suite.verifier(self._client_hello.identity)
        began = _clock()
        valid = verifier.verify(self._transcript2, finish.signature, CLIENT_CONTEXT)
        phases["verify"] += _clock() - began
        if not valid:
            raise HandshakeFailure(FailureReason.BAD_SIGNATURE, "initiator transcript signature is invalid")
        identity = self._client_hello.identity
        self.result = HandshakeResult(suite.name, suite.identity_algorithm, identity,
                                      _session_id(self._transcript2, finish.finished), phases, *self._keys)
        self._state = "done"
        return wire.encode_result(None)

    @property
    def done(self) -> bool:
        return self._state == "done"


def _vector(value: bytes) -> bytes:
    return len(value).to_bytes(2, "big") + value
