"""SLO specs (x0ctl YAML, OpenSLO v1), PromQL generation, rules checked by promtool, client options."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import yaml

from .conftest import REPO, assert_one_line_error
from .promserver import require_binaries


def write(tmp_path, text: str, name: str = "slos.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_default_spec_has_the_mesh_targets():
    from x0ctl.slo import default_spec

    slos = {s.name: s for s in default_spec().slos}
    assert slos["handshake-success"].objective == 0.99 and slos["handshake-success"].window == 30 * 86400
    assert slos["handshake-success"].good.name == "pqc_handshake_success_total"
    assert slos["handshake-success"].errors.name == "pqc_handshake_failure_total"
    latency = slos["handshake-latency"]
    assert (latency.histogram.name, latency.threshold, latency.quantile, latency.objective) == \
        ("pqc_handshake_latency_seconds", 0.1, 0.95, 0.95)
    assert slos["pqc-fallback"].gauge.name == "pqc_fallback_enabled" and slos["pqc-fallback"].zero_tolerance
    assert slos["key-rotation"].errors.name == "key_rotation_failure_total" and slos["key-rotation"].zero_tolerance


def test_validate_accepts_every_kind(cli, tmp_path):
    path = write(tmp_path, """
        apiVersion: x0ctl/v1
        window: 28d
        selector: '{job="x0"}'
        slos:
          - name: success
            objective: 99.9
            labels: {team: mesh}
            ratio: {good: 'pqc_handshake_success_total{region=~"eu-.*"}', errors: pqc_handshake_failure_total}
          - name: latency
            objective: 95%
            window: 7d
            latency: {histogram: pqc_handshake_latency_seconds, threshold: 100ms}
          - name: fallback
            objective: 100
            gauge: {metric: pqc_fallback_enabled}
    """)
    data = cli.json("slo", "validate", str(path))
    assert data["valid"] is True and data["errors"] == []
    slos = {s["name"]: s for s in data["slos"]}
    assert slos["success"]["objective"] == 0.999 and slos["success"]["window"] == "28d"
    assert slos["success"]["selector"] == 'job="x0"' and slos["success"]["labels"] == {"team": "mesh"}
    assert slos["latency"]["latency"] == {"histogram": "pqc_handshake_latency_seconds", "threshold_seconds": 0.1,
                                          "quantile": 0.95}
    assert slos["latency"]["window"] == "7d"
    assert slos["fallback"]["gauge"]["bad_when"] == "> 0" and slos["fallback"]["error_budget"] == 0
    table = cli("slo", "validate", str(path))
    assert table.exit_code == 0 and "valid, 3 SLO(s): success, latency, fallback" in table.stdout


def test_validate_reports_every_problem_with_file_and_field(cli, tmp_path):
    path = write(tmp_path, """
        slos:
          - name: a
            objective: 120
            ratio: {good: 'sum(rate(x[5m]))', total: y}
          - name: a
            objective: 99
            latency: {histogram: h_bucket, threshold: fast}
          - objective: 99
            gauge: {metric: g, bad_when: "is on"}
            colour: blue
          - name: two-kinds
            objective: 99
            ratio: {good: x, total: y}
            gauge: {metric: g}
    """)
    data = cli.json("slo", "validate", str(path), expect=2)
    assert data["valid"] is False
    problems = {(p["field"], p["file"]) for p in data["errors"]}
    fields = {field for field, _ in problems}
    assert {file for _, file in problems} == {str(path)}
    assert {"slos[0].objective", "slos[0].ratio.good", "slos[1].latency.histogram", "slos[1].latency.threshold",
            "slos[2].name", "slos[2].gauge.bad_when", "slos[2].colour", "slos[3]"} <= fields
    result = cli("slo", "validate", str(path))
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, str(path), "problem(s)")
    assert f"{path}: slos[0].objective: 120 is out of range" in result.stdout


@pytest.mark.parametrize("text, fragment", [
    ("slos: [", "line"),
    ("- 1\n- 2\n", "slos"),
    ("slos:\n  - name: x\n    objective: 99\n    ratio: {good: 'x{a=b}', total: y}\n", "slos[0].ratio.good"),
    ("window: soon\nslos:\n  - name: x\n    objective: 99\n    ratio: {good: x, total: y}\n", "window"),
])
def test_bad_spec_is_a_usage_error_naming_the_field(cli, tmp_path, text, fragment):
    path = write(tmp_path, text)
    result = cli("slo", "rules", "--spec", str(path))
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, str(path), fragment)


def test_missing_spec_file_is_an_io_error(cli, tmp_path):
    result = cli("slo", "status", "--spec", str(tmp_path / "absent.yaml"))
    assert result.exit_code == 4
    assert_one_line_error(result.stderr, "cannot read SLO spec", "absent.yaml")


def test_openslo_objectives_and_queries():
    from x0ctl.slo.spec import spec_from_documents

    docs = list(yaml.safe_load_all(textwrap.dedent("""
        apiVersion: openslo/v1
        kind: SLO
        metadata: {name: api}
        spec:
          service: mesh
          indicator:
            metadata: {name: api-errors}
            spec:
              ratioMetric:
                counter: true
                bad: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(errors_total{code=~"5.."}[1m]))'}}}
                total: {metricSource: {type: Prometheus, spec: {query: requests_total}}}
          timeWindow: [{duration: 28d, isRolling: true}]
          objectives:
            - {displayName: strict, target: 0.999}
            - {displayName: loose, targetPercent: 99}
    """)))
    spec = spec_from_documents(docs, "openslo.yaml")
    assert [(s.name, s.objective, s.window) for s in spec.slos] == [
        ("api-strict", 0.999, 28 * 86400), ("api-loose", 0.99, 28 * 86400)]
    assert spec.slos[0].errors.expression == 'sum(rate(errors_total{code=~"5.."}[{{window}}]))'
    assert spec.slos[0].total.name == "requests_total" and spec.slos[0].labels == {"service": "mesh"}


def test_openslo_problems_name_the_document_and_field(cli, tmp_path):
    path = write(tmp_path, """
        apiVersion: openslo/v1
        kind: SLO
        metadata: {name: api}
        spec:
          indicatorRef: missing
          objectives: [{target: 0.99}]
        ---
        apiVersion: openslo/v1
        kind: SLO
        metadata: {name: other}
        spec:
          indicator:
            spec:
              thresholdMetric: {metricSource: {spec: {query: up}}}
          objectives: [{target: 99}]
    """)
    data = cli.json("slo", "validate", str(path), expect=2)
    fields = {p["field"] for p in data["errors"]}
    assert "documents[0].spec.indicatorRef" in fields
    assert "documents[1].spec.indicator.spec.ratioMetric" in fields


def test_promql_for_each_kind():
    from x0ctl.slo import default_spec
    from x0ctl.slo.promql import error_ratio, le_matcher, quantile

    slos = {s.name: s for s in default_spec().slos}
    success = error_ratio(slos["handshake-success"], 3600, 'job="x0"', ("instance",))
    assert 'sum by (instance) (rate(pqc_handshake_failure_total{job="x0"}[1h]))' in success
    assert " or 0 * " in success  # a counter without series yet counts as zero errors
    latency = error_ratio(slos["handshake-latency"], 300)
    assert 'pqc_handshake_latency_seconds_bucket{le=~"0\\\\.1"}' in latency
    assert "pqc_handshake_latency_seconds_count[5m]" in latency
    assert quantile(slos["handshake-latency"], 300, by=("instance",)) == (
        "histogram_quantile(0.95, sum by (le, instance) (rate(pqc_handshake_latency_seconds_bucket[5m])))")
    assert error_ratio(slos["pqc-fallback"], 86400) == (
        "avg (avg_over_time((pqc_fallback_enabled > bool 0)[1d:1m]))")
    assert le_matcher(1) == 'le=~"1|1\\\\.0"'


def test_selector_and_by_refuse_raw_promql_slos(tmp_path):
    from x0ctl.errors import UsageError
    from x0ctl.slo.promql import error_ratio
    from x0ctl.slo.spec import load_spec

    spec = load_spec(write(tmp_path, """
        slos:
          - name: raw
            objective: 99
            ratio: {errors: 'sum(rate(e[{{window}}]))', total: 'sum(rate(t[{{window}}]))'}
    """))
    assert error_ratio(spec.slos[0], 300) == "((sum(rate(e[5m]))) or 0 * (sum(rate(t[5m])))) / (sum(rate(t[5m])))"
    with pytest.raises(UsageError, match="--selector and --by"):
        error_ratio(spec.slos[0], 300, by=("instance",))


@pytest.mark.parametrize("bad", ["", "5 minutes", "-1", "0s", "500ms"])
def test_bad_windows_are_spec_problems(tmp_path, bad):
    from x0ctl.slo import SpecError, load_spec

    path = tmp_path / "slos.yaml"
    path.write_text(f"slos:\n  - name: s\n    objective: 99%\n    window: '{bad}'\n"
                    "    ratio: {good: a_total, errors: b_total}\n")
    with pytest.raises(SpecError, match=r"slos\[0\]\.window: "):
        load_spec(path)


def test_rules_pass_promtool_and_fire_as_designed(cli, tmp_path):
    _, promtool = require_binaries()
    rules = tmp_path / "rules.yml"
    result = cli("slo", "rules", "--out", str(rules))
    assert result.exit_code == 0 and result.stdout == ""
    assert "wrote 4 groups, 40 recording rules and 6 alerts" in result.stderr
    check = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    # promtool's unit tests evaluate the rules over synthetic series: 20% failures burn a 1% budget at
    # 20x (page and ticket); one failed rotation trips the zero-tolerance alert.
    success = "PQC handshakes that succeed (target >= 99%)"
    unit = tmp_path / "test.yml"
    unit.write_text(yaml.safe_dump({
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": 'pqc_handshake_success_total{instance="n"}', "values": "0+80x180"},
                {"series": 'pqc_handshake_failure_total{instance="n",reason="timeout"}', "values": "0+20x180"},
                {"series": 'key_rotation_success_total{instance="n"}', "values": "0+1x180"},
                {"series": 'key_rotation_failure_total{instance="n",reason="x"}', "values": "0x60 1+0x120"},
            ],
            "alert_rule_test": [
                {"eval_time": "90m", "alertname": "SLOErrorBudgetBurn", "exp_alerts": [
                    {"exp_labels": {"slo": "handshake-success", "severity": severity},
                     "exp_annotations": {
                         "summary": f"SLO handshake-success is burning its error budget ({severity})",
                         "description": f"{success}: error ratio 20% against a budget of 1.0000% over 30d."}}
                    for severity in ("page", "ticket")]},
                {"eval_time": "62m", "alertname": "SLOZeroToleranceViolation", "exp_alerts": [
                    {"exp_labels": {"slo": "key-rotation", "severity": "page"},
                     "exp_annotations": {
                         "summary": "SLO key-rotation: a bad event with a 100% objective",
                         "description": "Key rotations that fail (target 0): 16.67% bad over the last 5m; the "
                                        "objective over 30d is 100%."}}]},
                {"eval_time": "70m", "alertname": "SLOZeroToleranceViolation", "exp_alerts": []},
            ],
            "promql_expr_test": [
                {"expr": 'slo:sli_error:ratio_rate1h{slo="handshake-success"}', "eval_time": "90m",
                 "exp_samples": [{"labels": 'slo:sli_error:ratio_rate1h{slo="handshake-success"}', "value": 0.2}]},
            ],
        }],
    }))
    unit_run = subprocess.run([promtool, "test", "rules", str(unit)], capture_output=True, text=True, timeout=120)
    assert unit_run.returncode == 0, unit_run.stdout + unit_run.stderr


def test_rules_for_a_custom_spec_with_selector_pass_promtool(cli, tmp_path):
    _, promtool = require_binaries()
    spec = write(tmp_path, """
        window: 28d
        slos:
          - name: api
            objective: 99.5
            labels: {team: mesh}
            ratio: {errors: 'sum(rate(e_total[{{window}}]))', good: 'sum(rate(g_total[{{window}}]))'}
          - name: slow
            objective: 90
            latency: {histogram: 'h_seconds{route="/x"}', threshold: 1}
          - name: hot
            objective: 99.9
            gauge: {metric: temperature_celsius, bad_when: ">= 80"}
    """)
    data = cli.json("slo", "rules", "--spec", str(spec))
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(data))  # Prometheus reads JSON rule files too (JSON is YAML)
    check = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    api = data["groups"][0]["rules"]
    page = next(r for r in api if r.get("alert") == "SLOErrorBudgetBurn" and r["labels"]["severity"] == "page")
    assert page["labels"] == {"team": "mesh", "slo": "api", "severity": "page"}
    assert "> (13.44 * 0.005)" in page["expr"]  # 14.4x scaled to a 28-day window
    hot = {r.get("record"): r["expr"] for r in data["groups"][2]["rules"]}
    assert hot["slo:sli_error:ratio_rate5m"] == "avg (avg_over_time((temperature_celsius >= bool 80)[5m:1m]))"
    assert hot["slo:sli_error:ratio_rate28d"] == 'avg_over_time(slo:sli_error:ratio_rate5m{slo="hot"}[28d])'
    refused = cli("slo", "rules", "--spec", str(spec), "--selector", '{cluster="eu"}')
    assert refused.exit_code == 2  # the raw PromQL of "api" cannot take extra matchers
    assert_one_line_error(refused.stderr, "'api'", "--selector")
    narrowed = cli("slo", "rules", "--selector", '{cluster="eu"}')
    assert narrowed.exit_code == 0
    assert 'pqc_handshake_latency_seconds_count{cluster="eu"}' in narrowed.stdout
    assert 'pqc_handshake_latency_seconds_bucket{cluster="eu",le=~"0\\\\.1"}' in narrowed.stdout


def test_client_options(tmp_path):
    from x0ctl.errors import IOFailure, UsageError
    from x0ctl.slo import client_from_options

    token = tmp_path / "token"
    token.write_text("abc\n")
    client = client_from_options(None, token_file=token, environ={"X0CTL_PROMETHEUS_URL": "https://prom:9090/"})
    assert client.url == "https://prom:9090" and client.headers == {"Authorization": "Bearer abc"}
    assert "abc" not in repr(client)
    basic = client_from_options("http://p", environ={"MY_AUTH": "u:p:w"}, basic_auth_env="MY_AUTH")
    assert basic.basic_auth == ("u", "p:w")
    assert client_from_options(environ={}).url == "http://127.0.0.1:9090"
    for kwargs, error, message in [
        ({"url": "ftp://x"}, UsageError, "http"),
        ({"url": "http://x", "timeout": 0}, UsageError, "--timeout"),
        ({"url": "http://x", "token_file": tmp_path / "none"}, IOFailure, "cannot read token"),
        ({"url": "http://x", "ca_bundle": str(tmp_path / "none.pem")}, IOFailure, "CA bundle"),
        ({"url": "http://x", "ca_bundle": str(token)}, UsageError, "no PEM certificate"),
        ({"url": "http://x", "client_key": str(token)}, UsageError, "--client-cert"),
        ({"url": "http://x", "environ": {"X0CTL_PROMETHEUS_TOKEN": "t", "X0CTL_PROMETHEUS_BASIC_AUTH": "u:p"}},
         UsageError, "not both"),
    ]:
        with pytest.raises(error, match=message):
            client_from_options(**{"environ": {}, **kwargs})


@pytest.mark.parametrize("value", ["yesterday", "2025-06-05T00:00:00", "-5"])
def test_bad_at_is_a_usage_error(cli, value):
    result = cli("slo", "status", "--at", value, "-p", "http://127.0.0.1:1")
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "--at")


def test_bad_selector_and_by_are_usage_errors(cli):
    for argv, fragment in ([["--selector", "job=x0"], "--selector"], [["--by", "not a label"], "--by"]):
        result = cli("slo", "status", *argv, "-p", "http://127.0.0.1:1")
        assert result.exit_code == 2
        assert_one_line_error(result.stderr, fragment)


def test_slo_help_stays_light():
    code = ("import sys\nfrom x0ctl.cli.main import app\n"
            "try:\n    app(['slo', 'status', '--help'], prog_name='x0ctl')\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in {'requests', 'prometheus_api_client', 'urllib3'} "
            "or m.startswith('x0ctl.slo')), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.stderr.strip().endswith("[]"), done.stderr
    assert "Examples:" in done.stdout
