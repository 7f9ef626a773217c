"""The receive path of a control-plane node: who may speak, with which key, how often, and only once.

`Verifier.check()` runs every inbound message through, in this order: decoding, membership, the
sender's quarantine, epoch (key rotation), key id, ML-DSA-65 signature, freshness and nonce
(anti-replay), and the per-sender rate limit. The first failing check names the rejection reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from x0ctl.quorum.protocol import (
    ATTEST,
    ROTATION_CONTEXT,
    SIGNING_CONTEXT,
    Decoded,
    MessageCache,
    SignedMessage,
    node_name,
    rotation_statement,
)
from x0ctl.quorum.reputation import Reputation

RATE_LIMIT_PER_SECOND = 10.0
FRESHNESS_WINDOW_MS = 30_000
CLOCK_SKEW_MS = 2_000

# Rejection reasons, grouped into the causes the report counts.
REJECTION_CAUSES = {
    "replay": "replay",
    "stale_epoch": "replay",
    "forgery": "forgery",
    "key_substitution": "forgery",
    "rate_limited": "rate_limit",
    "quarantined": "quarantine",
    "malformed": "other",
    "unknown_sender": "other",
    "future_epoch": "other",
    "not_relayable": "other",
}


@dataclass(slots=True)
class MemberRecord:
    public_key: bytes
    key_id: str
    epoch: int
    # The member's token bucket (`rate_limit` messages per second, a burst of `rate_limit`), kept
    # with its record so that a receipt finds everything about its sender in one lookup: tokens
    # left (None before its first message) and when they were last refilled.
    tokens: float | None = None
    refilled_ms: int = 0


@dataclass(slots=True)
class Verdict:
    accepted: bool
    reason: str | None = None
    decoded: Decoded | None = None
    blamed: str | None = None  # who the rejection is held against (the link neighbour, or the sender)


class Verifier:
    """One node's inbound checks, with its own registry, replay memory, rate limits and reputation."""

    def __init__(self, owner: str, members: dict[str, bytes], cache: MessageCache, *,
                 rate_limit: float = RATE_LIMIT_PER_SECOND, freshness_ms: int = FRESHNESS_WINDOW_MS,
                 reputation: Reputation | None = None) -> None:
        self.owner = owner
        self.cache = cache
        self.registry = {node: MemberRecord(key, node, 0) for node, key in members.items()}
        if not (isinstance(rate_limit, (int, float)) and math.isfinite(rate_limit) and rate_limit > 0):
            raise ValueError(f"rate_limit must be a positive finite number of messages per second, not {rate_limit!r}")
        self.rate_limit = rate_limit
        self.freshness_ms = freshness_ms
        self.reputation = reputation or Reputation()
        self.rejections: dict[str, int] = {}
        self.accepted = 0
        # Decoded.replay_key (sender, epoch, nonce) -> receipt time. Insertion order is receipt
        # order, so the oldest entries are at the front and pruning stops at the first one still
        # inside the window.
        self._seen: dict[str, int] = {}
        self._prune_at_ms = 0

    @property
    def members(self) -> int:
        return len(self.registry)

    def refuses(self, via: str, sender: str) -> bool:
        """Whether a well-formed message claiming `sender`, delivered by `via`, is dropped unread:
        this node has quarantined one of them. Quarantine is sticky (only `Reputation.release`
        lifts it), so the answer holds for every later arrival until a release. `screen()` makes
        this check itself; a caller that asked ahead of time counts the drop with `count_refused()`."""
        quarantined = self.reputation.quarantined
        return bool(quarantined) and (via in quarantined or sender in quarantined)

    def count_refused(self) -> None:
        """Count one message `refuses()` dropped, as `screen()` would have ("quarantined", no blame)."""
        self.rejections["quarantined"] = self.rejections.get("quarantined", 0) + 1

    def check(self, message: SignedMessage, via: str, now_ms: int, relayed: bool = False) -> Verdict:
        """Decide on one inbound message delivered by link neighbour `via` at `now_ms`.

        `relayed` marks attestations forwarded by a third party during anti-entropy: they are
        statements, counted once per (attester, event), so they skip the nonce and freshness checks
        that protect directly delivered messages; everything else applies.
        """
        decoded = self.cache.decode(message.body)
        rejected = self.screen(message, decoded, via, now_ms, relayed)
        return Verdict(True, None, decoded) if rejected is None else rejected

    def screen(self, message: SignedMessage, decoded: Decoded | None, via: str, now_ms: int,
               relayed: bool = False) -> Verdict | None:
        """`check()` for a caller that already holds `cache.decode(message.body)`: None when the
        message is accepted, else the rejection. Every check of `check()` runs here, in its order.

        The simulator calls this once per receipt of every message, so lookups are inlined: the
        decoded body is the same object for every receiver of one message and is looked up once
        by the caller, but everything that depends on this node (quarantine, registry, epoch, key
        id, replay memory, rate limit, reputation) is checked here, per receiver.
        """
        if decoded is None:
            return self._reject("malformed", via, now_ms)
        sender = decoded.sender
        quarantined = self.reputation.quarantined
        # A quarantined member's own traffic is dropped unread; an attestation it signed earlier and
        # an honest peer relays is a vote like any other (see QuorumTracker), checked below.
        if quarantined and (via in quarantined or (sender in quarantined and not relayed)):
            return self._reject("quarantined", None, now_ms, decoded)
        record = self.registry.get(sender)
        if record is None:
            return self._reject("unknown_sender", via if via in self.registry else None, now_ms, decoded)
        if relayed and decoded.kind != ATTEST:
            return self._reject("not_relayable", via, now_ms, decoded)
        epoch = decoded.epoch
        if epoch != record.epoch:
            if epoch > record.epoch:
                reason = self._accept_rotation(sender, record, decoded)
                if reason is not None:
                    return self._reject(reason, via, now_ms, decoded)
            else:
                # Stale either way, but only blamed when it cannot be honest: a relayed attestation
                # may predate its signer's rotation, and the signer's own last message under the
                # previous key may simply arrive after its first message under the new one.
                innocent = relayed or (sender == via and epoch == record.epoch - 1)
                return self._reject("stale_epoch", None if innocent else via, now_ms, decoded)
        if decoded.key_id != record.key_id:
            return self._reject("key_substitution", via, now_ms, decoded)
        valid = self.cache._verified.get((record.public_key, message.body, message.signature, SIGNING_CONTEXT))
        if valid is None:
            valid = self.cache.verify(record.public_key, message.body, message.signature)
        else:
            self.cache.cache_hits += 1
        if not valid:
            return self._reject("forgery", via, now_ms, decoded)
        if not relayed:
            timestamp = decoded.timestamp_ms
            if timestamp < now_ms - self.freshness_ms or timestamp > now_ms + CLOCK_SKEW_MS:
                return self._reject("replay", via, now_ms, decoded)
            if sender != via:
                # A correctly signed message delivered directly by someone else: only a replay does that.
                # Its nonce is not consumed, so the original still gets through if it arrives later.
                return self._reject("replay", via, now_ms, decoded)
            seen = self._seen
            remembered = len(seen)
            seen.setdefault(decoded.replay_key, now_ms)  # one lookup: remembers it unless already there
            if len(seen) == remembered:
                return self._reject("replay", via, now_ms, decoded)
            if now_ms >= self._prune_at_ms:
                self._forget(now_ms)
            # The sender's token bucket.
            rate = self.rate_limit
            tokens = record.tokens
            if tokens is None:
                tokens = float(rate)  # a full bucket
            else:
                tokens = tokens + (now_ms - record.refilled_ms) * rate / 1000.0
            tokens = min(tokens, rate)
            record.refilled_ms = now_ms
            if tokens >= 1.0:
                record.tokens = tokens - 1.0
            else:
                record.tokens = tokens
                return self._reject("rate_limited", sender, now_ms, decoded)
            reputation = self.reputation
            if sender in reputation.scores:  # only peers that were ever penalised have room to recover
                reputation.reward(sender)
        self.accepted += 1
        return None

    def _accept_rotation(self, sender: str, record: MemberRecord, decoded: Decoded) -> str | None:
        """Adopt a newer key when the message carries a hand-over signed by the registered key."""
        rotation = decoded.rotation
        if rotation is None or rotation.epoch != decoded.epoch or rotation.epoch != record.epoch + 1:
            return "future_epoch"
        statement = rotation_statement(sender, rotation.epoch, rotation.public_key)
        if not self.cache.verify(record.public_key, statement, rotation.signature, ROTATION_CONTEXT):
            return "key_substitution"
        record.public_key = rotation.public_key
        record.key_id = node_name(rotation.public_key)
        record.epoch = rotation.epoch
        return None

    def _forget(self, now_ms: int) -> None:
        # Nonces received before the freshness window (plus clock skew) can go: a message carrying
        # one has a timestamp the freshness check rejects anyway, so when pruning runs (once per
        # second of receipt time, not per message) changes no decision, only memory.
        horizon = now_ms - self.freshness_ms - CLOCK_SKEW_MS
        seen = self._seen
        stale = []
        for key, received_ms in seen.items():
            if received_ms >= horizon:
                break
            stale.append(key)
        for key in stale:
            del seen[key]
        self._prune_at_ms = now_ms + _PRUNE_EVERY_MS

    def _reject(self, reason: str, blamed: str | None, now_ms: int, decoded: Decoded | None = None) -> Verdict:
        self.rejections[reason] = self.rejections.get(reason, 0) + 1
        if blamed is not None and blamed != self.owner and reason in _PENALISED:
            self.reputation.penalise(blamed, reason, now_ms)
        return Verdict(False, reason, decoded, blamed)


_PRUNE_EVERY_MS = 1_000
_PENALISED = {"malformed", "forgery", "key_substitution", "replay", "stale_epoch", "future_epoch", "rate_limited",
              "not_relayable"}
