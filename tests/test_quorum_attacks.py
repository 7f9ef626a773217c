"""Issue 13: an adversary that chooses. Each attack first, then the rule that defeats it.

Cases: 1 pre-empted proposal, 2 the honest proposer signing twice, 3 selective beaconing punishing
honest reporters, 4 liveness after a partition heals, 5 f = 0 with a minority partition; then the
shipped example adversaries, each with the outcome it states.
"""

from __future__ import annotations

import dataclasses

import pytest

from x0ctl.quorum.adversary import load_adversary
from x0ctl.quorum.events import GOVERNANCE_PROPOSAL
from x0ctl.quorum.rules import X0CTL_RULES, Rules
from x0ctl.quorum.scenario import Attack, Partition, Protocol, Scenario
from x0ctl.quorum.simulator import Simulation

from .conftest import REPO

ADVERSARIES = REPO / "examples" / "quorum" / "adversaries"


def adversary(name: str, class_name: str | None = None):
    spec = str(ADVERSARIES / name) + (f":{class_name}" if class_name else "")
    adversary_class, label = load_adversary(spec)
    return adversary_class(), label


def run(scenario: Scenario, backend, name: str | None = None, rules: Rules = X0CTL_RULES):
    chosen, label = adversary(name) if name else (None, None)
    simulation = Simulation(scenario, backend, rules=rules, adversary=chosen, adversary_label=label)
    return simulation, simulation.run()


@dataclasses.dataclass(frozen=True)
class FirstValueRules(Rules):
    """The rule before issue 13: endorse the first value any member signs for a proposal slot."""

    name: str = "first-value"

    def endorses(self, event: tuple, signer: str) -> bool:
        return event[0] == GOVERNANCE_PROPOSAL


def assert_safe(result: dict) -> None:
    assert result["agreement"]["conflicting_decisions"] == 0, result["agreement"]
    assert result["validity"]["violations"] == 0, result["validity"]
    assert result["safety"]["ok"]


PREEMPT = Scenario(name="preempt", nodes=16, byzantine=1, duration_s=20.0, seed=21,
                   protocol=Protocol(proposal_at_s=4.0, key_rotation_at_s=60.0))


def test_case1_a_preempted_proposal_is_not_endorsed(openssl_backend):
    _, result = run(PREEMPT, openssl_backend, "preempt.py")
    assert_safe(result)
    assert result["liveness"]["validated_rate"] == 1.0  # the owner's value, at every honest node


def test_case1_the_attack_is_real_without_proposer_authority(openssl_backend):
    """The same adversary against the old endorsement rule validates its value: the test above can fail."""
    _, result = run(PREEMPT, openssl_backend, "preempt.py", rules=FirstValueRules())
    assert result["validity"]["false_values"] == 1 and not result["safety"]["ok"]


@pytest.mark.parametrize("rules", [X0CTL_RULES, FirstValueRules()], ids=["x0ctl", "first-value"])
def test_case2_the_honest_proposer_signs_one_value_per_slot(openssl_backend, rules):
    """Even when a rule set lets it endorse a pre-empting value first, the owner's propose step
    checks its own vote: it never signs a second value and is never quarantined for equivocation."""
    simulation, result = run(PREEMPT, openssl_backend, "preempt.py", rules=rules)
    proposer = simulation.honest[0].index
    event = simulation.honest_proposal[0]
    signed = {value for signer, signed_event, value in simulation.statements
              if signer == proposer and signed_event == event}
    assert len(signed) == 1
    assert result["reputation"]["honest_quarantined"] == 0 and result["equivocations_detected"] == 0


@pytest.mark.parametrize("byzantine", [3, 5])
def test_case3_selective_beaconing_never_punishes_honest_reporters(openssl_backend, byzantine):
    scenario = Scenario(name="selective", nodes=16, byzantine=byzantine, duration_s=24.0, seed=5,
                        protocol=Protocol(proposal_at_s=3.0, key_rotation_at_s=60.0))
    _, result = run(scenario, openssl_backend, "selective_beacon.py")
    assert_safe(result)
    assert result["reputation"]["honest_quarantined"] == 0
    assert result["reputation"]["false_positive_pairs"] == 0
    assert result["failure_detector"]["reports"] > 0  # the unheard half did report the Byzantine members
    assert result["failure_detector"]["false_suspicions"] == 0


@pytest.mark.parametrize("proposal_at", [27.0, 29.0])
def test_case4_a_proposal_made_during_a_split_is_validated_everywhere_after_the_heal(openssl_backend,
                                                                                      proposal_at):
    """Every node also rotates its key at 30 s, the moment of the heal (the default: half the run)."""
    scenario = Scenario(name="heal", nodes=10, byzantine=0, duration_s=60.0, seed=0, strategies=("silent",),
                        protocol=Protocol(proposal_at_s=proposal_at),
                        partitions=(Partition(15.0, 30.0, 0.5),))
    _, result = run(scenario, openssl_backend)
    assert_safe(result)
    assert result["liveness"]["true_events"] == 1
    assert result["liveness"]["validated_rate"] == 1.0
    assert result["agreement"]["totality"] == 1.0


