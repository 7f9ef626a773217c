"""Signed control-plane messages: encoding, signing with ML-DSA-65, and the verification cache.

A message is a canonical JSON body (sender, key id, epoch, nonce, timestamp, kind, payload) and an
ML-DSA-65 signature over it under the control-plane signing context. Every receiver of one message
checks the same bytes, so `MessageCache` memoises the decoded body per body and the verification
result per (public key, body, signature): the first check is a real ML-DSA verification, later
checks of the very same triple reuse its answer. There is no path that accepts an unsigned message.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field

from x0ctl.pqc.fingerprint import fingerprint
from x0ctl.quorum.events import CRITICAL_EVENT_TYPES

SIGNATURE_ALGORITHM = "ML-DSA-65"
SIGNING_CONTEXT = b"x0tta6bl4/control/v1"
ROTATION_CONTEXT = b"x0tta6bl4/control/rotate/v1"
PROTOCOL_VERSION = 1

BEACON = "beacon"
ATTEST = "attest"
MESSAGE_KINDS = (BEACON, ATTEST)

REAL_CRYPTO = "real"
MODELLED_CRYPTO = "modelled"
CRYPTO_MODES = (REAL_CRYPTO, MODELLED_CRYPTO)


@dataclass(frozen=True, slots=True)
class SignatureFact:
    """Modelled crypto, a simulation model: in place of ML-DSA-65 signature bytes, the bare fact
    "the key with id `key_id` signed the message whose SHA-256 (with its context) is `digest`",
    in the run's signing act number `act` (ML-DSA-65 signing is hedged: two signatures of one
    message differ, and so do two facts, so the memoised checks count the same work).

    Honest decisions depend on nothing else a signature carries: a check passes exactly when the
    registered key signed these very bytes under this context. The simulator's adversary cannot
    sign with an honest key (it holds none), so the fact is as unforgeable inside a run as
    ML-DSA-65 is assumed to be. Never used outside the simulator."""

    key_id: str
    digest: bytes
    act: int

    @property
    def text(self) -> str:
        return f"{_FACT_PREFIX}{self.key_id}:{self.digest.hex()}:{self.act}"


_FACT_PREFIX = "fact:"


def statement_digest(data: bytes, context: bytes) -> bytes:
    return hashlib.sha256(len(context).to_bytes(2, "big") + context + data).digest()


def signature_text(signature) -> str:
    """A signature as text (action logs, rotation announcements): hex for ML-DSA bytes, `fact:...` for a fact."""
    return signature.text if isinstance(signature, SignatureFact) else signature.hex()


def signature_from_text(text: str):
    """The inverse of `signature_text` (raises ValueError on anything else)."""
    if text.startswith(_FACT_PREFIX):
        key_id, digest, act = text[len(_FACT_PREFIX):].rsplit(":", 2)
        return SignatureFact(key_id, bytes.fromhex(digest), int(act))
    return bytes.fromhex(text)


class RealSignatures:
    """ML-DSA-65 signing and verification through the PQC backend's scheme."""

    mode = REAL_CRYPTO

    def __init__(self, scheme) -> None:
        self.scheme = scheme
        self._public_keys: dict = {}

    def sign(self, private_key, key_id: str, data: bytes, context: bytes) -> bytes:
        return private_key.sign(data, context)

    def check(self, public_key: bytes, data: bytes, signature, context: bytes) -> bool:
        if not isinstance(signature, bytes):
            return False
        loaded = self._public_keys.get(public_key)
        if loaded is None:
            loaded = self._public_keys[public_key] = self.scheme.public_key(public_key)
        return bool(loaded.verify(data, signature, context))


class SignatureFacts:
    """Modelled crypto (`--crypto modelled`, a simulation model): a signature is a `SignatureFact`,
    and checking it compares the fact with the registered key's id and the message's digest. No
    ML-DSA signing or verification runs; keys are still generated for real (from the seed, once
    per node and rotation), so node ids and every decision are those of a run with real crypto."""

    mode = MODELLED_CRYPTO

    def __init__(self, scheme) -> None:
        self.scheme = scheme
        self.acts = 0

    def sign(self, private_key, key_id: str, data: bytes, context: bytes) -> SignatureFact:
        self.acts += 1
        return SignatureFact(key_id, statement_digest(data, context), self.acts)

    def check(self, public_key: bytes, data: bytes, signature, context: bytes) -> bool:
        return (isinstance(signature, SignatureFact) and signature.key_id == node_name(public_key)
                and signature.digest == statement_digest(data, context))


