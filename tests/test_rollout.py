"""`x0ctl rollout` without Prometheus: plans and their validation, the journal, drivers, statistics."""

from __future__ import annotations

import json
import math
import random

import pytest

from x0ctl.rollout import (
    CommandDriver,
    DriverError,
    Journal,
    NodesDriver,
    PlanError,
    StateDir,
    build_plan,
    load_plan,
    mann_whitney,
    node_order,
    nodes_for,
    parse_steps,
    replay,
    step_every,
)
from x0ctl.rollout.drivers import Context
from x0ctl.rollout.plan import Driver

from .conftest import assert_one_line_error

DRIVER = {"set_weight": "true", "rollback": "true"}


def test_step_flag_ends_at_100_even_when_not_a_multiple() -> None:
    assert [s.weight for s in step_every(10, 60)] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert [s.weight for s in step_every(30, 60)] == [30, 60, 90, 100]
    assert step_every(30, 60)[-1].bake == 0 and step_every(30, 60)[0].bake == 60


def test_steps_with_bake_times_and_default_plan() -> None:
    steps = parse_steps("1:5m,10:10m,50:1h30m,100", 300)
    assert [(s.weight, s.bake) for s in steps] == [(1, 300), (10, 600), (50, 5400), (100, 0)]
    plan = build_plan({"driver": DRIVER})
    assert [s.weight for s in plan.steps] == [1, 10, 50, 100]  # the mesh's canary plan: 1% first
    assert plan.gates[0].kind == "slo" and plan.gates[0].on_inconclusive == "pause"
    assert plan.eta_seconds() == 900


@pytest.mark.parametrize(("data", "field", "fragment"), [
    ({"steps": "10,5,100"}, "--steps[1]", "must increase"),
    ({"steps": "10,150"}, "--steps[1]", "above 100"),
    ({"steps": "10,50"}, "--steps", "ends at 100"),
    ({"steps": "10:5x,100"}, "--steps[0] bake", "not a duration"),
    ({"steps": "10,,100"}, "--steps", "not a list"),
    ({"step": "0"}, "--step", "below 1"),
    ({"interval": "soon"}, "interval", "not a duration"),
    ({"driver": {"kind": "helm", **DRIVER}}, "driver.kind", "not a driver"),
    ({"driver": {"set_weight": "x {wieght}", "rollback": "true"}}, "driver.set_weight", "unknown placeholder"),
    ({"driver": {"rollback": "true"}}, "driver.set_weight", "needs a set-weight"),
    ({"gates": [{"kind": "promql", "query": "up", "pass_when": "about 1"}]}, "gates[0].pass_when", "condition"),
    ({"gates": [{"kind": "slo", "on_fail": "panic"}]}, "gates[0].on_fail", "not one of"),
    ({"gates": [{"kind": "baseline", "canary": "x"}]}, "gates[0].stable", "needs canary and stable"),
])
def test_bad_plans_name_the_field(data: dict, field: str, fragment: str) -> None:
    data = {"driver": DRIVER, **data}
    with pytest.raises(PlanError) as caught:
        build_plan(data)
    assert caught.value.field == field
    assert fragment in caught.value.message


