"""`quorum simulate --rules mesh`: the mesh's published rules beside x0ctl's (issue 19, item 5)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest

from x0ctl.quorum import Scenario, run_simulation
from x0ctl.quorum.consensus import quorum_threshold
from x0ctl.quorum.mesh_rules import MESH_QUARANTINE_MS, MeshReputation, mesh_threshold, mesh_tolerated_faults
from x0ctl.quorum.rules import MESH_RULES, X0CTL_RULES, rules_named
from x0ctl.quorum.scenario import load_scenario
from x0ctl.quorum.simulator import simulate

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "quorum"
SCHEMA = json.loads((REPO / "x0ctl" / "schemas" / "quorum-simulate.json").read_text())


def test_the_mesh_threshold_is_int_067n_plus_1_and_differs_from_two_thirds_when_3_divides_n():
    assert [mesh_threshold(n) for n in range(1, 13)] == [int(0.67 * n) + 1 for n in range(1, 13)]
    assert mesh_threshold(3) == 3 and quorum_threshold(3) == 2
    differs = [n for n in range(1, 31) if mesh_threshold(n) != quorum_threshold(n)]
    assert differs == list(range(3, 31, 3))
    # n = 3 with a threshold of 3 is live only with no fault at all.
    assert mesh_tolerated_faults(3) == 0 and mesh_tolerated_faults(10) == 3
    assert rules_named("mesh") is MESH_RULES and rules_named("x0ctl") is X0CTL_RULES
    with pytest.raises(ValueError, match="unknown rules"):
        rules_named("raft")


def test_mesh_reputation_is_multiplicative_and_its_quarantine_expires_after_300_s():
    reputation = MeshReputation()
    for violation in range(11):
        assert not reputation.penalise("n1", "forgery", 1_000)
    assert reputation.score("n1") == pytest.approx(0.9 ** 11)  # 0.31: still in
    assert reputation.penalise("n1", "forgery", 2_000)  # 0.9 ** 12 = 0.28 < 0.3
    assert reputation.still_quarantined("n1", 2_000 + MESH_QUARANTINE_MS - 1)
    assert not reputation.still_quarantined("n1", 2_000 + MESH_QUARANTINE_MS)
    assert reputation.expired == 1 and not reputation.is_quarantined("n1")
    reputation.reward("n1")
    assert reputation.score("n1") == pytest.approx(0.9 ** 12 * 1.05)
    assert reputation.penalise("n1", "replay", 400_000)  # still below 0.3: straight back in
    for _ in range(40):
        reputation.reward("n1")
    assert reputation.score("n1") == 1.0


def _run(rules: str, scenario: Scenario | None = None, adversary: Path | None = None) -> dict:
    return run_simulation(scenario, "openssl", rules=rules,
                          adversary=None if adversary is None else str(adversary)).result


def test_forged_key_votes_declare_an_honest_node_failed_under_mesh_rules_only(openssl_backend):
    """The unbound-sender attack: votes in honest members' names, signed with the attacker's key
    that the message names. One Byzantine member out of seven."""
    scenario = Scenario(name="forged-key", nodes=7, byzantine=1, duration_s=15.0, seed=7)
    adversary = EXAMPLES / "adversaries" / "forged_key_votes.py"
    ours = _run("x0ctl", scenario, adversary)
    assert ours["validity"]["false_failures"] == 0 and ours["safety"]["ok"]
    assert ours["rejections"]["by_reason"]["key_substitution"] > 0
    assert ours["reputation"]["byzantine_quarantined_pairs"] == ours["honest"]
    mesh = _run("mesh", scenario, adversary)
    assert mesh["validity"]["false_failures"] == 1 and not mesh["safety"]["ok"]
    assert "key_substitution" not in mesh["rejections"]["by_reason"]
    assert mesh["within_bound"]  # f = 1 <= 1: the mesh's own bound does not excuse it


def test_n3_needs_all_three_under_mesh_rules_so_one_silent_node_stops_every_decision(openssl_backend):
    scenario = Scenario(name="n3", nodes=3, byzantine=1, duration_s=20.0, seed=3, strategies=("silent",))
    ours, mesh = _run("x0ctl", scenario), _run("mesh", scenario)
    assert (ours["quorum_threshold"], mesh["quorum_threshold"]) == (2, 3)
    assert ours["liveness"]["true_events"] == mesh["liveness"]["true_events"] > 0
    assert ours["liveness"]["validated_rate"] == 1.0
    assert mesh["liveness"]["validated_rate"] == 0.0


def test_quarantine_expiry_lets_the_flooder_back_in_after_300_s_under_mesh_rules(openssl_backend):
    scenario = load_scenario(EXAMPLES / "quarantine-expiry.yaml")
    ours, mesh = _run("x0ctl", scenario), _run("mesh", scenario)
    for result in (ours, mesh):  # both quarantined it for flooding
        assert result["rejections"]["by_reason"]["rate_limited"] > 0
        assert result["rejections"]["by_reason"]["quarantined"] > 0
    assert ours["reputation"]["quarantines_expired"] == 0
    assert ours["reputation"]["byzantine_quarantined_pairs"] == ours["honest"]  # sticky to the end
    assert mesh["reputation"]["quarantines_expired"] == mesh["honest"]
    assert mesh["reputation"]["byzantine_quarantined_pairs"] == 0  # every honest node took it back
    shorter = _run("mesh", dataclasses.replace(scenario, duration_s=300.0))  # expiry due at about 305 s
    assert shorter["reputation"]["quarantines_expired"] == 0
    assert shorter["reputation"]["byzantine_quarantined_pairs"] == shorter["honest"]


def test_forging_in_an_honest_name_quarantines_the_victim_under_mesh_rules(openssl_backend):
    """The mesh blames the claimed sender for a bad signature: forging gets honest nodes isolated."""
    scenario = load_scenario(EXAMPLES / "forged-signature.yaml")
    scenario = dataclasses.replace(scenario, nodes=4, attack=dataclasses.replace(scenario.attack, period_s=0.1))
    ours, mesh = _run("x0ctl", scenario), _run("mesh", scenario)
    assert ours["reputation"]["honest_quarantined"] == 0
    assert mesh["reputation"]["honest_quarantined"] > 0
    assert mesh["reputation"]["byzantine_quarantined_pairs"] == 0


def test_mesh_rules_are_deterministic(openssl_backend):
    scenario = Scenario(name="det", nodes=7, byzantine=2, duration_s=10.0, seed=5, strategies=("replay", "forge"))
    first, second = (simulate(scenario, openssl_backend, rules=MESH_RULES) for _ in range(2))
    first.pop("timing"), second.pop("timing")
    assert first == second


def test_cli_rules_mesh_reports_which_rules_ran(cli):
    data = cli.json("quorum", "simulate", "-n", "6", "-f", "1", "--duration", "5s", "--strategy", "silent",
                    "--rules", "mesh")
    jsonschema.validate(data, SCHEMA)
    assert data["rules"] == "mesh" and data["result"]["quorum_threshold"] == 5
    assert cli.json("quorum", "simulate", "-n", "6", "-f", "1", "--duration", "5s", "--strategy", "silent")["rules"] == "x0ctl"
    bad = cli("quorum", "simulate", "--rules", "raft")
    assert bad.exit_code == 2 and "x0ctl: error: --rules: unknown rules 'raft'" in bad.stderr
