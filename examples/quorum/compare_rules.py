"""Side by side: every shipped attack under x0ctl's rules and under the mesh's (`--rules mesh`).

Run from the repository root:  .venv/bin/python examples/quorum/compare_rules.py [--backend NAME]

Prints the Markdown table kept in docs/mesh.md and docs/quorum.md: the scenarios of
examples/quorum/*.yaml, the adversaries of examples/quorum/adversaries/ (with the parameters their
docstrings give) and a few scripted strategies, each run over TRIALS seeds (the scenario's seed and
the next ones) per rule set. An attack "succeeds" in a run when the run violates agreement or
validity, quarantines an honest node, leaves a due true event unvalidated by some honest node, or
lets a quarantined node back in by itself; a cell gives in how many runs, and what.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter
from pathlib import Path

from x0ctl.pqc import resolve_backend_names
from x0ctl.quorum import build_scenario, run_simulation

HERE = Path(__file__).resolve().parent
ADVERSARIES = HERE / "adversaries"
TRIALS = 5

# (label, scenario file or None, overrides for build_scenario, adversary file or None)
CASES = [(path.stem, path, {}, None) for path in sorted(HERE.glob("*.yaml"))] + [
    ("adversary preempt", None, {"nodes": 16, "byzantine": 1, "duration_s": 20}, ADVERSARIES / "preempt.py"),
    ("adversary selective_beacon", None, {"nodes": 16, "byzantine": 5, "duration_s": 30},
     ADVERSARIES / "selective_beacon.py"),
    ("adversary split_rotate_equivocate", HERE / "split-brain.yaml", {"byzantine": 2},
     ADVERSARIES / "split_rotate_equivocate.py"),
    ("adversary forged_key_votes", None, {"nodes": 7, "byzantine": 1, "duration_s": 20},
     ADVERSARIES / "forged_key_votes.py"),
    ("strategy equivocate", None, {"nodes": 10, "byzantine": 3, "duration_s": 30, "strategies": ["equivocate"]}, None),
    ("strategy forge at 10 per second", HERE / "forged-signature.yaml", {"nodes": 4, "attack": {"period_s": 0.1}},
     None),
    ("n = 3, one node silent", None, {"nodes": 3, "byzantine": 1, "duration_s": 30, "strategies": ["silent"]}, None),
]


def harm(result: dict) -> list[str]:
    """What the attack achieved in one run (empty: nothing)."""
    found = []
    if result["agreement"]["conflicting_decisions"]:
        found.append("conflicting decisions")
    if result["validity"]["false_failures"]:
        found.append("false failure validated")
    if result["validity"]["false_values"]:
        found.append("false value validated")
    if result["reputation"]["honest_quarantined"]:
        found.append("honest nodes quarantined")
    rate = result["liveness"]["validated_rate"]
    if rate is not None and rate < 1.0:
        found.append("true events not validated by all")
    if result["reputation"]["quarantines_expired"]:
        found.append("quarantine expired")
    return found


def scenario_for(scenario_file, overrides: dict):
    overrides = dict(overrides)
    attack = overrides.pop("attack", None)
    scenario = build_scenario(scenario_file, **overrides)
    if attack:
        scenario = dataclasses.replace(scenario, attack=dataclasses.replace(scenario.attack, **attack)).validate()
    return scenario


def compare(backend: str, trials: int = TRIALS) -> list[dict]:
    rows = []
    for label, scenario_file, overrides, adversary in CASES:
        scenario = scenario_for(scenario_file, overrides)
        row = {"attack": label, "nodes": scenario.nodes, "byzantine": scenario.byzantine, "trials": trials}
        for rules in ("x0ctl", "mesh"):
            report = run_simulation(scenario, backend, rules=rules, trials=trials,
                                    adversary=None if adversary is None else str(adversary))
            runs = report.runs if trials > 1 else [report.result]
            harms = [harm(result) for result in runs]
            row[rules] = {"quorum": runs[0]["quorum_threshold"], "succeeded": sum(1 for found in harms if found),
                          "what": Counter(kind for found in harms for kind in found)}
        rows.append(row)
    return rows


def cell(outcome: dict, trials: int) -> str:
    if not outcome["succeeded"]:
        return f"fails (0/{trials})"
    what = ", ".join(f"{kind} ({count})" for kind, count in sorted(outcome["what"].items()))
    return f"{outcome['succeeded']}/{trials}: {what}"


def markdown(rows: list[dict]) -> str:
    lines = ["| attack | n, f | quorum x0ctl / mesh | under x0ctl's rules | under the mesh's rules | succeeds only under the mesh's |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        ours, mesh, trials = row["x0ctl"], row["mesh"], row["trials"]
        only_mesh = mesh["succeeded"] > ours["succeeded"]
        lines.append(f"| {row['attack']} | {row['nodes']}, {row['byzantine']} | {ours['quorum']} / {mesh['quorum']} | "
                     f"{cell(ours, trials)} | {cell(mesh, trials)} | {'**yes**' if only_mesh else 'no'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="auto", help="x0ctl PQC backend (default: auto)")
    parser.add_argument("--trials", type=int, default=TRIALS, help=f"seeds per attack and rule set (default {TRIALS})")
    arguments = parser.parse_args()
    print(markdown(compare(resolve_backend_names(arguments.backend)[0], arguments.trials)))


if __name__ == "__main__":
    main()
