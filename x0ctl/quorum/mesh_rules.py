"""The receive path and reputation of the mesh as its public source has them (`MESH_RULES`).

Read from the mesh's src/network/byzantine/signed_gossip.py and quorum_validation.py (commit
f77b4930; behaviour only). What a mesh node does with an inbound gossip message, in its order:

1. a quarantined sender is dropped; a quarantine whose 300 s are over is lifted on the spot;
2. rate limit: at most 10 accepted messages per sender in the last second, else penalised;
3. nonce: seen before for (sender, epoch) -> replay, penalised;
4. epoch: older than the receiver's own epoch minus one -> stale (not penalised);
5. signature: verified against the key the message carries, whoever it names as sender;
   invalid -> penalised.

Every penalty goes to the claimed sender (the mesh has no notion of the link neighbour), as a
reputation multiplied by 0.9; each accepted message multiplies it by 1.05 (capped at 1.0); below
0.3 the sender is quarantined for 300 s. There is no freshness window. Quorum votes carry
signatures the quorum code stores and never verifies, so a vote relayed by a third party counts as
it is.

The simulator's messages name their key by fingerprint (`key`); under these rules the receiver
takes whatever key that fingerprint names (`carried_keys`, every key that exists in the run, the
attacker's included), which is what verifying against an embedded key amounts to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from x0ctl.quorum.protocol import ATTEST, Decoded, SignedMessage
from x0ctl.quorum.reputation import Reputation, ReputationChange
from x0ctl.quorum.verifier import MemberRecord, Verdict, Verifier

MESH_THRESHOLD_FRACTION = 0.67
MESH_DECAY_PER_VIOLATION = 0.9
MESH_RECOVERY_PER_MESSAGE = 1.05
MESH_QUARANTINE_BELOW = 0.3
MESH_QUARANTINE_MS = 300_000
MESH_RATE_WINDOW_MS = 1_000


def mesh_threshold(members: int) -> int:
    """int(0.67 * n) + 1, the mesh's quorum size (n = 3 needs all 3)."""
    if members < 1:
        raise ValueError("a quorum needs at least one member")
    return int(members * MESH_THRESHOLD_FRACTION) + 1


def mesh_tolerated_faults(members: int) -> int:
    """The most Byzantine members the mesh's threshold q stays safe (2q - n > f) and live
    (n - f >= q) against: min(2q - n - 1, n - q), never below 0."""
    q = min(mesh_threshold(members), members)
    return max(0, min(2 * q - members - 1, members - q))


@dataclass
class MeshReputation(Reputation):
    """Multiplicative reputation; quarantine lasts 300 s and then expires by itself."""

    threshold: float = MESH_QUARANTINE_BELOW
    expired: int = 0  # quarantines lifted by expiry (not by an operator)
    _lifts_at: dict = field(default_factory=dict)  # node -> time (ms) its quarantine ends

    def penalise(self, node: str, reason: str, at_ms: int, amount: float | None = None) -> bool:
        before = self.scores.get(node, 1.0)
        value = before * MESH_DECAY_PER_VIOLATION
        self.scores[node] = value
        if self.keep_history:
            self.history.append(ReputationChange(node, value - before, value, reason, at_ms))
        if value >= self.threshold:
            return False
        # Every violation below the threshold (re)starts the 300 s, as the mesh does.
        newly = node not in self.quarantined
        self.quarantined[node] = at_ms
        self._lifts_at[node] = at_ms + MESH_QUARANTINE_MS
        return newly

    def reward(self, node: str) -> None:
        value = self.scores.get(node, 1.0)
        if value < 1.0:
            self.scores[node] = min(1.0, value * MESH_RECOVERY_PER_MESSAGE)

    def still_quarantined(self, node: str, now_ms: int) -> bool:
        """Whether `node` is quarantined at `now_ms`; an expired quarantine is lifted here, its score
        left where it was (the next violation quarantines it again)."""
        if node not in self.quarantined:
            return False
        if now_ms < self._lifts_at[node]:
            return True
        del self.quarantined[node]
        del self._lifts_at[node]
        self.expired += 1
        if self.keep_history:
            self.history.append(ReputationChange(node, 0.0, self.scores.get(node, 1.0), "quarantine expired", now_ms))
        return False


class MeshVerifier(Verifier):
    """A mesh node's gossip checks (see the module docstring), on the simulator's messages."""

    def __init__(self, owner: str, members: dict[str, bytes], cache, *, rate_limit: float,
                 reputation: MeshReputation, carried_keys: dict[str, bytes], own_epoch) -> None:
        super().__init__(owner, members, cache, rate_limit=rate_limit, reputation=reputation)
        self.carried_keys = carried_keys
        self.own_epoch = own_epoch  # callable: the receiver's current epoch (its key rotations)
        self._recent: dict[str, list] = {}  # sender -> times (ms) of its accepted messages, last second
        self._nonces: set = set()  # (sender, epoch, nonce): kept for the whole run (no freshness window)

    def refuses(self, via: str, sender: str) -> bool:
        # A quarantine may expire before the message arrives: only the arrival (`screen`) can tell.
        return False

    def screen(self, message: SignedMessage, decoded: Decoded | None, via: str, now_ms: int,
               relayed: bool = False) -> Verdict | None:
        if decoded is None:
            return self._reject("malformed", None, now_ms)
        sender = decoded.sender
        if self.reputation.still_quarantined(sender, now_ms):
            return self._reject("quarantined", None, now_ms, decoded)
        record = self.registry.get(sender)
        if record is None:
            return self._reject("unknown_sender", None, now_ms, decoded)
        if relayed:
            if decoded.kind != ATTEST:
                return self._reject("not_relayable", None, now_ms, decoded)
            # A vote's signature is stored by the quorum code, never verified.
            self.accepted += 1
            return None
        recent = [at for at in self._recent.get(sender, ()) if now_ms - at < MESH_RATE_WINDOW_MS]
        self._recent[sender] = recent
        if len(recent) >= self.rate_limit:
            return self._reject("rate_limited", sender, now_ms, decoded)
        replay_key = decoded.replay_key
        if replay_key in self._nonces:
            return self._reject("replay", sender, now_ms, decoded)
        if decoded.epoch < self.own_epoch() - 1:
            return self._reject("stale_epoch", None, now_ms, decoded)
        carried = self.carried_keys.get(decoded.key_id)
        if carried is None or not self.cache.verify(carried, message.body, message.signature):
            return self._reject("forgery", sender, now_ms, decoded)
        self._nonces.add(replay_key)
        recent.append(now_ms)
        self._learn(record, decoded, carried)
        self.reputation.reward(sender)
        self.accepted += 1
        return None

    @staticmethod
    def _learn(record: MemberRecord, decoded: Decoded, carried: bytes) -> None:
        """Keep the registry's record (which the simulator's bookkeeping reads: failure-report slots,
        stale votes) at the newest epoch and key a sender was accepted with; the mesh itself keeps
        no registry."""
        if decoded.epoch > record.epoch:
            record.epoch, record.public_key, record.key_id = decoded.epoch, carried, decoded.key_id
