"""`x0ctl quorum simulate` as a function: the run (single, trials or sweep) and its verdicts.

The promise checked is the quorum rule's: with f <= tolerated_faults(n), no agreement violation
(two values validated for one event) and no validity violation (a value no honest owner proposed,
a failure no honest node observed). That alone decides `SimulationReport.failures` unless the
caller sets `Thresholds` for the other metric families (failure-detector accuracy, reputation,
totality), which are reported with their own limits, never folded into safety.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from x0ctl.errors import UsageError
from x0ctl.quorum.adversary import instantiate, load_adversary
from x0ctl.quorum.montecarlo import Task, public_result, run_sweep, run_task, run_trials
from x0ctl.quorum.rules import X0CTL_RULES
from x0ctl.quorum.scenario import Scenario, expand_strategies, load_scenario

SCHEMA = "x0ctl.quorum.simulate/v2"


@dataclass(frozen=True)
class Thresholds:
    """Optional limits for the metrics that are not safety (None: reported, not checked)."""

    max_false_suspicion_rate: float | None = None  # honest reports about live honest nodes / reports
    max_honest_quarantined: int | None = None  # honest nodes quarantined by some honest node (per run)
    min_totality: float | None = None  # share of honest nodes that decided the events decided anywhere

    def validate(self) -> Thresholds:
        for name in ("max_false_suspicion_rate", "min_totality"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise UsageError(f"--{name.replace('_', '-')}: must be in [0, 1], got {value}")
        if self.max_honest_quarantined is not None and self.max_honest_quarantined < 0:
            raise UsageError("--max-honest-quarantined: must not be negative")
        return self


def safety_failure(result: dict) -> str | None:
    """The verdict on one run: a violation within the bound, described; None otherwise."""
    if not result["within_bound"] or result["safety"]["ok"]:
        return None
    return (f"safety violated with f = {result['byzantine']} <= {result['tolerated_faults']} (seed {result['seed']}): "
            f"{result['agreement']['conflicting_decisions']} conflicting decision(s), "
            f"{result['validity']['violations']} validity violation(s)")


def threshold_failures(result: dict, limits: Thresholds) -> list[str]:
    """The non-safety limits one run breaks."""
    failures = []
    detector = result["failure_detector"]
    if limits.max_false_suspicion_rate is not None and detector["reports"]:
        rate = detector["false_suspicions"] / detector["reports"]
        if rate > limits.max_false_suspicion_rate:
            failures.append(f"seed {result['seed']}: false suspicion rate {rate:.3f} > "
                            f"{limits.max_false_suspicion_rate} ({detector['false_suspicions_by_cause']})")
    quarantined = result["reputation"]["honest_quarantined"]
    if limits.max_honest_quarantined is not None and quarantined > limits.max_honest_quarantined:
        failures.append(f"seed {result['seed']}: {quarantined} honest node(s) quarantined > "
                        f"{limits.max_honest_quarantined}")
    totality = result["agreement"]["totality"]
    if limits.min_totality is not None and totality is not None and totality < limits.min_totality:
        failures.append(f"seed {result['seed']}: totality {totality:.3f} < {limits.min_totality}")
    return failures


def sweep_failure(sweep: dict) -> str | None:
    unsafe = [point["byzantine"] for point in sweep["points"]
              if point["within_bound"] and point["safety_violation"]["count"]]
    if not unsafe:
        return None
    return (f"safety violated within the tolerated bound f <= {sweep['tolerated_faults']} at f = "
            f"{', '.join(map(str, unsafe))}")


@dataclass
class SimulationReport:
    """What `x0ctl quorum simulate` reports; `to_dict()` is its `-o json` document."""

    mode: str  # single | trials | sweep
    backend: str
    scenario: Scenario
    rules: str = X0CTL_RULES.name
    adversary: str | None = None
    result: dict | None = None
    aggregate: dict | None = None
    runs: list | None = None
    sweep: dict | None = None
    plot: str | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def failures(self) -> list[str]:
        """Why the command fails (exit 1): safety within the bound, then any threshold set."""
        if self.mode == "sweep":
            failure = sweep_failure(self.sweep)
            return [failure] if failure else []
        runs = [self.result] if self.mode == "single" else self.runs
        failures = [failure for failure in map(safety_failure, runs) if failure]
        for run in runs:
            failures.extend(threshold_failures(run, self.thresholds))
        return failures

    def to_dict(self) -> dict:
        document = {"schema": SCHEMA, "mode": self.mode, "backend": self.backend, "rules": self.rules,
                    "adversary": self.adversary, "scenario": self.scenario.to_dict()}
        if self.mode == "single":
            document["result"] = self.result
        elif self.mode == "trials":
            document.update(aggregate=self.aggregate, runs=self.runs)
        else:
            document.update(sweep=self.sweep, plot=self.plot)
        failures = self.failures
        document["verdict"] = {"ok": not failures, "failures": failures}
        return document


def build_scenario(scenario_file: str | Path | None = None, *, nodes: int | None = None,
                   byzantine: int | None = None, duration_s: float | None = None, seed: int | None = None,
                   strategies: list[str] | None = None, loss: float | None = None,
                   sweeping: bool = False) -> Scenario:
    """The scenario file (or the defaults) with the command line's overrides applied, validated."""
    scenario = load_scenario(scenario_file) if scenario_file is not None else Scenario()
    overrides: dict = {}
    if nodes is not None:
        overrides["nodes"] = nodes
    if byzantine is not None:
        overrides["byzantine"] = byzantine
    if duration_s is not None:
        overrides["duration_s"] = duration_s
    if seed is not None:
        overrides["seed"] = seed
    if strategies:
        names = [part for item in strategies for part in item.split(",") if part.strip()]
        overrides["strategies"] = tuple(expand_strategies(names))
    elif sweeping and scenario_file is None:
        overrides["strategies"] = tuple(expand_strategies(["collude"]))
    if loss is not None:
        overrides["network"] = dataclasses.replace(scenario.network, loss=loss)
    if sweeping and byzantine is None and scenario_file is None:
        overrides["byzantine"] = 0  # the sweep sets f itself; keep the default f from tripping f >= n
    scenario = dataclasses.replace(scenario, **overrides)
    return scenario.validate("command line" if scenario_file is None else str(scenario_file))


