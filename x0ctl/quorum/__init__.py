"""Byzantine protection of the control plane, and a simulator that attacks it.

Library (no CLI dependencies):

    from x0ctl.pqc import get_backend
    from x0ctl.quorum import Identity, MessageCache, Verifier, QuorumTracker, quorum_threshold

    scheme = get_backend("auto").sig("ML-DSA-65")
    alice, bob = Identity(scheme), Identity(scheme)
    cache = MessageCache(scheme)
    inbox = Verifier(bob.node_id, {alice.node_id: alice.public_key, bob.node_id: bob.public_key}, cache)
    verdict = inbox.check(alice.sign("beacon", "n-1", 1000, {}), via=alice.node_id, now_ms=1000)

Simulation (what `x0ctl quorum simulate`, `fuzz` and `replay` run):

    from x0ctl.quorum import Scenario, run_simulation
    report = run_simulation(Scenario(nodes=7, byzantine=2, duration_s=10.0), "openssl")
    report.failures          # [] unless agreement or validity broke within the bound
    report.to_dict()         # the `-o json` document

The rules honest nodes follow are one object (`Rules`, `X0CTL_RULES`) the simulator takes;
operator-written adversaries subclass `Adversary` (see docs/quorum.md).
"""

from __future__ import annotations

from x0ctl.quorum.adversary import (
    Adversary,
    AdversaryControl,
    AdversaryError,
    HonestView,
    Observed,
    ScriptedAdversary,
    load_adversary,
)
from x0ctl.quorum.consensus import (
    Decision,
    Equivocation,
    QuorumTracker,
    quorum_threshold,
    tolerated_faults,
)
from x0ctl.quorum.events import (
    CRITICAL_EVENT_TYPES,
    DOWN,
    GOVERNANCE_PROPOSAL,
    NODE_FAILURE,
    failure_event,
    proposal_event,
)
from x0ctl.quorum.cluster import run_on_cluster
from x0ctl.quorum.fuzz import FuzzReport, FuzzSettings, ReplayReport, fuzz, replay
from x0ctl.quorum.protocol import (
    ATTEST,
    BEACON,
    CRYPTO_MODES,
    SIGNATURE_ALGORITHM,
    SIGNING_CONTEXT,
    Identity,
    MessageCache,
    RealSignatures,
    SignatureFact,
    SignatureFacts,
    SignedMessage,
    signatures_for,
)
from x0ctl.quorum.reputation import PENALTIES, QUARANTINE_BELOW, Reputation
from x0ctl.quorum.rules import MESH_RULES, RULES, X0CTL_RULES, MeshRules, Rules, rules_named
from x0ctl.quorum.scenario import STRATEGIES, Scenario, load_scenario
from x0ctl.quorum.verdict import SimulationReport, Thresholds, build_scenario, run_simulation
from x0ctl.quorum.verifier import (
    RATE_LIMIT_PER_SECOND,
    REJECTION_CAUSES,
    Verdict,
    Verifier,
)

__all__ = [
    "ATTEST", "BEACON", "CRITICAL_EVENT_TYPES", "CRYPTO_MODES", "DOWN", "GOVERNANCE_PROPOSAL", "NODE_FAILURE", "PENALTIES",
    "QUARANTINE_BELOW", "RATE_LIMIT_PER_SECOND", "REJECTION_CAUSES", "RULES", "SIGNATURE_ALGORITHM", "SIGNING_CONTEXT",
    "MESH_RULES", "STRATEGIES", "X0CTL_RULES", "Adversary", "AdversaryControl", "AdversaryError", "Decision", "Equivocation",
    "FuzzReport", "FuzzSettings", "HonestView", "Identity", "MessageCache", "Observed", "QuorumTracker", "ReplayReport",
    "MeshRules", "RealSignatures", "Reputation", "Rules", "Scenario", "ScriptedAdversary", "SignatureFact",
    "SignatureFacts", "SignedMessage", "SimulationReport", "Thresholds",
    "Verdict", "Verifier", "build_scenario", "failure_event", "fuzz", "load_adversary", "load_scenario", "proposal_event",
    "quorum_threshold", "replay", "rules_named", "run_on_cluster", "run_simulation", "signatures_for",
    "tolerated_faults",
]
