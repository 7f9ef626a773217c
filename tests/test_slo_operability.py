"""SLO operability: per-SLO alert settings in `slo rules`, and an explicit "no events means ok"."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from x0ctl.slo import SpecError, generate_rules
from x0ctl.slo.spec import spec_from_documents

from .conftest import assert_one_line_error
from .promserver import MESH_END, mesh_history, prometheus_fixture, require_binaries

prometheus = prometheus_fixture(mesh_history, scope="module")

ROTATION = ("    ratio:\n      good: key_rotation_success_total\n      errors: key_rotation_failure_total\n")


def test_alerting_settings_reach_the_rules_and_pass_promtool(cli, tmp_path) -> None:
    spec = tmp_path / "slos.yaml"
    spec.write_text(
        "slos:\n"
        "  - name: handshakes\n    objective: 99\n"
        "    ratio: {good: pqc_handshake_success_total, errors: pqc_handshake_failure_total}\n"
        "    labels: {service: mesh}\n"
        "    alerting:\n"
        "      for: 5m\n"
        "      runbook_url: https://runbooks.example/x0/handshakes\n"
        "      labels: {team: mesh-oncall}\n"
        "      annotations: {dashboard: https://grafana.example/d/x0}\n"
        "      page: {for: 2m, labels: {route: pager}}\n"
        "  - name: rotations\n    objective: 100\n" + ROTATION +
        "    alerting: {page: {for: 1m, annotations: {summary: rotation failed}}}\n")
    rules = {g["name"]: g["rules"] for g in cli.json("slo", "rules", "--spec", str(spec))["groups"]}
    alerts = {r["labels"]["severity"]: r for r in rules["x0ctl-slo-handshakes"] if "alert" in r}
    page, ticket = alerts["page"], alerts["ticket"]
    assert page["for"] == "2m" and ticket["for"] == "5m"  # a severity's own for: wins over the shared one
    assert page["labels"] == {"service": "mesh", "team": "mesh-oncall", "route": "pager", "slo": "handshakes",
                              "severity": "page"}
    assert ticket["labels"]["team"] == "mesh-oncall" and "route" not in ticket["labels"]
    assert page["annotations"]["runbook_url"] == "https://runbooks.example/x0/handshakes"
    assert page["annotations"]["dashboard"] == "https://grafana.example/d/x0" and page["annotations"]["summary"]
    zero = next(r for r in rules["x0ctl-slo-rotations"] if "alert" in r)
    assert zero["for"] == "1m" and zero["annotations"]["summary"] == "rotation failed"
    # defaults: no for: (the short window already requires a current burn), no extra labels
    default = next(r for g in cli.json("slo", "rules")["groups"] for r in g["rules"] if "alert" in r)
    assert "for" not in default and set(default["labels"]) == {"slo", "severity"}
    _, promtool = require_binaries()
    out = tmp_path / "rules.yml"
    assert cli("slo", "rules", "--spec", str(spec), "--out", str(out)).exit_code == 0
    check = subprocess.run([promtool, "check", "rules", str(out)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize(("alerting", "field", "fragment"), [
    ({"for": "soon"}, "slos[0].alerting.for", "not a duration"),
    ({"runbook_url": "runbooks/x0"}, "slos[0].alerting.runbook_url", "http(s) URL"),
    ({"labels": {"severity": "low"}}, "slos[0].alerting.labels.severity", "set by x0ctl"),
    ({"page": {"for": "1m", "route": "x"}}, "slos[0].alerting.page.route", "unknown field"),
    ({"annotations": {"bad-name": "x"}}, "slos[0].alerting.annotations.bad-name", "not a valid annotation"),
    ({"pager": {}}, "slos[0].alerting.pager", "unknown field"),
])
def test_bad_alerting_settings_name_the_field(alerting, field, fragment) -> None:
    doc = {"slos": [{"name": "a", "objective": 99, "ratio": {"good": "g_total", "errors": "e_total"},
                     "alerting": alerting}]}
    with pytest.raises(SpecError) as caught:
        spec_from_documents([doc], "slos.yaml")
    assert any(where == field and fragment in message for where, message in caught.value.problems), \
        caught.value.problems


def test_no_events_is_ok_only_when_the_spec_says_so(cli, prometheus, tmp_path) -> None:
    quiet_hour = str(MESH_END - 3600)  # no key rotation in the hour before: no events at all
    strict, lenient = tmp_path / "strict.yaml", tmp_path / "lenient.yaml"
    strict.write_text("window: 1h\nslos:\n  - name: key-rotation\n    objective: 100\n" + ROTATION)
    lenient.write_text("window: 1h\nslos:\n  - name: key-rotation\n    objective: 100\n    no_events: ok\n" + ROTATION)
    judged = ["--prometheus", prometheus.url, "--at", quiet_hour]
    missing = cli("slo", "check", "--spec", str(strict), *judged)
    assert missing.exit_code == 5
    assert_one_line_error(missing.stderr, "no data for SLO key-rotation")
    assert cli("slo", "check", "--spec", str(lenient), *judged).exit_code == 0
    status = cli.json("slo", "status", "--spec", str(lenient), *judged)
    assert [s["verdict"] for s in status["slos"]] == ["no-events"]
    assert status["summary"] == {"ok": 0, "breach": 0, "no_data": 0, "no_events": 1}
    table = cli("slo", "status", "--spec", str(lenient), *judged)
    assert "no-events" in table.stdout
    assert cli.json("slo", "validate", str(lenient))["slos"][0]["no_events"] == "ok"
    bad = tmp_path / "bad.yaml"
    bad.write_text("slos:\n  - name: k\n    objective: 100\n    no_events: yes\n" + ROTATION)
    assert cli("slo", "validate", str(bad)).exit_code == 2


def test_rules_data_is_valid_yaml_for_a_spec_with_alerting() -> None:
    doc = yaml.safe_load("slos:\n  - name: a\n    objective: 99.9\n    ratio: {good: g_total, errors: e_total}\n"
                         "    alerting: {ticket: {for: 30m}}\n")
    groups = generate_rules(spec_from_documents([doc]))["groups"]
    ticket = next(r for r in groups[0]["rules"] if r.get("labels", {}).get("severity") == "ticket")
    assert ticket["for"] == "30m"
