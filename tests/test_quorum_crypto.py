"""Modelled crypto (`--crypto modelled`): signatures as (key id, digest) facts, decisions identical to
real ML-DSA-65 for the same seed, and the conformance re-runs that guard a modelled campaign."""

from __future__ import annotations

import pytest

from x0ctl.pqc import get_backend
from x0ctl.quorum.montecarlo import Task, decisions, run_task
from x0ctl.quorum.protocol import (
    MODELLED_CRYPTO,
    SIGNATURE_ALGORITHM,
    SIGNING_CONTEXT,
    SignatureFact,
    SignatureFacts,
    node_name,
    signature_from_text,
    signature_text,
    signatures_for,
)
from x0ctl.quorum.scenario import Scenario, expand_strategies, load_scenario
from x0ctl.quorum.simulator import Simulation

from .conftest import REPO, assert_one_line_error

EXAMPLES = REPO / "examples" / "quorum"
ADVERSARIES = EXAMPLES / "adversaries"
BACKEND = "openssl"

SCENARIOS = [pytest.param(load_scenario(path), None, id=path.stem) for path in sorted(EXAMPLES.glob("*.yaml"))] + [
    pytest.param(Scenario(nodes=10, byzantine=3, duration_s=20.0, seed=11,
                          strategies=tuple(expand_strategies(["mixed"]))), None, id="mixed"),
    pytest.param(Scenario(nodes=10, byzantine=4, duration_s=20.0, seed=2,
                          strategies=tuple(expand_strategies(["collude"]))), None, id="collude-beyond-bound"),
] + [pytest.param(Scenario(nodes=7, byzantine=2, duration_s=20.0, seed=4), str(path), id=path.stem)
     for path in sorted(ADVERSARIES.glob("*.py"))]


@pytest.mark.parametrize("rules", ["x0ctl", "mesh"])
@pytest.mark.parametrize(("scenario", "adversary"), SCENARIOS)
def test_modelled_crypto_decides_exactly_as_real_crypto(scenario, adversary, rules):
    real = run_task(Task(scenario, BACKEND, rules, adversary))
    modelled = run_task(Task(scenario, BACKEND, rules, adversary, crypto=MODELLED_CRYPTO))
    assert decisions(modelled) == decisions(real)
    assert real["messages"]["signed"] > 0 and real["messages"]["verified"] > 0


def test_modelled_crypto_runs_no_ml_dsa_signing_or_verification():
    simulation = Simulation(Scenario(nodes=7, byzantine=2, duration_s=10.0, seed=3,
                                     strategies=("forge", "key_substitution")),
                            get_backend(BACKEND), crypto=MODELLED_CRYPTO)
    simulation.run()
    checked = list(simulation.cache._verified)
    assert checked and all(isinstance(signature, SignatureFact) for _key, _body, signature, _context in checked)
    assert False in simulation.cache._verified.values()  # the forgeries were checked and refused


def test_a_fact_holds_only_for_the_signing_key_and_the_exact_bytes():
    scheme = get_backend(BACKEND).sig(SIGNATURE_ALGORITHM)
    facts = SignatureFacts(scheme)
    signer, other = scheme.from_seed(bytes(32)), scheme.from_seed(bytes([1]) * 32)
    signer_id = node_name(signer.public_key())
    fact = facts.sign(signer, signer_id, b"body", SIGNING_CONTEXT)
    assert facts.check(signer.public_key(), b"body", fact, SIGNING_CONTEXT)
    assert not facts.check(other.public_key(), b"body", fact, SIGNING_CONTEXT)  # another key
    assert not facts.check(signer.public_key(), b"bodY", fact, SIGNING_CONTEXT)  # other bytes
    assert not facts.check(signer.public_key(), b"body", fact, b"x0tta6bl4/control/rotate/v1")  # other context
    real_signature = signer.sign(b"body", SIGNING_CONTEXT)
    assert not facts.check(signer.public_key(), b"body", real_signature, SIGNING_CONTEXT)  # modes never mix
    assert not signatures_for("real", scheme).check(signer.public_key(), b"body", fact, SIGNING_CONTEXT)
    assert signature_from_text(signature_text(fact)) == fact
    assert signature_from_text(signature_text(real_signature)) == real_signature


def test_trials_default_to_modelled_crypto_with_real_conformance_reruns(cli):
    data = cli.json("quorum", "simulate", "-n", "7", "-f", "2", "--duration", "10s", "--trials", "3")
    crypto = data["crypto"]
    assert crypto["mode"] == "modelled" and crypto["conformance"]["identical"] is True
    assert len(crypto["conformance"]["rechecked"]) == 2
    assert {item["seed"] for item in crypto["conformance"]["rechecked"]} <= {7, 8, 9}
    single = cli.json("quorum", "simulate", "-n", "7", "-f", "2", "--duration", "5s")
    assert single["crypto"] == {"mode": "real", "conformance": None}
    sweep = cli.json("quorum", "simulate", "-n", "7", "--duration", "5s", "--sweep-byzantine", "1..2",
                     "--conformance-sample", "1")
    assert sweep["crypto"]["mode"] == "modelled" and len(sweep["crypto"]["conformance"]["rechecked"]) == 1
    modelled_single = cli.json("quorum", "simulate", "-n", "7", "-f", "2", "--duration", "5s", "--crypto", "modelled")
    assert decisions(modelled_single["result"]) == decisions(single["result"])


def test_a_modelled_campaign_that_diverges_from_real_crypto_fails(cli, monkeypatch):
    # A broken signing model that accepts every fact: forgeries pass in modelled mode only.
    monkeypatch.setattr(SignatureFacts, "check", lambda self, public_key, data, signature, context: True)
    data = cli.json("quorum", "simulate", "--scenario", str(EXAMPLES / "forged-signature.yaml"), "--trials", "2",
                    "--duration", "10s", expect=1)
    assert data["crypto"]["conformance"]["identical"] is False
    assert "modelled crypto decided differently" in data["verdict"]["failures"][0]


def test_unknown_crypto_mode_is_a_usage_error(cli):
    result = cli("quorum", "simulate", "-n", "7", "-f", "2", "--crypto", "fast")
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "--crypto")


def test_fuzz_runs_modelled_and_rechecks_with_real_crypto_and_replay_agrees(cli, tmp_path):
    path = tmp_path / "ce.json"
    data = cli.json("quorum", "fuzz", "--byzantine", "beyond", "--shrink-runs", "10", "--counterexample", str(path))
    assert data["crypto"]["mode"] == "modelled" and data["settings"]["crypto"] == "modelled"
    conformance = data["crypto"]["conformance"]
    assert conformance["identical"] is True and conformance["rechecked"]
    assert data["found"]
    assert data["counterexample_document"]["found"]["trial"] in {item["trial"] for item in conformance["rechecked"]}
    for mode in ("real", "modelled"):
        replayed = cli.json("quorum", "replay", str(path), "--crypto", mode)
        assert replayed["reproduced"] is True and replayed["crypto"] == mode
