"""Reputation in [0, 1] per node, with a reason for every change, and automatic quarantine."""

from __future__ import annotations

from dataclasses import dataclass, field

# Penalty per rejected message, by reason. Authentication failures are blamed on the link neighbour
# that delivered the message, never on the sender it claims: otherwise forging would be a way to get
# honest nodes quarantined.
PENALTIES = {
    "malformed": 0.3,
    "forgery": 0.5,
    "key_substitution": 0.5,
    "replay": 0.2,
    "stale_epoch": 0.2,
    "future_epoch": 0.2,
    "rate_limited": 0.05,
    "equivocation": 1.0,
    "not_relayable": 0.2,
}
REWARD_PER_ACCEPTED_MESSAGE = 0.002
QUARANTINE_BELOW = 0.3


@dataclass(frozen=True, slots=True)
class ReputationChange:
    node: str
    delta: float
    value: float
    reason: str
    at_ms: int


@dataclass
class Reputation:
    """One observer's view of its peers. Quarantine is sticky until `release`."""

    threshold: float = QUARANTINE_BELOW
    keep_history: bool = True
    scores: dict[str, float] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)  # node -> time (ms) of quarantine
    history: list[ReputationChange] = field(default_factory=list)

    def score(self, node: str) -> float:
        return self.scores.get(node, 1.0)

    def penalise(self, node: str, reason: str, at_ms: int, amount: float | None = None) -> bool:
        """Lower `node`'s score; True when this change put the node in quarantine."""
        delta = -(PENALTIES[reason] if amount is None else amount)
        value = max(0.0, self.scores.get(node, 1.0) + delta)
        self.scores[node] = value
        if self.keep_history:
            self.history.append(ReputationChange(node, delta, value, reason, at_ms))
        if value < self.threshold and node not in self.quarantined:
            self.quarantined[node] = at_ms
            return True
        return False

    def reward(self, node: str) -> None:
        value = self.scores.get(node, 1.0)
        if value < 1.0:
            self.scores[node] = min(1.0, value + REWARD_PER_ACCEPTED_MESSAGE)

    def release(self, node: str, at_ms: int, reason: str = "operator release") -> None:
        """Lift a quarantine (an operator decision); the node restarts at the threshold."""
        if self.quarantined.pop(node, None) is not None:
            self.scores[node] = self.threshold
            if self.keep_history:
                self.history.append(ReputationChange(node, 0.0, self.threshold, reason, at_ms))

    def is_quarantined(self, node: str) -> bool:
        return node in self.quarantined