def run_simulation(scenario: Scenario, backend_name: str, *, trials: int = 1, jobs: int = 1,
                   sweep: list[int] | None = None, plot: str | Path | None = None, adversary: str | None = None,
                   rules: str = X0CTL_RULES.name, thresholds: Thresholds = Thresholds(),
                   progress=None) -> SimulationReport:
    """One run, `trials` runs (seeds seed..seed+trials-1) or a sweep over f. `progress(done, total)`
    is called as runs complete (a single run: simulated milliseconds). `adversary` is
    `FILE.py[:Class]` (its code runs in this process and in each worker, with the caller's
    privileges)."""
    if trials < 1:
        raise UsageError("--trials must be at least 1")
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    thresholds.validate()
    if adversary is not None:  # load once here: a bad file fails before any work
        adversary_class, label = load_adversary(adversary)
        instantiate(adversary_class, label)
    else:
        label = None
    report = SimulationReport("single", backend_name, scenario, rules, label, thresholds=thresholds)
    if sweep is not None:
        report.mode = "sweep"
        report.sweep = run_sweep(scenario, backend_name, sweep, trials=trials, jobs=jobs, progress=progress,
                                 rules=rules, adversary=adversary)
        if plot is not None:
            from x0ctl.quorum.plot import write_plot

            report.plot = str(write_plot(report.sweep, Path(plot)))
        return report
    if trials > 1:
        outcome = run_trials(scenario, backend_name, trials, jobs=jobs, progress=progress, rules=rules,
                             adversary=adversary)
        report.mode, report.aggregate, report.runs = "trials", outcome["aggregate"], outcome["runs"]
        return report
    report.result = public_result(run_task(Task(scenario, backend_name, rules, adversary), progress))
    return report