def test_case5_a_minority_partition_is_a_failure_detector_matter_not_a_safety_one(openssl_backend):
    """f = 0, 2 of 8 nodes cut off: the 6 others (the quorum) cannot tell that from two crashes and
    validate NODE_FAILURE for them: under the protocol's meaning (unreachable from a quorum) that is
    true, reported as false suspicions caused by the partition, never as a validity violation."""
    scenario = Scenario(name="minority", nodes=8, byzantine=0, duration_s=40.0, seed=3, strategies=("silent",),
                        protocol=Protocol(proposal_at_s=5.0, key_rotation_at_s=120.0),
                        partitions=(Partition(8.0, 30.0, 0.25),))
    _, result = run(scenario, openssl_backend)
    assert_safe(result)
    detector = result["failure_detector"]
    assert detector["false_suspicions_by_cause"]["partition"] > 0
    assert detector["false_suspicions_by_cause"]["loss"] == 0
    assert detector["false_failures_validated_by_cause"]["partition"] == 2
    assert detector["false_failures_validated_by_cause"]["adversary"] == 0
    assert result["reputation"]["honest_quarantined"] == 0
    (partition,) = result["partitions"]
    assert [side["can_reach_quorum"] for side in partition["sides"]] == [False, True]


SPLIT = Scenario(name="split-rotate", nodes=10, byzantine=3, duration_s=45.0, seed=9, strategies=("silent",),
                 protocol=Protocol(proposal_at_s=3.0, key_rotation_at_s=90.0),
                 attack=Attack(start_s=100.0), partitions=(Partition(10.0, 25.0, 0.5),))


def test_example_split_rotate_equivocate_is_caught_below_the_bound(openssl_backend):
    _, result = run(SPLIT, openssl_backend, "split_rotate_equivocate.py")
    assert_safe(result)
    assert result["equivocations_detected"] > 0
    assert result["reputation"]["honest_quarantined"] == 0
    assert result["reputation"]["recall"] > 0  # the equivocators are quarantined


def test_example_split_rotate_equivocate_breaks_agreement_at_the_bound(openssl_backend):
    scenario = dataclasses.replace(SPLIT, nodes=7, byzantine=3, partitions=(), duration_s=25.0)
    _, result = run(scenario, openssl_backend, "split_rotate_equivocate.py")
    assert not result["within_bound"]
    assert result["agreement"]["conflicting_decisions"] == 1


def test_adversary_cannot_sign_for_an_honest_node(openssl_backend, tmp_path):
    from x0ctl.quorum.adversary import AdversaryError

    path = tmp_path / "impostor.py"
    path.write_text("from x0ctl.quorum.adversary import Adversary\n"
                    "class Impostor(Adversary):\n"
                    "    def start(self, net):\n"
                    "        net.attest(net.honest[0], net.failure_event(net.honest[1]), 'down')\n")
    chosen, label = load_adversary(str(path))
    with pytest.raises(AdversaryError, match="holds no honest key"):
        Simulation(Scenario(nodes=4, byzantine=1, duration_s=2.0), openssl_backend, adversary=chosen(),
                   adversary_label=label).run()


def test_a_violation_within_the_bound_is_the_verdict_and_names_its_kind(openssl_backend):
    """What exit 1 is made of: the pre-empted value under the old rule, with f = 1 <= 5."""
    from x0ctl.quorum.verdict import SimulationReport

    _, result = run(PREEMPT, openssl_backend, "preempt.py", rules=FirstValueRules())
    report = SimulationReport("single", "openssl", PREEMPT, result=result)
    (failure,) = report.failures
    assert "f = 1 <= 5" in failure and "1 validity violation" in failure
    assert report.to_dict()["verdict"] == {"ok": False, "failures": [failure]}


def test_a_rushing_adversary_sees_the_proposal_on_the_wire_and_reads_honest_state(openssl_backend, tmp_path):
    """observe() sees the owner's proposal when it is sent, before any honest node receives it; the
    adversary answers at once with another value for the slot and later reads what honest nodes voted."""
    path = tmp_path / "rushing.py"
    path.write_text('''from x0ctl.quorum.adversary import Adversary


class Rushing(Adversary):
    seen = []
    views = []

    def observe(self, net, sent):
        if sent.event is not None and sent.event == net.honest_proposal[0] and not self.seen:
            self.seen.append((sent.at_ms, sent.value, len(sent.to)))
            for node in net.byzantine:
                net.attest(node, sent.event, "rushed")
            net.at(net.now_ms + 5000.0, lambda net: self.views.extend(net.view(h) for h in net.honest))
''')
    chosen, label = load_adversary(str(path))
    adversary = chosen()
    result = Simulation(PREEMPT, openssl_backend, adversary=adversary, adversary_label=label).run()
    assert_safe(result)
    assert result["liveness"]["validated_rate"] == 1.0
    ((at_ms, value, receivers),) = adversary.seen
    assert at_ms == 4000.0 and value == "proposal-0" and receivers == 15
    assert len(adversary.views) == 15
    assert all(set(view.voted.values()) == {"proposal-0"} and not view.quarantined for view in adversary.views)


def test_totality_an_equivocated_value_reaches_every_honest_node(openssl_backend):
    """f = 3 of 10 under `collude`: the value shown to the larger honest half reaches the quorum
    there first; the other half gets there when the Byzantine votes arrive relayed, although their
    signers are quarantined by then (every signed vote counts). Before that rule: totality 0.79."""
    from x0ctl.quorum.scenario import load_scenario

    result = Simulation(load_scenario(REPO / "examples" / "quorum" / "byzantine-quorum.yaml"), openssl_backend).run()
    assert_safe(result)
    assert result["equivocations_detected"] > 0 and result["agreement"]["settled_events"] == 2
    assert result["agreement"]["totality"] == 1.0 and result["agreement"]["incomplete_events"] == 0
