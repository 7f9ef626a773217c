"""The rules an honest node follows, as one object the simulator takes (a strategy).

`X0CTL_RULES` are x0ctl's rules (docs/quorum.md, "The protocol's rules"). Another rule set (for
instance the mesh's own, weaker one) is a `Rules` subclass with other answers: the simulator asks
the rules object and hard-codes none of these decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

from x0ctl.quorum.consensus import quorum_threshold, tolerated_faults
from x0ctl.quorum.events import GOVERNANCE_PROPOSAL


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


X0CTL_RULES = Rules()
RULES = {X0CTL_RULES.name: X0CTL_RULES}


def rules_named(name: str) -> Rules:
    """The rule set registered under `name` (ValueError for an unknown name)."""
    try:
        return RULES[name]
    except KeyError:
        raise ValueError(f"unknown rules {name!r}; known: {', '.join(sorted(RULES))}") from None
