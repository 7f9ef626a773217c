"""doctor reports the switches the mesh's code really reads, each as every reader parses it (x0ctl.mesh.switches)."""

from __future__ import annotations

import pytest

from x0ctl.mesh import assess_switches

from .conftest import assert_one_line_error


def finding(report, variable):
    [item] = [f for f in report.findings if f.variable == variable]
    return item


@pytest.mark.parametrize("value", ["1", "yes", "on", "ON", " true"])
def test_production_values_the_mesh_checks_read_as_off(value):
    report = assess_switches({"X0TTA6BL4_PRODUCTION": value})
    production = finding(report, "X0TTA6BL4_PRODUCTION")
    readings = {r.component: r.on for r in production.readings}
    assert readings["mesh production checks"] is False
    assert production.disagreement and production.status == "warn"
    assert "skips the production dependency checks" in production.detail
    assert report.production is True  # x0ctl and the lifespan read it as on: plan for the strictest reading


def test_production_true_is_read_alike_everywhere():
    production = finding(assess_switches({"X0TTA6BL4_PRODUCTION": "True"}), "X0TTA6BL4_PRODUCTION")
    assert not production.disagreement and production.status == "info"


@pytest.mark.parametrize(("variable", "value"), [
    ("X0TTA6BL4_ALLOW_SIMULATED_PQC", "yes"),
    ("X0TTA6BL4_ALLOW_INSECURE_PQC_VERIFY", "TRUE"),
    ("X0T_PQC_ENABLED", "False"),
    ("X0TTA6BL4_ALLOW_MOCK_PQC", "1"),
    ("X0TTA6BL4_DISABLE_PQC", "true"),
])
def test_an_insecure_switch_fails_only_in_production(variable, value):
    assert finding(assess_switches({variable: value}), variable).status == "warn"
    report = assess_switches({variable: value, "X0TTA6BL4_PRODUCTION": "1"})
    assert finding(report, variable).insecure and finding(report, variable).status == "fail"
    assert not report.ok


def test_values_a_reader_ignores_are_not_insecure_but_are_flagged():
    # The agent disables PQC only on "false"; "0" leaves it on, whatever the operator meant.
    agent = finding(assess_switches({"X0T_PQC_ENABLED": "0", "X0TTA6BL4_PRODUCTION": "true"}), "X0T_PQC_ENABLED")
    assert not agent.insecure and agent.disagreement and agent.status == "warn"
    assert "keeps PQC enabled" in agent.detail
    # app.py's verify override reads only "true"; the lifespan's check reads "1" as on.
    verify = finding(assess_switches({"X0TTA6BL4_ALLOW_INSECURE_PQC_VERIFY": "1"}), "X0TTA6BL4_ALLOW_INSECURE_PQC_VERIFY")
    assert not verify.insecure and verify.disagreement


def test_unset_switches_are_listed_but_not_findings():
    report = assess_switches({})
    assert report.ok and report.production is False
    assert {f.variable for f in report.findings} >= {"X0TTA6BL4_ALLOW_SIMULATED_PQC", "X0T_PQC_ENABLED",
                                                     "X0TTA6BL4_DISABLE_PQC"}
    assert all(not f.set and f.status == "ok" for f in report.findings)


def test_long_values_are_cut():
    item = finding(assess_switches({"X0T_PQC_ENABLED": "x" * 500}), "X0T_PQC_ENABLED")
    assert len(item.value) < 40


def test_doctor_renders_the_switches(cli):
    data = cli.json("doctor", "--no-measure", env={"X0T_PQC_ENABLED": "false"})
    assert data["mesh_switches"]["production"] is False
    [row] = [c for c in data["checks"] if c["name"] == "mesh switch X0T_PQC_ENABLED"]
    assert row["status"] == "warn" and "WITHOUT post-quantum" in row["detail"]
    table = cli("doctor", "--no-measure", env={"X0T_PQC_ENABLED": "false", "COLUMNS": "200"})
    assert table.exit_code == 0 and "X0T_PQC_ENABLED" in table.stdout


def test_doctor_exits_1_on_a_production_node_with_an_insecure_switch(cli):
    env = {"X0TTA6BL4_PRODUCTION": "yes", "X0TTA6BL4_ALLOW_SIMULATED_PQC": "1"}
    result = cli("doctor", "--no-measure", env=env)
    assert result.exit_code == 1
    assert_one_line_error(result.stderr, "mesh switch X0TTA6BL4_ALLOW_SIMULATED_PQC")
    data = cli.json("doctor", "--no-measure", env=env, expect=1)
    assert data["ok"] is False and data["mesh_switches"]["production"] is True
