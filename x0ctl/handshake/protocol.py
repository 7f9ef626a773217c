"""The handshake state machines of protocol version 2 (sans I/O): frames in, frames out.

    initiator                                      responder
    CLIENT_HELLO  suites, nonce_c, intended_peer,  ->   [busy, no valid cookie: <- COOKIE c;
                  X-Wing key share, cookie              the initiator repeats its hello with c]
                                                <-  SERVER_HELLO  suite, nonce_s, X-Wing ct,
                                                       AEAD_s(id_s, sig_s(TH2), finished_s(TH3))
    CLIENT_FINISH AEAD_c(id_c, sig_c(TH5), finished_c(TH6))  ->
                                                <-  RESULT  code, HMAC(result key, code, TH7 | TH4)

Identities travel only under AEAD keys from the KEM (SIGMA-I / Noise XX style): the responder
shows its identity only to whoever completed the KEM, the initiator shows its own only after it
authenticated the responder against its pin. Authorization is closed: an Initiator needs a
PeerPin, a ResponderPolicy an allow-list; PeerPin.any() is the explicit opt-out. Every RESULT is
MACed under a key of this handshake's schedule, so nobody on the path can turn a refusal into
success. Full reasons stay local; peers get a coarse wire code. docs/handshake.md is the
specification (labels, transcript points, the property -> mechanism -> test table).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import string
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from x0ctl.errors import UsageError
from x0ctl.handshake import wire
from x0ctl.handshake.reasons import PEER, RESULT_OK, FailureReason, HandshakeFailure
from x0ctl.handshake.suites import Suite
from x0ctl.pqc.base import PQCError
from x0ctl.pqc.fingerprint import PREFIX, fingerprint

LABEL = b"x0ctl-hs2 "
TRANSCRIPT_LABEL = LABEL + b"transcript"
SERVER_CONTEXT = LABEL + b"server signature"
CLIENT_CONTEXT = LABEL + b"client signature"
INTENDED_PEER_LABEL = LABEL + b"intended peer"
COOKIE_LABEL = LABEL + b"cookie"
RESULT_LABEL = LABEL + b"result"
PHASES = ("keygen", "encapsulate", "decapsulate", "sign", "verify", "kdf")
DEFAULT_COOKIE_LIFETIME = 30.0
SEAL_NONCE = bytes(12)
COOKIE_SIZE = 20  # period u32 + 16-byte MAC
# A pin is an authentication decision: a short prefix can be matched by grinding keys (8 hex
# digits: ~2^32 keygens, a few dollars of compute). 32 hex digits = 128 bits.
MIN_FINGERPRINT_PREFIX = 32

_clock = time.perf_counter


def hkdf_extract(salt: bytes, secret: bytes) -> bytes:
    """HKDF-Extract (RFC 5869) with HMAC-SHA256."""
    return hmac.digest(salt, secret, "sha256")


def expand(key: bytes, label: bytes, length: int = 32) -> bytes:
    """HKDF-Expand (RFC 5869) of one block, info = "x0ctl-hs2 " || label."""
    return hmac.digest(key, _INFO.get(label) or LABEL + label + b"\x01", "sha256")[:length]


_INFO = {label: LABEL + label + b"\x01" for label in (b"s hs key", b"c hs key", b"s finished", b"c finished",
                                                       b"result", b"c ap key", b"s ap key", b"session id")}


@dataclass(slots=True)
class HandshakeKeys:
    """The handshake-stage secrets of one handshake; dropped once the handshake ends."""

    secret: bytes = field(repr=False)
    server_key: bytes = field(repr=False)
    client_key: bytes = field(repr=False)
    server_finished: bytes = field(repr=False)
    client_finished: bytes = field(repr=False)
    result: bytes = field(repr=False)


def derive_handshake_keys(shared_secret: bytes, transcript1: bytes) -> HandshakeKeys:
    secret = hkdf_extract(transcript1, shared_secret)
    return HandshakeKeys(secret, expand(secret, b"s hs key"), expand(secret, b"c hs key"),
                         expand(secret, b"s finished"), expand(secret, b"c finished"), expand(secret, b"result"))


def derive_traffic_keys(handshake_secret: bytes, transcript7: bytes) -> tuple[bytes, bytes, str]:
    """(client->server key, server->client key, public session id) from the complete transcript."""
    master = hkdf_extract(transcript7, handshake_secret)
    return expand(master, b"c ap key"), expand(master, b"s ap key"), expand(master, b"session id", 16).hex()


def finished_mac(key: bytes, transcript_hash: bytes) -> bytes:
    return hmac.digest(key, transcript_hash, "sha256")


def result_mac(key: bytes, code: int, transcript_hash: bytes) -> bytes:
    return hmac.digest(key, RESULT_LABEL + bytes((code,)) + transcript_hash, "sha256")


def seal(key: bytes, plaintext: bytes, transcript_hash: bytes) -> bytes:
    """AES-256-GCM with the transcript hash as associated data. Each handshake key is fresh and seals
    exactly one message, so the all-zero nonce is never used twice with the same key."""
    return AESGCM(key).encrypt(SEAL_NONCE, plaintext, transcript_hash)


def open_sealed(key: bytes, sealed: bytes, transcript_hash: bytes, whose: str) -> bytes:
    try:
        return AESGCM(key).decrypt(SEAL_NONCE, sealed, transcript_hash)
    except InvalidTag:
        raise HandshakeFailure(FailureReason.KEY_CONFIRMATION, f"cannot open the {whose}'s sealed part: the sides "
                               "derived different keys or it was modified") from None


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


def _intended_peer_tag(nonce: bytes, fingerprint_hex: str) -> bytes:
    """SHA-256(label || nonce_c || first 16 bytes of the fingerprint): a public commitment, salted by
    the nonce so equal targets do not give equal hellos."""
    return hashlib.sha256(INTENDED_PEER_LABEL + nonce + bytes.fromhex(fingerprint_hex[:MIN_FINGERPRINT_PREFIX])).digest()


_ANY = object()


class PeerPin:
    """The identities a peer may present (like known_hosts): raw public keys and/or fingerprints.

    Never empty: `PeerPin.any()` (any authenticated peer) must be spelled out.
    """

    def __init__(self, public_keys: Iterable[bytes] = (), fingerprints: Iterable[str] = (), *,
                 _kind: object = None) -> None:
        self.public_keys = frozenset(bytes(key) for key in public_keys)
        self.prefixes = tuple(normalize_fingerprint(text) for text in fingerprints)
        self.is_any = _kind is _ANY
        if not self.is_any and not self.public_keys and not self.prefixes:
            raise UsageError("a peer pin needs at least one public key or fingerprint; to accept any authenticated "
                             "peer, say so with PeerPin.any()")
        self._seen: dict[tuple[str, bytes], bool] = {}
        self._named: dict[str, str | None] = {}

    @classmethod
    def any(cls) -> PeerPin:
        """Accept any peer that proves possession of *some* key: authentication without authorization."""
        return cls(_kind=_ANY)

    def allows(self, algorithm: str, public_key: bytes) -> bool:
        if self.is_any or public_key in self.public_keys:
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

    def intended_peer(self, algorithm: str, nonce: bytes) -> bytes:
        """The CLIENT_HELLO commitment to the one responder this pin names (ANY_PEER if it names several)."""
        if algorithm not in self._named:
            names = {fingerprint(algorithm, key).removeprefix(PREFIX)[:MIN_FINGERPRINT_PREFIX]
                     for key in self.public_keys} | {prefix[:MIN_FINGERPRINT_PREFIX] for prefix in self.prefixes}
            self._named[algorithm] = names.pop() if len(names) == 1 and not self.is_any else None
        named = self._named[algorithm]
        return wire.ANY_PEER if named is None else _intended_peer_tag(nonce, named)

    def describe(self) -> list[str]:
        if self.is_any:
            return ["any authenticated peer"]
        return [f"key {fingerprint_hint(key)}" for key in sorted(self.public_keys)] + \
               [f"fingerprint {prefix}" for prefix in self.prefixes]


def fingerprint_hint(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


class CookieJar:
    """Stateless cookies (WireGuard's cookie reply, TLS's HelloRetryRequest cookie): a cookie is
    period u32 || BLAKE2s-128 keyed MAC(secret; label || period || source || nonce_c), valid in its
    period and the next. Checking or issuing one costs a keyed BLAKE2s and stores nothing."""

    def __init__(self, lifetime: float = DEFAULT_COOKIE_LIFETIME, clock: Callable[[], float] = time.monotonic) -> None:
        if lifetime <= 0:
            raise UsageError("cookie lifetime must be > 0 seconds")
        self.lifetime = lifetime
        self.clock = clock
        self._secret = os.urandom(32)

    def _mac(self, period: bytes, source: bytes, nonce: bytes) -> bytes:
        return hashlib.blake2s(COOKIE_LABEL + period + source + nonce, key=self._secret, digest_size=16).digest()

    def issue(self, source: bytes, nonce: bytes) -> bytes:
        period = (int(self.clock() // self.lifetime) & 0xFFFFFFFF).to_bytes(4, "big")
        return period + self._mac(period, source, nonce)

    def valid(self, cookie: bytes, source: bytes, nonce: bytes) -> bool:
        if len(cookie) != COOKIE_SIZE:
            return False
        age = (int(self.clock() // self.lifetime) - int.from_bytes(cookie[:4], "big")) & 0xFFFFFFFF
        return age <= 1 and hmac.compare_digest(cookie[4:], self._mac(cookie[:4], source, nonce))

    def challenge(self, frame: bytes, source: bytes) -> bytes | None:
        """The COOKIE frame for a CLIENT_HELLO frame without a valid cookie; None when its cookie is
        valid or it is no well-formed hello (the full parser then refuses it with its reason). The
        busy path: reads three fields in place, builds no message object."""
        located = wire.locate_nonce_and_cookie(frame)
        if located is None:
            return None
        nonce, cookie = located
        if self.valid(cookie, source, nonce):
            return None
        return wire.encode_frame(wire.COOKIE, self.issue(source, nonce))


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


def _crypto_failure(what: str, exc: Exception) -> HandshakeFailure:
    if isinstance(exc, HandshakeFailure):
        return exc
    if isinstance(exc, (PQCError, ValueError)):  # the peer's bytes were rejected by the primitive
        return HandshakeFailure(FailureReason.MALFORMED, f"{what}: {getattr(exc, 'message', 'invalid input')}")
    return HandshakeFailure(FailureReason.BACKEND_ERROR, f"{what} failed in the backend ({type(exc).__name__})")


def _require_pin(pin, who: str) -> PeerPin:
    if not isinstance(pin, PeerPin):
        raise UsageError(f"{who} needs a PeerPin naming the peers it accepts; PeerPin.any() accepts any "
                         "authenticated peer and must be spelled out")
    return pin


def alert_for(failure: HandshakeFailure) -> bytes | None:
    """The coarse, unauthenticated ALERT telling the peer about a local failure (None: send nothing)."""
    code = failure.reason.wire_code
    return None if failure.remote or code is None else wire.encode_alert(code)


def _peer_alert(payload: bytes, who: str) -> HandshakeFailure:
    reason = FailureReason.from_wire(wire.parse_alert(payload))
    return HandshakeFailure(reason, f"the {who} refused (unauthenticated alert)", origin=PEER)


def _check_authenticated(suite: Suite, own: Identity, pin: PeerPin, auth: wire.Authenticated, whose: str) -> None:
    if hmac.compare_digest(auth.identity, own.public_key):
        raise HandshakeFailure(FailureReason.SELF_CONNECTION, f"the {whose} presented this side's own identity")
    if not pin.allows(suite.identity_algorithm, auth.identity):
        raise HandshakeFailure(FailureReason.UNKNOWN_PEER, f"{whose} identity "
                               f"{fingerprint(suite.identity_algorithm, auth.identity)} is not "
                               f"{'pinned' if whose == 'responder' else 'allowed'}")


class Initiator:
    """The connecting side. `start()` -> CLIENT_HELLO; `receive(frame)` until `result` is set.

    A rejection raises HandshakeFailure; its `reply` is the frame to send the responder (or None).
    """

    def __init__(self, suite: Suite, identity: Identity, *, pin: PeerPin, max_payload: int = wire.DEFAULT_MAX_PAYLOAD,
                 offered: tuple[int, ...] | None = None) -> None:
        self.suite = suite
        self.identity = identity
        self.pin = _require_pin(pin, "an Initiator")
        self.max_payload = max_payload
        self.offered = offered or (suite.code,)
        self.phases = dict.fromkeys(PHASES, 0.0)
        self.result: HandshakeResult | None = None
        self.peer_identity: bytes | None = None
        self.cookie_rounds = 0
        self._state = "start"
        self._kem_key = None
        self._keys: HandshakeKeys | None = None
        self._traffic: tuple[bytes, bytes, str] | None = None

    def start(self) -> bytes:
        if self._state != "start":
            raise RuntimeError("Initiator.start() called twice")
        began = _clock()
        try:
            self._kem_key = self.suite.generate_kem_key()
        except Exception as exc:  # noqa: BLE001 - reported as backend_error
            raise _crypto_failure("key generation", exc) from None
        self.phases["keygen"] += _clock() - began
        nonce = os.urandom(wire.NONCE_SIZE)
        self._hello = wire.ClientHello(self.offered, nonce, self._kem_key.public_key(),
                                       self.pin.intended_peer(self.suite.identity_algorithm, nonce))
        self._hello_frame = wire.encode_frame(wire.CLIENT_HELLO, self._hello.encode())
        self._state = "hello_sent"
        return self._hello_frame

    def receive(self, frame: bytes) -> bytes | None:
        try:
            return self._receive(frame)
        except HandshakeFailure as failure:
            self._state = "failed"
            failure.reply = alert_for(failure)
            raise
        finally:
            if self._state in ("failed", "done"):
                self._kem_key = self._keys = self._traffic = None

    def _receive(self, frame: bytes) -> bytes | None:
        message_type, payload = wire.decode_frame(frame, self.max_payload)
        if message_type == wire.ALERT and self._state in ("hello_sent", "finish_sent"):
            refusal = _peer_alert(payload, "responder")
            if refusal.reason is FailureReason.REJECTED and self._hello.intended_peer != wire.ANY_PEER:
                refusal.detail = ("the responder refused the hello (unauthenticated alert): it does not hold the "
                                  "pinned identity, or it does not accept this initiator")
            raise refusal
        if message_type == wire.COOKIE and self._state == "hello_sent" and not self.cookie_rounds:
            self.cookie_rounds += 1
            hello = wire.ClientHello(self._hello.suites, self._hello.nonce, self._hello.key_share,
                                     self._hello.intended_peer, wire.parse_cookie(payload))
            self._hello_frame = wire.encode_frame(wire.CLIENT_HELLO, hello.encode())
            return self._hello_frame
        if message_type == wire.SERVER_HELLO and self._state == "hello_sent":
            return self._on_server_hello(payload)
        if message_type == wire.RESULT and self._state == "finish_sent":
            return self._on_result(payload)
        raise HandshakeFailure(FailureReason.MALFORMED, f"unexpected {wire.MESSAGE_NAMES[message_type]}")

    def _on_server_hello(self, payload: bytes) -> bytes:
        suite, phases = self.suite, self.phases
        sizes = suite.sizes
        hello, clear_part = wire.ServerHello.parse_with_clear_part(payload)
        if hello.suite not in self.offered or hello.suite != suite.code:
            raise HandshakeFailure(FailureReason.DOWNGRADE, f"responder chose suite 0x{hello.suite:04x}, "
                                   f"which this side did not offer first")
        if len(hello.ciphertext) != sizes.ciphertext:
            raise HandshakeFailure(FailureReason.MALFORMED, f"SERVER_HELLO ciphertext is {len(hello.ciphertext)} "
                                   f"bytes, expected {sizes.ciphertext}")
        began = _clock()
        try:
            shared = self._kem_key.decapsulate(hello.ciphertext)
        except Exception as exc:  # noqa: BLE001
            raise _crypto_failure("decapsulation", exc) from None
        self._kem_key = None  # the ephemeral private key has done its one job
        decapsulated = _clock()
        transcript = hashlib.sha256(TRANSCRIPT_LABEL)
        transcript.update(self._hello_frame)
        transcript.update(clear_part)
        transcript1 = transcript.digest()
        keys = self._keys = derive_handshake_keys(shared, transcript1)
        plaintext = open_sealed(keys.server_key, hello.sealed, transcript1, "responder")
        phases["decapsulate"] += decapsulated - began
        phases["kdf"] += _clock() - decapsulated
        server = wire.Authenticated.parse(plaintext, sizes.identity, sizes.signature, "SERVER_HELLO sealed part")
        _check_authenticated(suite, self.identity, self.pin, server, "responder")
        transcript.update(wire.vector(server.identity))
        transcript2 = transcript.digest()
        transcript.update(wire.vector(server.signature))
        if not hmac.compare_digest(finished_mac(keys.server_finished, transcript.digest()), server.finished):
            raise HandshakeFailure(FailureReason.KEY_CONFIRMATION, "responder finished MAC does not match")
        verifier = suite.verifier(server.identity)
        began = _clock()
        valid = verifier.verify(transcript2, server.signature, SERVER_CONTEXT)
        verified = _clock()
        phases["verify"] += verified - began
        if not valid:
            raise HandshakeFailure(FailureReason.BAD_SIGNATURE, "responder transcript signature is invalid")
        transcript.update(server.finished)
        self._transcript4 = transcript.digest()
        transcript.update(wire.vector(self.identity.public_key))
        try:
            signature = self.identity.key.sign(transcript.digest(), CLIENT_CONTEXT)
        except Exception as exc:  # noqa: BLE001
            raise _crypto_failure("signing", exc) from None
        signed = _clock()
        phases["sign"] += signed - verified
        transcript.update(wire.vector(signature))
        finished = finished_mac(keys.client_finished, transcript.digest())
        transcript.update(finished)
        self._transcript7 = transcript.digest()
        sealed = seal(keys.client_key, wire.Authenticated(self.identity.public_key, signature,
                                                                           finished).encode(), self._transcript4)
        self._traffic = derive_traffic_keys(keys.secret, self._transcript7)
        phases["kdf"] += _clock() - signed
        self.peer_identity = server.identity
        self._state = "finish_sent"
        return wire.encode_frame(wire.CLIENT_FINISH, wire.ClientFinish(sealed).encode())

    def _on_result(self, payload: bytes) -> None:
        code, mac = wire.parse_result(payload)
        transcript = self._transcript7 if code == RESULT_OK else self._transcript4
        if not hmac.compare_digest(result_mac(self._keys.result, code, transcript), mac):
            raise HandshakeFailure(FailureReason.KEY_CONFIRMATION, "RESULT MAC does not verify: it was not sent by "
                                   "the responder of this handshake")
        if code != RESULT_OK:
            raise HandshakeFailure(FailureReason.from_wire(code), "the responder refused (authenticated RESULT)",
                                   origin=PEER, authenticated=True)
        client_write, server_write, session_id = self._traffic
        self.result = HandshakeResult(self.suite.name, self.suite.identity_algorithm, self.peer_identity, session_id,
                                      self.phases, client_write, server_write)
        self._state = "done"
        return None

    @property
    def done(self) -> bool:
        return self._state == "done"


@dataclass
class ResponderPolicy:
    """What a responder accepts; one policy (and its cookie secret) is shared by all connections.

    `allowed_peers` is required: the initiators' keys/fingerprints, or PeerPin.any() spelled out.
    """

    suite: Suite
    identity: Identity
    allowed_peers: PeerPin
    max_payload: int = wire.DEFAULT_MAX_PAYLOAD
    cookies: CookieJar = field(default_factory=CookieJar)

    def __post_init__(self) -> None:
        _require_pin(self.allowed_peers, "a ResponderPolicy")
        self._own_fingerprint = self.identity.fingerprint.removeprefix(PREFIX)

    def meant_for_us(self, hello: wire.ClientHello) -> bool:
        if hello.intended_peer == wire.ANY_PEER:
            return True
        return hmac.compare_digest(hello.intended_peer, _intended_peer_tag(hello.nonce, self._own_fingerprint))


class Responder:
    """The accepting side of one connection: `receive(frame)` returns the frame to send back.

    `require_cookie` (set by a busy server) answers a hello without a valid cookie for `source`
    with a COOKIE frame, before any public-key operation. A rejection raises HandshakeFailure; its
    `reply` is the frame to send (an authenticated RESULT once handshake keys exist, else an ALERT).
    """

    def __init__(self, policy: ResponderPolicy, *, source: bytes = b"", require_cookie: bool = False) -> None:
        self.policy = policy
        self.source = source
        self.require_cookie = require_cookie
        self.phases = dict.fromkeys(PHASES, 0.0)
        self.result: HandshakeResult | None = None
        self.cookies_sent = 0
        self._state = "await_hello"
        self._keys: HandshakeKeys | None = None

    def receive(self, frame: bytes) -> bytes:
        try:
            return self._receive(frame)
        except HandshakeFailure as failure:
            failure.reply = self.refusal(failure)
            raise
        finally:
            if self._state == "done":
                self._keys = None

    def refusal(self, failure: HandshakeFailure) -> bytes | None:
        """End this handshake after `failure` and return what to tell the initiator: a RESULT under
        this handshake's result key once keys exist, else a coarse ALERT; None for a peer's own report."""
        reply = None
        if not failure.remote and failure.reason.wire_code is not None:
            code = failure.reason.wire_code
            reply = (wire.encode_alert(code) if self._keys is None else
                     wire.encode_result(code, result_mac(self._keys.result, code, self._transcript4)))
        self._state = "failed"
        self._keys = None
        return reply

    def _receive(self, frame: bytes) -> bytes:
        if self.require_cookie and self._state == "await_hello" and len(frame) <= self.policy.max_payload:
            # The busy path: before any parsing beyond three fields, before any public-key work.
            challenge = self.policy.cookies.challenge(frame, self.source)
            if challenge is not None:
                if self.cookies_sent:
                    raise HandshakeFailure(FailureReason.BUSY, "the repeated hello carries no valid cookie")
                self.cookies_sent += 1
                return challenge
        message_type, payload = wire.decode_frame(frame, self.policy.max_payload)
        if message_type == wire.CLIENT_HELLO and self._state == "await_hello":
            return self._on_client_hello(frame, payload)
        if message_type == wire.CLIENT_FINISH and self._state == "await_finish":
            return self._on_client_finish(payload)
        if message_type == wire.ALERT and self._state in ("await_hello", "await_finish"):
            raise _peer_alert(payload, "initiator")
        raise HandshakeFailure(FailureReason.MALFORMED, f"unexpected {wire.MESSAGE_NAMES[message_type]}")

    def _on_client_hello(self, frame: bytes, payload: bytes) -> bytes:
        policy, phases = self.policy, self.phases
        suite = policy.suite
        hello = wire.ClientHello.parse(payload)
        if hello.suites[0] != suite.code:
            offered = ", ".join(f"0x{code:04x}" for code in hello.suites)
            raise HandshakeFailure(FailureReason.DOWNGRADE, f"initiator prefers suite(s) {offered}; this responder "
                                   f"requires {suite.name}")
        if len(hello.key_share) != suite.sizes.key_share:
            raise HandshakeFailure(FailureReason.MALFORMED, "CLIENT_HELLO key share has the wrong size")
        if not policy.meant_for_us(hello):
            raise HandshakeFailure(FailureReason.UNKNOWN_PEER, "the hello is meant for another responder identity")
        began = _clock()
        try:
            ciphertext, shared = suite.encapsulate(hello.key_share)
        except Exception as exc:  # noqa: BLE001
            raise _crypto_failure("encapsulation to the initiator's key share", exc) from None
        encapsulated = _clock()
        clear_part = wire.ServerHello(suite.code, os.urandom(wire.NONCE_SIZE), ciphertext, b"").clear_part()
        transcript = hashlib.sha256(TRANSCRIPT_LABEL)
        transcript.update(frame)
        transcript.update(clear_part)
        transcript1 = transcript.digest()
        keys = derive_handshake_keys(shared, transcript1)
        own = policy.identity.public_key
        transcript.update(wire.vector(own))
        derived = _clock()
        try:
            signature = policy.identity.key.sign(transcript.digest(), SERVER_CONTEXT)
        except Exception as exc:  # noqa: BLE001
            raise _crypto_failure("signing", exc) from None
        signed = _clock()
        transcript.update(wire.vector(signature))
        finished = finished_mac(keys.server_finished, transcript.digest())
        transcript.update(finished)
        sealed = seal(keys.server_key, wire.Authenticated(own, signature, finished).encode(),
                      transcript1)
        phases["encapsulate"] += encapsulated - began
        phases["kdf"] += derived - encapsulated + _clock() - signed
        phases["sign"] += signed - derived
        self._keys = keys
        self._transcript = transcript
        self._transcript4 = transcript.digest()
        self._state = "await_finish"
        return wire.encode_frame(wire.SERVER_HELLO, clear_part + wire.vector(sealed))

    def _on_client_finish(self, payload: bytes) -> bytes:
        policy, phases, keys = self.policy, self.phases, self._keys
        suite = policy.suite
        finish = wire.ClientFinish.parse(payload)
        began = _clock()
        plaintext = open_sealed(keys.client_key, finish.sealed, self._transcript4, "initiator")
        phases["kdf"] += _clock() - began
        client = wire.Authenticated.parse(plaintext, suite.sizes.identity, suite.sizes.signature,
                                          "CLIENT_FINISH sealed part")
        _check_authenticated(suite, policy.identity, policy.allowed_peers, client, "initiator")
        transcript = self._transcript
        transcript.update(wire.vector(client.identity))
        transcript5 = transcript.digest()
        transcript.update(wire.vector(client.signature))
        began = _clock()
        expected = finished_mac(keys.client_finished, transcript.digest())
        phases["kdf"] += _clock() - began
        if not hmac.compare_digest(expected, client.finished):
            raise HandshakeFailure(FailureReason.KEY_CONFIRMATION, "initiator finished MAC does not match")
        verifier = suite.verifier(client.identity)
        began = _clock()
        valid = verifier.verify(transcript5, client.signature, CLIENT_CONTEXT)
        verified = _clock()
        phases["verify"] += verified - began
        if not valid:
            raise HandshakeFailure(FailureReason.BAD_SIGNATURE, "initiator transcript signature is invalid")
        transcript.update(client.finished)
        transcript7 = transcript.digest()
        client_write, server_write, session_id = derive_traffic_keys(keys.secret, transcript7)
        reply = wire.encode_result(RESULT_OK, result_mac(keys.result, RESULT_OK, transcript7))
        phases["kdf"] += _clock() - verified
        self.result = HandshakeResult(suite.name, suite.identity_algorithm, client.identity, session_id, phases,
                                      client_write, server_write)
        self._state = "done"
        return reply

    @property
    def done(self) -> bool:
        return self._state == "done"