def test_plan_file_errors_name_file_and_field(tmp_path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("target: app\nsteps:\n  - {weight: 10, bake: 1m}\n  - {weight: 5}\n  - 100\n"
                    "driver: {set_weight: 'true', rollback: 'true'}\n")
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert str(path) in caught.value.message and "steps[1]" in caught.value.message
    path.write_text("target: app\ndriver: {kind: ssh}\n")
    with pytest.raises(PlanError, match=r"plan.yaml: driver.kind: 'ssh' is not a driver"):
        load_plan(path)
    path.write_text("target: app\ndriver: {set_weight: 'true', rollback: 'true'}\nbogus: 1\n")
    with pytest.raises(PlanError, match="bogus: unknown field"):
        load_plan(path)


def test_plan_file_round_trips_through_the_journal(tmp_path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("target: app\nversion: v2\nsteps: 1:30s,10:1m,100\ninterval: 10s\ninitial_delay: 5s\n"
                    "driver: {set_weight: 'echo {weight}', rollback: 'echo 0', timeout: 20s, retries: 1}\n"
                    "gates:\n  - {name: slo, kind: slo, selector: '{version=\"v2\"}', min_requests: 100}\n"
                    "  - {name: errors, kind: promql, query: 'sum(rate(x[{{window}}]))', pass_when: '< 0.5',"
                    " consecutive: 2, on_inconclusive: warn}\n")
    plan = load_plan(path, {"steps": "5:1m,100"})  # a flag wins over the file
    assert [s.weight for s in plan.steps] == [5, 100]
    from x0ctl.rollout import Plan

    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan
    assert plan.worst_case_rollback_seconds() == 5 + 2 * 10 + 2 * 20 + 1


def test_cli_rejects_bad_plans_before_touching_anything(cli, tmp_path) -> None:
    state = tmp_path / "state"
    marker = tmp_path / "weight"
    common = ("--state-dir", str(state), "--set-weight-cmd", f"echo {{weight}} > {marker}", "--rollback-cmd", "true",
              "--prometheus", "http://127.0.0.1:1")
    for args, fragments in [
        (("--steps", "50,10,100"), ("--steps[1]", "must increase")),
        (("--steps", "10,101"), ("--steps[1]", "above 100")),
        (("--steps", "10:1q,100"), ("--steps[0] bake", "not a duration")),
        (("--step", "10", "--steps", "10,100"), ("--step or --steps",)),
        (("--gate-promql", "up is fine"), ("--gate-promql",)),
    ]:
        result = cli("rollout", "canary", *args, *common)
        assert result.exit_code == 2, result.stderr
        assert_one_line_error(result.stderr, *fragments)
    plan = tmp_path / "plan.yaml"
    plan.write_text("driver: {kind: puppet}\n")
    result = cli("rollout", "canary", "--plan", str(plan), "--state-dir", str(state))
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, str(plan), "driver.kind", "puppet")
    assert not state.exists() and not marker.exists()


def test_mann_whitney_against_exact_values() -> None:
    # scipy.stats.mannwhitneyu([5..9], [1..5], alternative="greater", method="asymptotic") -> U=24.5, p=0.00799
    u, p, delta = mann_whitney([5, 6, 7, 8, 9], [1, 2, 3, 4, 5])
    assert u == 24.5 and math.isclose(p, 0.0079853, rel_tol=1e-4) and delta == pytest.approx(0.96)
    u, p, delta = mann_whitney([3.0] * 12, [3.0] * 12)
    assert p == 1.0 and delta == 0.0
    rng = random.Random(7)
    same = [rng.gauss(0, 1) for _ in range(40)]
    other = [rng.gauss(0, 1) for _ in range(40)]
    assert mann_whitney(same, other)[1] > 0.05
    shifted = [v + 1.5 for v in other]
    assert mann_whitney(shifted, same)[1] < 0.001
    assert mann_whitney(same, shifted)[1] > 0.99  # one-sided: a better canary is not a failure


def test_nodes_are_chosen_stably_and_nested() -> None:
    nodes = [{"name": f"node-{i:02d}", "host": f"10.0.0.{i}"} for i in range(40)]
    order = node_order(nodes, "mesh")
    assert order == node_order(list(reversed(nodes)), "mesh")  # inventory order does not matter
    previous: set[str] = set()
    for weight in (1, 10, 25, 50, 100):
        chosen = {n["name"] for n in nodes_for(weight, order)}
        assert previous <= chosen
        assert len(chosen) == math.ceil(40 * weight / 100)
        previous = chosen
    assert nodes_for(0, order) == []
    assert node_order(nodes, "other") != order


def test_nodes_driver_runs_each_node_once_and_reports_failures(tmp_path) -> None:
    inventory = tmp_path / "nodes.yaml"
    inventory.write_text("nodes:\n" + "".join(f"  - {{name: n{i}, host: h{i}}}\n" for i in range(10)))
    log = tmp_path / "log"
    spec = Driver(kind="nodes", inventory=str(inventory), upgrade=f"echo up {{node}} {{host}} >> {log}",
                  downgrade=f"echo down {{node}} >> {log}", concurrency=3, retries=0)
    driver = NodesDriver(spec, Context("r1", "mesh", "v2"))
    first = driver.set_weight(10, 1, 0)
    assert first["canary_nodes"] == [n["name"] for n in driver.ordered[:1]]
    second = driver.set_weight(50, 2, 10)
    assert len(second["nodes"]) == 4 and second["ok"]
    lines = log.read_text().splitlines()
    assert len(lines) == 5 and len(set(lines)) == 5
    driver.rollback(2, 50)
    assert sum(line.startswith("down") for line in log.read_text().splitlines()) == 5
    broken = NodesDriver(Driver(kind="nodes", inventory=str(inventory), upgrade="exit 3", downgrade="true",
                                retries=0), Context("r1", "mesh", "v2"))
    with pytest.raises(DriverError, match="1 of 1 node"):
        broken.set_weight(10, 1, 0)


def test_command_driver_quotes_values_retries_and_times_out(tmp_path) -> None:
    out = tmp_path / "out"
    counter = tmp_path / "count"
    spec = Driver(set_weight=f"echo {{version}} {{weight}} > {out}; echo x >> {counter}; "
                  f"[ $(wc -l < {counter}) -ge 2 ]", rollback="true", retries=2, retry_delay=0.05)
    driver = CommandDriver(spec, Context("r1", "app", "v2; rm -rf /"))
    record = driver.set_weight(10, 1)
    assert out.read_text() == "v2; rm -rf / 10\n"  # the value is one shell word, never a command
    assert [a["exit_code"] for a in record["attempts"]] == [1, 0]
    slow = CommandDriver(Driver(set_weight="sleep 5", rollback="true", timeout=0.2, retries=0),
                         Context("r1", "app", ""))
    with pytest.raises(DriverError, match="timed out"):
        slow.set_weight(1, 1)


def test_journal_survives_a_torn_last_line(tmp_path) -> None:
    directory = StateDir(tmp_path)
    directory.ensure()
    journal = directory.journal("app-1")
    journal.append("created", plan={"target": "app", "steps": [{"weight": 10, "bake_seconds": 1}]})
    journal.append("step", step=1, weight=10, started=1.0, gates_after=1.0, bake_until=2.0)
    with open(journal.path, "ab") as handle:
        handle.write(b'{"ts": 3, "type": "ga')  # a crash in the middle of a write
    journal.append("paused", cause="operator", reason="lunch")
    events = Journal(journal.path).events()
    assert [e["type"] for e in events] == ["created", "step", "paused"]
    state = replay("app-1", events)
    assert (state.status, state.weight, state.bake_until, state.reason) == ("paused", 10, 2.0, "lunch")


def test_lock_excludes_a_second_holder(tmp_path) -> None:
    directory = StateDir(tmp_path)
    directory.ensure()
    first = directory.lock("app")
    first.acquire("rollout-1")
    try:
        assert first.held_elsewhere()  # flock conflicts across open files, even in one process
        from x0ctl.errors import IOFailure

        with pytest.raises(IOFailure, match="locked by another rollout"):
            directory.lock("app").acquire("rollout-2")
    finally:
        first.release()
    second = directory.lock("app")
    second.acquire("rollout-2")
    second.release()


def test_status_of_unknown_rollout_is_a_usage_error(cli, tmp_path) -> None:
    result = cli("rollout", "status", "nope", "--state-dir", str(tmp_path))
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "no rollout 'nope'")
    result = cli("rollout", "history", "../etc", "--state-dir", str(tmp_path))
    assert result.exit_code == 2
    data = cli.json("rollout", "list", "--state-dir", str(tmp_path))
    assert data["rollouts"] == []


def test_plan_dry_run_without_queries(cli) -> None:
    data = cli.json("rollout", "plan", "--steps", "1:5m,10:10m,50:15m,100", "--interval", "30s", "--no-query")
    assert [row["weight"] for row in data["schedule"]] == [1, 10, 50, 100]
    assert data["eta_seconds"] == 1800
    assert data["worst_case_rollback_seconds"] == 30 + 3 * 60 + 2
    assert data["gates"] == []


def test_examples_are_valid_plans(cli) -> None:
    from .conftest import REPO

    argo = load_plan(REPO / "examples/rollout/argo-rollouts.yaml")
    assert [s.weight for s in argo.steps] == [1, 10, 50, 100]
    assert [g.kind for g in argo.gates] == ["slo", "promql", "baseline"]
    nodes = load_plan(REPO / "examples/rollout/nodes.yaml")  # its inventory is found next to it
    assert nodes.driver.kind == "nodes" and nodes.driver.inventory.endswith("examples/rollout/inventory.yaml")
    data = cli.json("rollout", "plan", "-f", str(REPO / "examples/rollout/argo-rollouts.yaml"), "--no-query")
    assert data["eta_seconds"] == 4 * 120 + 600 + 900 + 1800
