"""`x0ctl quorum fuzz` and `x0ctl quorum replay`: random scenarios against random adversary schedules.

A campaign draws, from its seed alone, one scenario (n, f, loss, a partition, proposal and key
rotation times, the run's seed) and one adversary schedule per trial: a list of steps for
`ScriptedAdversary` (equivocating proposals split over random honest groups, values pre-empting
the honest proposal, false failure reports, selective beaconing, key rotations). It stops at the
first run with an agreement or validity violation, shrinks it (fewer steps, fewer receivers, no
partition, no loss, a shorter run: each change kept only while the violation persists, like
delta debugging or Hypothesis' shrinking) and writes a counterexample file: scenario, rules,
schedule and the outcome's digest. `replay` runs that file again and checks it reproduces exactly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from x0ctl.errors import UsageError
from x0ctl.fsutil import atomic_write
from x0ctl.quorum.consensus import tolerated_faults
from x0ctl.quorum.events import (
    DOWN,
    GOVERNANCE_PROPOSAL,
    HONEST_PROPOSAL_SLOT,
    NODE_FAILURE,
)
from x0ctl.quorum.adversary import validate_actions
from x0ctl.quorum.montecarlo import CONFORMANCE_SAMPLE, Task, public_result, run_many, run_task
from x0ctl.quorum.protocol import CRYPTO_MODES, MODELLED_CRYPTO, REAL_CRYPTO
from x0ctl.quorum.rules import X0CTL_RULES, rules_named
from x0ctl.quorum.scenario import Partition, Protocol, Scenario
from x0ctl.quorum.simulator import byzantine_indices
from x0ctl.textfile import read_json

FUZZ_SCHEMA = "x0ctl.quorum.fuzz/v1"
COUNTEREXAMPLE_SCHEMA = "x0ctl.quorum.counterexample/v1"
REPLAY_SCHEMA = "x0ctl.quorum.replay/v1"
DEFAULT_TRIALS = 12
DEFAULT_SHRINK_RUNS = 120
CLUSTER_BATCH = 16  # fuzz trials sent to a Dask cluster at once


@dataclass(frozen=True)
class FuzzSettings:
    seed: int = 1
    trials: int = DEFAULT_TRIALS
    time_budget_s: float | None = None
    nodes: tuple[int, int] = (4, 10)
    byzantine: str = "max"  # "max": floor((n-1)/3), the most the rule tolerates; "beyond": one more; or a count
    duration_s: float = 20.0
    shrink_runs: int = DEFAULT_SHRINK_RUNS
    rules: str = X0CTL_RULES.name
    crypto: str = MODELLED_CRYPTO  # the trials and shrinking; a sample is re-run with real signatures
    conformance_sample: int = CONFORMANCE_SAMPLE

    def validate(self) -> FuzzSettings:
        if self.trials < 1:
            raise UsageError("--trials must be at least 1")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise UsageError("--time-budget must be positive")
        low, high = self.nodes
        if not 4 <= low <= high <= 64:
            raise UsageError(f"--nodes: expected LOW..HIGH with 4 <= LOW <= HIGH <= 64, got {low}..{high}")
        if self.byzantine not in ("max", "beyond") and not self.byzantine.isdigit():
            raise UsageError(f"--byzantine: expected max, beyond or a count, got {self.byzantine!r}")
        if self.byzantine.isdigit() and int(self.byzantine) >= low:
            raise UsageError(f"--byzantine: f = {self.byzantine} must be smaller than every n (from {low})")
        if not 5.0 <= self.duration_s <= 600.0:
            raise UsageError("--duration: must be between 5s and 10m for a fuzz trial")
        if self.shrink_runs < 0:
            raise UsageError("--shrink-runs must not be negative")
        if self.conformance_sample < 0:
            raise UsageError("--conformance-sample must not be negative")
        if self.crypto not in CRYPTO_MODES:
            raise UsageError(f"--crypto: expected one of {', '.join(CRYPTO_MODES)}, got {self.crypto!r}")
        rules_named(self.rules)
        return self

    def faults(self, n: int) -> int:
        if self.byzantine == "max":
            return tolerated_faults(n)
        if self.byzantine == "beyond":
            return tolerated_faults(n) + 1
        return int(self.byzantine)


@dataclass(frozen=True)
class Trial:
    scenario: Scenario
    script: tuple  # ScriptedAdversary steps


def parse_node_range(text: str) -> tuple[int, int]:
    """`4..10` or `7` -> (low, high)."""
    try:
        low, _, high = text.strip().partition("..")
        return (int(low), int(high or low))
    except ValueError:
        raise UsageError(f"--nodes: expected LOW..HIGH like 4..10, got {text!r}") from None


def draw_trial(campaign_seed: int, number: int, settings: FuzzSettings) -> Trial:
    """Trial `number` of the campaign: a function of (campaign seed, number, settings) only."""
    rng = random.Random(f"x0ctl-quorum-fuzz/{campaign_seed}/{number}")
    n = rng.randint(*settings.nodes)
    f = settings.faults(n)
    duration = settings.duration_s
    partitions = ()
    if rng.random() < 0.5:
        start = round(rng.uniform(1.0, duration / 2), 3)
        heal = round(min(duration, start + rng.uniform(2.0, duration / 2)), 3)
        partitions = (Partition(start, heal, rng.choice((0.25, 0.5, 0.75))),)
    proposal_at = round(rng.uniform(0.5, duration / 3), 3)
    rotation_at = round(rng.uniform(duration / 4, duration), 3)
    scenario = Scenario(name=f"fuzz-{campaign_seed}-{number}", nodes=n, byzantine=f, duration_s=duration,
                        seed=rng.getrandbits(32), strategies=("silent",),
                        network=dataclasses.replace(Scenario().network, loss=rng.choice((0.0, 0.01, 0.05))),
                        protocol=Protocol(proposal_at_s=proposal_at, key_rotation_at_s=rotation_at),
                        partitions=partitions).validate("fuzz")
    byzantine = byzantine_indices(scenario)
    honest = [index for index in range(n) if index not in byzantine]
    steps: list[dict] = []
    if byzantine:
        for _ in range(rng.randint(1, 4)):
            steps.extend(_draw_campaign(rng, byzantine, honest, duration * 1000.0, proposal_at * 1000.0))
    steps.sort(key=lambda step: step["at"])
    return Trial(scenario, tuple(steps))


def _draw_campaign(rng: random.Random, byzantine: list, honest: list, end_ms: float, proposal_ms: float) -> list:
    def group() -> list:
        return sorted(rng.sample(honest, rng.randint(0, len(honest))))

    at = round(rng.uniform(0.0, end_ms * 0.6), 3)
    kind = rng.choice(("equivocate", "equivocate", "preempt", "accuse", "selective", "rotate"))
    if kind == "equivocate":
        owner = rng.choice(byzantine)
        slot = rng.randint(1, 3)
        # Mostly halves (the split that can carry each value to the quorum), sometimes any size.
        size = rng.choice(((len(honest) + 1) // 2, len(honest) // 2, rng.randint(0, len(honest))))
        first = sorted(rng.sample(honest, size))
        second = sorted(set(honest) - set(first))
        backers = [owner] + [node for node in byzantine if node != owner and rng.random() < 0.9]
        steps = []
        for offset, node in enumerate(backers):
            for value, receivers in (("A", first), ("B", second)):
                steps.append({"at": round(at + offset * rng.uniform(0.0, 50.0), 3), "op": "attest", "node": node,
                              "type": GOVERNANCE_PROPOSAL, "subject": owner, "slot": slot, "value": value,
                              "to": receivers})
        return steps
    if kind == "preempt":
        owner = min(honest)  # the run's honest proposer
        lead = round(max(0.0, proposal_ms - rng.uniform(0.0, 300.0)), 3)
        return [{"at": lead, "op": "attest", "node": node, "type": GOVERNANCE_PROPOSAL, "subject": owner,
                 "slot": HONEST_PROPOSAL_SLOT, "value": "X", "to": None if rng.random() < 0.5 else group()}
                for node in byzantine]
    if kind == "accuse":
        victim = rng.choice(honest)
        return [{"at": at, "op": "attest", "node": node, "type": NODE_FAILURE, "subject": victim, "slot": None,
                 "value": DOWN, "to": None if rng.random() < 0.5 else group()} for node in byzantine]
    if kind == "selective":
        node = rng.choice(byzantine)
        return [{"at": at, "op": "beacons", "node": node, "to": group(),
                 "until": round(at + rng.uniform(1000.0, end_ms / 2), 3)}]
    return [{"at": at, "op": "rotate", "node": rng.choice(byzantine)}]


def run_trial(scenario: Scenario, script, backend_name: str, rules: str, crypto: str = REAL_CRYPTO) -> dict:
    return public_result(run_task(Task(scenario, backend_name, rules, None, tuple(script), crypto)))


def violated(result: dict) -> bool:
    return not result["safety"]["ok"]


def digest(result: dict) -> str:
    """The outcome's fingerprint: the whole result but its wall-clock timings."""
    stable = {key: value for key, value in result.items() if key != "timing"}
    return "sha256:" + hashlib.sha256(json.dumps(stable, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class Shrinker:
    """Greedy shrinking under a run budget: each candidate is kept only if it still violates."""

    backend: str
    rules: str
    budget: int
    crypto: str = REAL_CRYPTO
    runs: int = 0

    def still_fails(self, scenario: Scenario, script: list) -> bool:
        if self.runs >= self.budget:
            return False
        self.runs += 1
        return violated(run_trial(scenario, script, self.backend, self.rules, self.crypto))

    def shrink(self, scenario: Scenario, script: list) -> tuple[Scenario, list]:
        script = list(script)
        chunk = max(1, len(script) // 2)
        while chunk >= 1 and script:  # drop runs of steps, halving the run length (ddmin)
            start, removed = 0, False
            while start < len(script):
                candidate = script[:start] + script[start + chunk:]
                if self.still_fails(scenario, candidate):
                    script, removed = candidate, True
                else:
                    start += chunk
            if not removed:
                chunk //= 2
        for number, step in enumerate(script):  # fewer receivers per step
            receivers = step.get("to")
            if not receivers:
                continue
            for receiver in list(receivers):
                trimmed = [item for item in step["to"] if item != receiver]
                candidate = script[:number] + [{**step, "to": trimmed}] + script[number + 1:]
                if self.still_fails(scenario, candidate):
                    script = candidate
                    step = script[number]
        for simpler in self._simpler_scenarios(scenario, script):
            if self.still_fails(simpler, script):
                scenario = simpler
        return scenario, script

    @staticmethod
    def _simpler_scenarios(scenario: Scenario, script: list):
        if scenario.partitions:
            yield dataclasses.replace(scenario, partitions=())
        if scenario.network.loss:
            yield dataclasses.replace(scenario, network=dataclasses.replace(scenario.network, loss=0.0))
        last = max((step["at"] for step in script), default=0.0) / 1000.0
        shorter = max(5.0, round(last + 16.0, 3))
        if shorter < scenario.duration_s:
            yield dataclasses.replace(scenario, duration_s=shorter)


@dataclass
class FuzzReport:
    """`x0ctl quorum fuzz -o json`."""

    settings: FuzzSettings
    backend: str
    trials_run: int = 0
    elapsed_s: float = 0.0
    found: dict | None = None  # the counterexample document
    counterexample_path: str | None = None
    trials: list = field(default_factory=list)  # per trial: n, f, steps, violated
    crypto: dict = field(default_factory=lambda: {"mode": REAL_CRYPTO, "conformance": None})

    @property
    def within_bound(self) -> bool:
        return self.found is not None and self.found["expect"]["within_bound"]

    @property
    def failure(self) -> str | None:
        conformance = self.crypto["conformance"]
        if conformance is not None and not conformance["identical"]:
            differing = [str(item["trial"]) for item in conformance["rechecked"] if not item["identical"]]
            return (f"modelled crypto decided differently from real ML-DSA-65 signatures in trial(s) "
                    f"{', '.join(differing)}: a simulator defect, the campaign is not to be trusted")
        if self.found is not None and self.within_bound:
            scenario = self.found["scenario"]
            return (f"safety violated with f = {scenario['byzantine']} within the bound for n = {scenario['nodes']}: "
                    f"counterexample in {self.counterexample_path}")
        return None

    def to_dict(self) -> dict:
        settings = dataclasses.asdict(self.settings)
        settings["nodes"] = list(self.settings.nodes)
        return {"schema": FUZZ_SCHEMA, "backend": self.backend, "crypto": self.crypto, "settings": settings,
                "trials_run": self.trials_run,
                "elapsed_s": round(self.elapsed_s, 3), "trials": self.trials,
                "found": self.found is not None, "within_bound": self.within_bound,
                "counterexample": self.counterexample_path, "counterexample_document": self.found}


def fuzz(settings: FuzzSettings, backend_name: str, counterexample_path: str | Path, progress=None,
         cluster: str | None = None) -> FuzzReport:
    """Run the campaign; on a find, shrink it and write the counterexample file (atomically).
    With `cluster` (`dask://HOST:PORT`) trials run there, `CLUSTER_BATCH` at a time (the time
    budget is checked between batches); the outcome is the same as here: trials are judged in
    order and the campaign stops at the first violation. Shrinking runs here."""
    settings.validate()
    report = FuzzReport(settings, backend_name)
    started = time.monotonic()
    crypto = settings.crypto
    outcomes: dict[int, dict] = {}  # trial number -> result (for the conformance re-runs)
    batch = CLUSTER_BATCH if cluster is not None else 1
    number = 0
    while number < settings.trials and report.found is None:
        if settings.time_budget_s is not None and time.monotonic() - started >= settings.time_budget_s:
            break
        drawn = [draw_trial(settings.seed, item, settings) for item in range(number, min(number + batch, settings.trials))]
        tasks = [Task(trial.scenario, backend_name, settings.rules, None, tuple(trial.script), crypto) for trial in drawn]
        results = [public_result(result) for result in run_many(tasks, 1, cluster=cluster)]
        for trial, result in zip(drawn, results):
            outcomes[number] = result
            report.trials_run += 1
            report.trials.append({"trial": number, "nodes": trial.scenario.nodes,
                                  "byzantine": trial.scenario.byzantine, "steps": len(trial.script),
                                  "violated": violated(result)})
            if progress:
                progress(number + 1, settings.trials)
            if violated(result):
                record_find(report, settings, backend_name, number, trial, result, counterexample_path)
                break
            number += 1
    report.crypto = {"mode": crypto, "conformance": None}
    if crypto == MODELLED_CRYPTO and settings.conformance_sample > 0 and outcomes:
        report.crypto["conformance"] = recheck_with_real_crypto(settings, backend_name, outcomes)
    report.elapsed_s = time.monotonic() - started
    return report


def record_find(report: FuzzReport, settings: FuzzSettings, backend_name: str, number: int, trial: Trial,
                result: dict, counterexample_path: str | Path) -> None:
    """Shrink a violating trial and write the counterexample file (atomically)."""
    shrinker = Shrinker(backend_name, settings.rules, settings.shrink_runs, settings.crypto)
    scenario, script = shrinker.shrink(trial.scenario, list(trial.script))
    final = run_trial(scenario, script, backend_name, settings.rules, settings.crypto)
    if not violated(final):  # the budget ran out mid-way: keep the trial as drawn
        scenario, script, final = trial.scenario, list(trial.script), result
    report.found = counterexample(scenario, script, final, settings.rules, {
        "campaign_seed": settings.seed, "trial": number, "steps_before_shrink": len(trial.script),
        "shrink_runs": shrinker.runs})
    report.counterexample_path = str(counterexample_path)
    text = json.dumps(report.found, indent=2, sort_keys=True) + "\n"
    atomic_write(Path(counterexample_path), text.encode())


def recheck_with_real_crypto(settings: FuzzSettings, backend_name: str, outcomes: dict[int, dict]) -> dict:
    """Re-run a seeded sample of the campaign's trials (always the violating one, if any) with real
    ML-DSA-65 signatures and compare outcome digests (every decision and metric)."""
    violating = [number for number, result in outcomes.items() if violated(result)]
    others = [number for number in outcomes if number not in violating]
    rng = random.Random(f"x0ctl/quorum/fuzz-conformance/{settings.seed}")
    chosen = sorted(violating + rng.sample(others, min(max(settings.conformance_sample - len(violating), 0),
                                                       len(others))))
    rechecked = []
    for number in chosen:
        trial = draw_trial(settings.seed, number, settings)
        real = run_trial(trial.scenario, trial.script, backend_name, settings.rules, REAL_CRYPTO)
        rechecked.append({"trial": number, "seed": trial.scenario.seed, "byzantine": trial.scenario.byzantine,
                          "identical": digest(real) == digest(outcomes[number])})
    return {"rechecked": rechecked, "identical": all(item["identical"] for item in rechecked)}


def counterexample(scenario: Scenario, script: list, result: dict, rules: str, found: dict) -> dict:
    return {
        "schema": COUNTEREXAMPLE_SCHEMA,
        "rules": rules,
        "scenario": scenario.to_dict(),
        "actions": script,
        "expect": {"within_bound": result["within_bound"], "safety": result["safety"],
                   "agreement": result["agreement"], "validity": result["validity"], "digest": digest(result)},
        "found": found,
    }


@dataclass
class ReplayReport:
    """`x0ctl quorum replay -o json`."""

    path: str
    backend: str
    expected_digest: str
    result: dict
    crypto: str = REAL_CRYPTO

    @property
    def digest(self) -> str:
        return digest(self.result)

    @property
    def reproduced(self) -> bool:
        return self.digest == self.expected_digest

    @property
    def failure(self) -> str | None:
        if self.reproduced:
            return None
        return (f"{self.path}: the replay does not reproduce the recorded outcome "
                f"({self.digest} != {self.expected_digest})")

    def to_dict(self) -> dict:
        return {"schema": REPLAY_SCHEMA, "file": self.path, "backend": self.backend, "crypto": self.crypto,
                "reproduced": self.reproduced,
                "digest": self.digest, "expected_digest": self.expected_digest,
                "violated": violated(self.result), "result": self.result}


def replay(path: str | Path, backend_name: str, crypto: str = REAL_CRYPTO) -> ReplayReport:
    """Run a counterexample file again; `reproduced` says whether the outcome is identical (with
    either crypto mode: the recorded digest does not depend on it)."""
    if crypto not in CRYPTO_MODES:
        raise UsageError(f"--crypto: expected one of {', '.join(CRYPTO_MODES)}, got {crypto!r}")
    path = Path(path)
    document = read_json(path, "counterexample")
    if not isinstance(document, dict) or document.get("schema") != COUNTEREXAMPLE_SCHEMA:
        raise UsageError(f"{path}: not a counterexample file (schema {COUNTEREXAMPLE_SCHEMA})")
    try:
        rules = rules_named(document.get("rules"))
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from None
    scenario = Scenario.from_dict(document.get("scenario"), str(path))
    script = validate_actions(document.get("actions"), scenario.nodes, str(path))
    expect = document.get("expect")
    if not isinstance(expect, dict) or not isinstance(expect.get("digest"), str):
        raise UsageError(f"{path}: field 'expect.digest' missing")
    result = run_trial(scenario, script, backend_name, rules.name, crypto)
    return ReplayReport(str(path), backend_name, expect["digest"], result, crypto)