def signatures_for(mode: str, scheme):
    """The signing model of a crypto mode: `real` (ML-DSA-65) or `modelled` (signature facts)."""
    if mode == REAL_CRYPTO:
        return RealSignatures(scheme)
    if mode == MODELLED_CRYPTO:
        return SignatureFacts(scheme)
    raise ValueError(f"crypto mode must be one of {', '.join(CRYPTO_MODES)}, not {mode!r}")


@dataclass(frozen=True, slots=True)
class SignedMessage:
    """What travels on the wire: the canonical body and its ML-DSA-65 signature (bytes), or in
    modelled crypto the `SignatureFact` standing for it."""

    body: bytes
    signature: bytes | SignatureFact


@dataclass(frozen=True, slots=True)
class Rotation:
    """A key rotation announcement: the new key and epoch, signed by the previous key."""

    public_key: bytes
    epoch: int
    signature: bytes | SignatureFact


@dataclass(frozen=True, slots=True)
class Decoded:
    """A body parsed and schema-checked once; fields are what the signer claims until verified."""

    kind: str
    sender: str
    key_id: str
    epoch: int
    nonce: str
    timestamp_ms: int
    payload: dict
    rotation: Rotation | None = None
    event: tuple | None = None  # (event type, subject, slot) for attestations
    value: str | None = None
    # What a receiver remembers to refuse a replay: sender, epoch and nonce in one string, derived
    # from the fields (never passed in), shared by every receiver of the body, hashed once. The
    # sender's length comes first, so no choice of sender and nonce can spell another triple.
    replay_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "replay_key", f"{len(self.sender)}:{self.sender}\x00{self.epoch}\x00{self.nonce}")


def encode_body(*, kind: str, sender: str, key_id: str, epoch: int, nonce: str, timestamp_ms: int,
                payload: dict) -> bytes:
    document = {"v": PROTOCOL_VERSION, "kind": kind, "sender": sender, "key": key_id, "epoch": epoch,
                "nonce": nonce, "ts": timestamp_ms, "payload": payload}
    return _canonical_json(document)


def _canonical_json(document) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


# Stands in for the rotation announcement while a body is encoded; the announcement (a few KB of
# hex, the same in every message until it is dropped) is encoded once and spliced in. The encoder
# escapes control characters, so the quoted placeholder can only come from this exact value.
_ROTATION_PLACEHOLDER = "\x00rotation\x00"
_ROTATION_PLACEHOLDER_JSON = _canonical_json(_ROTATION_PLACEHOLDER)


def node_name(public_key: bytes) -> str:
    """The key id of an ML-DSA-65 public key: its fingerprint. Memoised, since every receiver of a
    key rotation names the same new key."""
    return _node_name(bytes(public_key))


@functools.lru_cache(maxsize=4096)
def _node_name(public_key: bytes) -> str:
    return fingerprint(SIGNATURE_ALGORITHM, public_key)


def rotation_statement(sender: str, epoch: int, public_key: bytes) -> bytes:
    """The bytes the old key signs to hand the node's identity over to a new key."""
    return b"rotate\x00" + sender.encode() + b"\x00" + str(epoch).encode() + b"\x00" + public_key


def decode_body(body: bytes) -> Decoded | None:
    """The parsed body, or None when it is not a well-formed control-plane message."""
    try:
        document = json.loads(body)
        if not isinstance(document, dict) or document.get("v") != PROTOCOL_VERSION:
            return None
        kind, payload = document["kind"], document["payload"]
        if kind not in MESSAGE_KINDS or not isinstance(payload, dict):
            return None
        epoch, timestamp = document["epoch"], document["ts"]
        if type(epoch) is not int or type(timestamp) is not int or epoch < 0:
            return None
        sender, key_id, nonce = document["sender"], document["key"], document["nonce"]
        if not all(isinstance(item, str) for item in (sender, key_id, nonce)):
            return None
        rotation = None
        if "rotate" in payload:
            announced = payload["rotate"]
            rotation = Rotation(bytes.fromhex(announced["pk"]), int(announced["epoch"]),
                                signature_from_text(announced["sig"]))
        event = value = None
        if kind == ATTEST:
            event_type, subject, slot = payload["type"], payload["subject"], payload["slot"]
            if event_type not in CRITICAL_EVENT_TYPES or not isinstance(subject, str) or type(slot) is not int:
                return None
            value = payload["value"]
            if not isinstance(value, str):
                return None
            event = (event_type, subject, slot)
        return Decoded(kind, sender, key_id, epoch, nonce, timestamp, payload, rotation, event, value)
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class MessageCache:
    """Memoised decoding and signature checks, shared by every receiver in one process.
    `signatures` is the signing model (default: real ML-DSA-65 through `scheme`)."""

    scheme: object  # SigScheme
    signatures: RealSignatures | SignatureFacts | None = None
    real_verifications: int = 0  # first checks of a (key, body, signature, context): ML-DSA runs in real crypto
    cache_hits: int = 0
    _verified: dict = field(default_factory=dict, repr=False)
    _decoded: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.signatures is None:
            self.signatures = RealSignatures(self.scheme)

    def decode(self, body: bytes) -> Decoded | None:
        try:
            return self._decoded[body]
        except KeyError:
            decoded = self._decoded[body] = decode_body(body)
            return decoded

    def verify(self, public_key: bytes, body: bytes, signature: bytes, context: bytes = SIGNING_CONTEXT) -> bool:
        key = (public_key, body, signature, context)
        try:
            result = self._verified[key]
        except KeyError:
            result = self._verified[key] = self.signatures.check(public_key, body, signature, context)
            self.real_verifications += 1
            return result
        self.cache_hits += 1
        return result


