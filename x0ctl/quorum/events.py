"""The critical event types and the event names the protocol and its simulator share.

An event is the tuple `(type, subject, slot)`; an attestation gives it a value. Kept apart from
the simulator so that the report, the rules and the adversary interface can name events without
importing the event loop.
"""

from __future__ import annotations

NODE_FAILURE = "NODE_FAILURE"
LINK_DOWN = "LINK_DOWN"
TOPOLOGY_PARTITION = "TOPOLOGY_PARTITION"
GOVERNANCE_PROPOSAL = "GOVERNANCE_PROPOSAL"
KEY_ROTATION = "KEY_ROTATION"
SECURITY_INCIDENT = "SECURITY_INCIDENT"

# The six events that need a 2/3 quorum before the mesh acts on them (shared/domain.md).
CRITICAL_EVENT_TYPES = (NODE_FAILURE, LINK_DOWN, TOPOLOGY_PARTITION, GOVERNANCE_PROPOSAL, KEY_ROTATION,
                        SECURITY_INCIDENT)

# The value of a failure report: "the reporter has not heard the subject for the detection window".
DOWN = "down"
# The honest proposal of a run: its owner's first slot, and the value it proposes.
HONEST_PROPOSAL_SLOT = 0
HONEST_PROPOSAL_VALUE = "proposal-0"
# The slot the built-in `equivocate` strategy contests, owned by a Byzantine member.
CONTESTED_SLOT = 1


def proposal_event(owner: str, slot: int) -> tuple:
    """A governance proposal is named by its owner (the proposer) and the owner's slot number."""
    return (GOVERNANCE_PROPOSAL, owner, slot)


def failure_event(subject: str, epoch: int) -> tuple:
    """A failure report names the subject and its key epoch (a rotated node starts a new slot)."""
    return (NODE_FAILURE, subject, epoch)
