"""Quorum validation of critical events: 2/3 attestations, one vote per member, equivocation punished.

The rule, for a membership of n registered nodes (fixed for the epoch, quarantined ones included):

    threshold(n) = ceil(2n / 3)        tolerated_faults(n) = floor((n - 1) / 3)

An event is validated, with a value, once signed attestations for that value from `threshold(n)`
distinct registered members are held. Why this is safe for f < n/3 Byzantine members: two
quorums of size q share at least 2q - n members, and 2 * ceil(2n/3) - n >= f + 1 whenever
f <= floor((n - 1) / 3), so any two quorums share an honest member; an honest member attests at most
one value per event, hence two conflicting values can never both be validated. Liveness: the
n - f honest members alone reach the threshold, since n - floor((n - 1) / 3) >= ceil(2n / 3).
A false event that no honest member attests needs f >= threshold(n) Byzantine members on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from x0ctl.quorum.reputation import Reputation


def quorum_threshold(members: int) -> int:
    """ceil(2n/3): attestations needed to validate a critical event in a membership of n."""
    if members < 1:
        raise ValueError("a quorum needs at least one member")
    return (2 * members + 2) // 3


def tolerated_faults(members: int) -> int:
    """floor((n-1)/3): the largest number of Byzantine members the quorum rule is safe against."""
    if members < 1:
        raise ValueError("a quorum needs at least one member")
    return (members - 1) // 3


@dataclass(frozen=True, slots=True)
class Decision:
    event: tuple  # (event type, subject, slot)
    value: str
    at_ms: float
    attesters: frozenset


@dataclass(frozen=True, slots=True)
class Equivocation:
    """Proof that `attester` signed two different values for one event (both signatures verified)."""

    attester: str
    event: tuple
    values: tuple
    at_ms: float


# What QuorumTracker.add() says about one attestation.
COUNTED, DUPLICATE, EQUIVOCATION, NOT_MEMBER = "counted", "duplicate", "equivocation", "not_member"


@dataclass
class QuorumTracker:
    """One node's tally of verified attestations. Feed it only attestations the Verifier accepted.

    Every validly signed vote counts, once per (member, value), whoever holds it and whatever
    happened to its signer since: a second value from one member is recorded as equivocation (and
    punished through `reputation`) and counted too. That is safe for f <= tolerated_faults(n): two
    quorums for different values share an honest member, who signs one value only. Counting every
    signed vote is what lets every honest node reach the decision some honest node reached
    (totality), even when the member that helped it there was quarantined in between.
    """

    members: frozenset
    reputation: Reputation
    threshold: int = 0
    # False: a member's second value is counted like any vote, neither recorded nor punished (the
    # mesh's quorum code has no equivocation check).
    equivocation_check: bool = True
    votes: dict = field(default_factory=dict)  # event -> {attester: [values, in the order seen]}
    decisions: dict = field(default_factory=dict)  # event -> Decision
    equivocations: list = field(default_factory=list)
    _counts: dict = field(default_factory=dict)  # (event, value) -> votes

    def __post_init__(self) -> None:
        if not self.threshold:
            self.threshold = quorum_threshold(len(self.members))

    def add(self, attester: str, event: tuple, value: str, at_ms: float) -> tuple[str, Decision | None]:
        """Count one attestation; returns (outcome, the Decision if this vote validated the event)."""
        if attester not in self.members:
            return NOT_MEMBER, None
        ballots = self.votes.get(event)
        if ballots is None:
            ballots = self.votes[event] = {}
        previous = ballots.get(attester)
        outcome = COUNTED
        if previous is None:
            ballots[attester] = [value]
        elif value in previous:
            return DUPLICATE, None
        elif not self.equivocation_check:
            previous.append(value)
        else:
            self.equivocations.append(Equivocation(attester, event, (previous[0], value), at_ms))
            self.reputation.penalise(attester, "equivocation", int(at_ms))
            previous.append(value)
            outcome = EQUIVOCATION
        key = (event, value)
        count = self._counts[key] = self._counts.get(key, 0) + 1
        if count < self.threshold or event in self.decisions:
            return outcome, None
        supporters = frozenset(node for node, values in ballots.items() if value in values)
        decision = self.decisions[event] = Decision(event, value, at_ms, supporters)
        return outcome, decision

    def support(self, event: tuple, value: str) -> int:
        """Signed votes for `value` held right now."""
        return self._counts.get((event, value), 0)
