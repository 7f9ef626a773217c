"""Byzantine protection of the control plane, and a simulator that attacks it.

Library (no CLI dependencies):

    from x0ctl.pqc import get_backend
    from x0ctl.quorum import Identity, MessageCache, Verifier, QuorumTracker, quorum_threshold

    scheme = get_backend("auto").sig("ML-DSA-65")
    alice, bob = Identity(scheme), Identity(scheme)
    cache = MessageCache(scheme)
    inbox = Verifier(bob.node_id, {alice.node_id: alice.public_key, bob.node_id: bob.public_key}, cache)
    verdict = inbox.check(alice.sign("beacon", "n-1", 1000, {}), via=alice.node_id, now_ms=1000)

Simulation: `x0ctl.quorum.simulator.simulate(Scenario(...), backend)`, Monte Carlo and the
Byzantine sweep in `x0ctl.quorum.montecarlo`, scenario files in `x0ctl.quorum.scenario`.
"""

from __future__ import annotations

from x0ctl.quorum.consensus import (
    Decision,
    Equivocation,
    QuorumTracker,
    quorum_threshold,
    tolerated_faults,
)
from x0ctl.quorum.protocol import (
    ATTEST,
    BEACON,
    CRITICAL_EVENT_TYPES,
    SIGNATURE_ALGORITHM,
    SIGNING_CONTEXT,
    Identity,
    MessageCache,
    SignedMessage,
)
from x0ctl.quorum.reputation import PENALTIES, QUARANTINE_BELOW, Reputation
from x0ctl.quorum.scenario import STRATEGIES, Scenario, load_scenario
from x0ctl.quorum.verifier import (
    RATE_LIMIT_PER_SECOND,
    REJECTION_CAUSES,
    Verdict,
    Verifier,
)

__all__ = [
    "ATTEST", "BEACON", "CRITICAL_EVENT_TYPES", "PENALTIES", "QUARANTINE_BELOW", "RATE_LIMIT_PER_SECOND",
    "REJECTION_CAUSES", "SIGNATURE_ALGORITHM", "SIGNING_CONTEXT", "STRATEGIES", "Decision", "Equivocation",
    "Identity", "MessageCache", "QuorumTracker", "Reputation", "Scenario", "SignedMessage", "Verdict", "Verifier",
    "load_scenario", "quorum_threshold", "tolerated_faults",
]
