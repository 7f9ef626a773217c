"""Signed control-plane messages: encoding, signing with ML-DSA-65, and the verification cache.

A message is a canonical JSON body (sender, key id, epoch, nonce, timestamp, kind, payload) and an
ML-DSA-65 signature over it under the control-plane signing context. Every receiver of one message
checks the same bytes, so `MessageCache` memoises the decoded body per body and the verification
result per (public key, body, signature): the first check is a real ML-DSA verification, later
checks of the very same triple reuse its answer. There is no path that accepts an unsigned message.
"""

from __future__ import annotations

import functools
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



@dataclass(frozen=True, slots=True)
class SignedMessage:
    """What travels on the wire: the canonical body and its ML-DSA-65 signature."""

    body: bytes
    signature: bytes

    @property
    def size(self) -> int:
        return len(self.body) + len(self.signature)


@dataclass(frozen=True, slots=True)
class Rotation:
    """A key rotation announcement: the new key and epoch, signed by the previous key."""

    public_key: bytes
    epoch: int
    signature: bytes


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
                                bytes.fromhex(announced["sig"]))
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
    """Memoised decoding and ML-DSA verification, shared by every receiver in one process."""

    scheme: object  # SigScheme
    real_verifications: int = 0
    cache_hits: int = 0
    _verified: dict = field(default_factory=dict, repr=False)
    _decoded: dict = field(default_factory=dict, repr=False)
    _public_keys: dict = field(default_factory=dict, repr=False)

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
            loaded = self._public_keys.get(public_key)
            if loaded is None:
                loaded = self._public_keys[public_key] = self.scheme.public_key(public_key)
            result = self._verified[key] = bool(loaded.verify(body, signature, context))
            self.real_verifications += 1
            return result
        self.cache_hits += 1
        return result


class Identity:
    """A node's signing identity: a stable node id (the first key's fingerprint), the current key and epoch."""

    def __init__(self, scheme, private_key=None) -> None:
        self.scheme = scheme
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
                                "sig": rotation.signature.hex()}
                body = encode_body(kind=kind, sender=self.node_id, key_id=self.key_id, epoch=self.epoch,
                                   nonce=nonce, timestamp_ms=timestamp_ms, payload={**payload, "rotate": announcement})
        else:
            body = encode_body(kind=kind, sender=self.node_id, key_id=self.key_id, epoch=self.epoch, nonce=nonce,
                               timestamp_ms=timestamp_ms, payload=payload)
        self.signed += 1
        return SignedMessage(body, self.private_key.sign(body, SIGNING_CONTEXT))

    def _announcement(self, rotation: Rotation) -> bytes:
        """The canonical JSON of the rotation announcement, encoded once per rotation."""
        if self._announced is None or self._announced[0] is not rotation:
            self._announced = (rotation, _canonical_json({"pk": rotation.public_key.hex(), "epoch": rotation.epoch,
                                                          "sig": rotation.signature.hex()}))
        return self._announced[1]

    def rotate(self, new_private_key=None) -> Rotation:
        """Move to a new key: the epoch increments and the old key signs the hand-over."""
        new_key = new_private_key or self.scheme.generate()
        new_public = new_key.public_key()
        epoch = self.epoch + 1
        statement = rotation_statement(self.node_id, epoch, new_public)
        rotation = Rotation(new_public, epoch, self.private_key.sign(statement, ROTATION_CONTEXT))
        self.signed += 1
        self.private_key, self.public_key, self.epoch, self.rotation = new_key, new_public, epoch, rotation
        self.key_id = node_name(new_public)
        return rotation

    def forget_rotation(self) -> None:
        """Stop attaching the rotation announcement once peers have had time to learn it."""
        self.rotation = None
