"""The rules an honest node follows, as one object the simulator takes (a strategy).

`X0CTL_RULES` are x0ctl's rules (docs/quorum.md, "The protocol's rules"). Another rule set (for
instance the mesh's own, weaker one) is a `Rules` subclass with other answers: the simulator asks
the rules object and hard-codes none of these decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

from x0ctl.quorum.consensus import QuorumTracker, quorum_threshold, tolerated_faults
from x0ctl.quorum.events import GOVERNANCE_PROPOSAL
from x0ctl.quorum.mesh_rules import MeshReputation, MeshVerifier, mesh_threshold, mesh_tolerated_faults
from x0ctl.quorum.reputation import Reputation
from x0ctl.quorum.verifier import Verifier


@dataclass(frozen=True)
class Rules:
    """x0ctl's protocol rules.

    * quorum: `threshold(n)` distinct non-quarantined members attest one value; safe for
      f <= `tolerated_faults(n)`;
    * proposer authority: a governance proposal `(GOVERNANCE_PROPOSAL, owner, slot)` is endorsed
      only with a value the owner itself signed, and only once (the owner too signs one value per
      slot);
    * reports are observations: a NODE_FAILURE attestation says "I have not heard the subject for
      the detection window"; it is counted, never held against its signer (a lie and asymmetric
      reachability look the same to a receiver); only provable misbehaviour is punished
      (bad signatures, replays, flooding, two signed values for one event);
    * a vote is a vote wherever the voter is: endorsements are not held back while a node believes
      it is partitioned (a minority cannot reach the quorum anyway); only failure reports wait for
      the node to be connected, since silence across a split says nothing about a crash.
    """

    name: str = "x0ctl"

    def threshold(self, members: int) -> int:
        return quorum_threshold(members)

    def tolerated_faults(self, members: int) -> int:
        return tolerated_faults(members)

    def proposal_owner(self, event: tuple) -> str | None:
        """The member whose signature makes a value a proposal for `event` (None: not a proposal)."""
        return event[1] if event[0] == GOVERNANCE_PROPOSAL else None

    def endorses(self, event: tuple, signer: str) -> bool:
        """Whether an honest node that has not voted on `event` adopts the value `signer` signed."""
        owner = self.proposal_owner(event)
        return owner is not None and signer == owner

    def reports_while_partitioned(self) -> bool:
        return False

    def votes_outlive_rotation(self) -> bool:
        """Whether a vote signed under its signer's previous key is still relayed and counted (x0ctl:
        no, the signer re-issues it under the new key)."""
        return False

    def reputation(self) -> Reputation:
        """A fresh reputation table for one honest node."""
        return Reputation(keep_history=False)

    def verifier(self, identity, members: dict, cache, *, rate_limit: float, freshness_ms: int,
                 reputation: Reputation, carried_keys: dict) -> Verifier:
        """One honest node's receive path. `carried_keys` (key id -> public key, every key of the
        run) is what a message naming a key id could carry; x0ctl's rules never read it: a key
        counts only when the registry binds it to the sender."""
        return Verifier(identity.node_id, members, cache, rate_limit=rate_limit, freshness_ms=freshness_ms,
                        reputation=reputation)

    def tracker(self, members: frozenset, reputation: Reputation, threshold: int) -> QuorumTracker:
        return QuorumTracker(members, reputation, threshold)


@dataclass(frozen=True)
class MeshRules(Rules):
    """The mesh's rules as its public source implements them (`x0ctl.quorum.mesh_rules`):

    * quorum: int(0.67 n) + 1 distinct voters (n = 3 needs 3; ceil(2n/3) needs 2);
    * gossip: the signature is checked against the key the message carries (sender and key not
      bound), no freshness window, epochs down to the receiver's own minus one accepted, nonces
      per (sender, epoch), 10 accepted messages per second per sender;
    * reputation: x0.9 per violation held against the claimed sender, x1.05 per accepted message,
      quarantine below 0.3 for 300 s, then it expires by itself;
    * quorum votes: signatures stored, never verified (a relayed vote counts as it is), no
      equivocation check (a member's second value counts too, unpunished).

    Honest nodes otherwise behave as under x0ctl's rules (proposer authority, failure detector),
    so that a difference in outcome is the difference in these rules.
    """

    name: str = "mesh"

    def threshold(self, members: int) -> int:
        return mesh_threshold(members)

    def tolerated_faults(self, members: int) -> int:
        return mesh_tolerated_faults(members)

    def votes_outlive_rotation(self) -> bool:
        return True  # a vote is a stored signature nobody checks again

    def reputation(self) -> Reputation:
        return MeshReputation(keep_history=False)

    def verifier(self, identity, members: dict, cache, *, rate_limit: float, freshness_ms: int,
                 reputation: Reputation, carried_keys: dict) -> Verifier:
        return MeshVerifier(identity.node_id, members, cache, rate_limit=rate_limit, reputation=reputation,
                            carried_keys=carried_keys, own_epoch=lambda: identity.epoch)

    def tracker(self, members: frozenset, reputation: Reputation, threshold: int) -> QuorumTracker:
        return QuorumTracker(members, reputation, threshold, equivocation_check=False)


X0CTL_RULES = Rules()
MESH_RULES = MeshRules()
RULES = {X0CTL_RULES.name: X0CTL_RULES, MESH_RULES.name: MESH_RULES}


def rules_named(name: str) -> Rules:
    """The rule set registered under `name` (ValueError for an unknown name)."""
    try:
        return RULES[name]
    except KeyError:
        raise ValueError(f"unknown rules {name!r}; known: {', '.join(sorted(RULES))}") from None