class Identity:
    """A node's signing identity: a stable node id (the first key's fingerprint), the current key and epoch."""

    def __init__(self, scheme, private_key=None, signatures=None) -> None:
        self.scheme = scheme
        self.signatures = signatures or RealSignatures(scheme)
        self.private_key = private_key or scheme.generate()
        self.public_key = self.private_key.public_key()
        self.node_id = node_name(self.public_key)
        self.key_id = self.node_id
        self.epoch = 0
        self.rotation: Rotation | None = None
        self.signed = 0
        self._announced: tuple[Rotation, bytes] | None = None  # (rotation, its canonical JSON)

    def sign(self, kind: str, nonce: str, timestamp_ms: int, payload: dict) -> SignedMessage:
        rotation = self.rotation
        if rotation is not None and "rotate" not in payload:
            body = encode_body(kind=kind, sender=self.node_id, key_id=self.key_id, epoch=self.epoch, nonce=nonce,
                               timestamp_ms=timestamp_ms, payload={**payload, "rotate": _ROTATION_PLACEHOLDER})
            if body.count(_ROTATION_PLACEHOLDER_JSON) == 1:
                body = body.replace(_ROTATION_PLACEHOLDER_JSON, self._announcement(rotation))
            else:  # the caller's payload holds the placeholder itself: encode the slow way
                announcement = {"pk": rotation.public_key.hex(), "epoch": rotation.epoch,
                                "sig": signature_text(rotation.signature)}
                body = encode_body(kind=kind, sender=self.node_id, key_id=self.key_id, epoch=self.epoch,
                                   nonce=nonce, timestamp_ms=timestamp_ms, payload={**payload, "rotate": announcement})
        else:
            body = encode_body(kind=kind, sender=self.node_id, key_id=self.key_id, epoch=self.epoch, nonce=nonce,
                               timestamp_ms=timestamp_ms, payload=payload)
        self.signed += 1
        return SignedMessage(body, self.signatures.sign(self.private_key, self.key_id, body, SIGNING_CONTEXT))

    def _announcement(self, rotation: Rotation) -> bytes:
        """The canonical JSON of the rotation announcement, encoded once per rotation."""
        if self._announced is None or self._announced[0] is not rotation:
            self._announced = (rotation, _canonical_json({"pk": rotation.public_key.hex(), "epoch": rotation.epoch,
                                                          "sig": signature_text(rotation.signature)}))
        return self._announced[1]

    def rotate(self, new_private_key=None) -> Rotation:
        """Move to a new key: the epoch increments and the old key signs the hand-over."""
        new_key = new_private_key or self.scheme.generate()
        new_public = new_key.public_key()
        epoch = self.epoch + 1
        statement = rotation_statement(self.node_id, epoch, new_public)
        rotation = Rotation(new_public, epoch, self.signatures.sign(self.private_key, self.key_id, statement,
                                                                    ROTATION_CONTEXT))
        self.signed += 1
        self.private_key, self.public_key, self.epoch, self.rotation = new_key, new_public, epoch, rotation
        self.key_id = node_name(new_public)
        return rotation

    def forget_rotation(self) -> None:
        """Stop attaching the rotation announcement once peers have had time to learn it."""
        self.rotation = None
