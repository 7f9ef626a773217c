"""`x0ctl slo lint` against a real Prometheus holding only what the mesh really exports (tests/mesh_history.py, job="mesh").

tests/slo_lint/ holds rule files and a dashboard written for these tests with the kinds of mistakes
mesh-interop.md finds in the mesh's own alerts and dashboards.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from x0ctl.schemas import load_schema
from x0ctl.slo.lint import expand_grafana, selectors

from .conftest import assert_one_line_error
from .mesh_history import END, history
from .promserver import closed_port, prometheus_fixture

jsonschema = pytest.importorskip("jsonschema", reason="the `test` extra provides jsonschema")
prometheus = prometheus_fixture(lambda: history(jobs=("mesh",)), scope="module")

FIXTURES = Path(__file__).parent / "slo_lint"
AT = str(END)


@pytest.fixture
def lint(cli, prometheus):
    def run(*files: str, expect: int = 1, extra: tuple[str, ...] = ()) -> dict:
        data = cli.json("slo", "lint", *[str(FIXTURES / f) for f in files], "-p", prometheus.url, "--at", AT, *extra,
                        expect=expect)
        assert not list(jsonschema.Draft202012Validator(load_schema("slo lint")).iter_errors(data))
        return data

    return run


def findings_by_name(data: dict) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for item in data["findings"]:
        found.setdefault(item["name"], []).append((item["code"], item["selector"]))
    return found


def detail(data: dict, name: str) -> str:
    return " | ".join(item["detail"] for item in data["findings"] if item["name"] == name)


def test_the_mesh_alert_mistakes_are_found(lint):
    data = lint("mesh-alerts.yaml")
    found = findings_by_name(data)
    assert found["PQCHandshakeFailuresPrefixed"] == [("dead_selector", "x0tta6bl4_pqc_handshake_failures_total")]
    assert found["PQCHandshakeFailureRatio"] == [("dead_selector", "pqc_handshake_failures_total"),
                                                 ("dead_selector", "pqc_handshake_total")]
    assert found["PQCHandshakeSlow"] == [("dead_selector", "pqc_handshake_duration_seconds_bucket")]
    assert found["KEMEncapsulationSlow"] == [("dead_selector", "pqc_kem_encapsulation_latency_ms")]
    assert found["KeyRotationOverdue"] == [("dead_selector", "pq_last_key_rotation_timestamp")]
    assert found["KeyRotationFailedDomainName"] == [("dead_selector", "key_rotation_failure_total")]
    assert "the mesh exports it as pqc_key_rotation_failure_total" in detail(data, "KeyRotationFailedDomainName")
    assert found["FallbackToggling"] == [("rate_over_gauge", "pqc_fallback_enabled")]
    assert found["SuccessesByReason"] == [("unknown_label", 'pqc_handshake_success_total{reason="timeout"}')]
    assert found["TLSHandshakeFailures"] == [("dead_selector", 'pqc_handshake_failure_total{reason="tls_error"}')]
    assert "reason is one of: timeout" in detail(data, "TLSHandshakeFailures")
    fine = {"job:pqc_handshake_success:rate5m", "HandshakeFailureRatio", "MeshKeyRotationFailed", "FallbackOn",
            "NodeSilent"}
    assert not fine & set(found)
    assert data["summary"]["by_code"] == {"dead_selector": 8, "rate_over_gauge": 1, "unknown_label": 1}
    assert data["summary"]["expressions"] == 14 and data["ok"] is False


def test_dashboard_panels_in_rows_and_with_variables(lint):
    data = lint("pqc-dashboard.json")
    found = findings_by_name(data)
    assert set(found) == {"Handshake p95 [A]", "Key rotations [A]"}
    assert found["Handshake p95 [A]"] == [("dead_selector", 'pqc_handshake_duration_seconds_bucket{job=~"$var"}')]
    assert "pqc_key_rotation_success_total" in detail(data, "Key rotations [A]")
    assert data["summary"]["expressions"] == 5


def test_a_clean_prometheusrule_passes(lint, cli, prometheus):
    data = lint("fine.yaml", expect=0)
    assert data["ok"] is True and data["findings"] == [] and data["summary"]["selectors"] == 2
    table = cli("slo", "lint", str(FIXTURES / "fine.yaml"), "-p", prometheus.url, "--at", AT)
    assert table.exit_code == 0 and "0 findings" in table.stdout


def test_the_exit_and_the_table(cli, prometheus):
    result = cli("slo", "lint", str(FIXTURES / "mesh-alerts.yaml"), "-p", prometheus.url, "--at", AT,
                 env={"COLUMNS": "220"})
    assert result.exit_code == 1
    assert_one_line_error(result.stderr, "10 findings", "dead_selector 8")
    assert "KeyRotationOverdue" in result.stdout and "rate_over_gauge" in result.stdout


def test_a_short_lookback_makes_old_series_dead(lint):
    # every series ends at END; evaluated a day later with a 1h lookback, nothing is there any more
    data = lint("fine.yaml", extra=("--at", str(END + 86400), "--lookback", "1h"))
    assert {f["code"] for f in data["findings"]} == {"dead_selector"}


@pytest.mark.parametrize(("text", "expected"), [
    ('sum by (job) (rate(a{x="1"}[5m])) / on (job) group_left (y) b', [("a", "rate"), ("b", None)]),
    ("sum(rate(a[5m])) by (le) > bool 0 unless ignoring (z) c offset 5m", [("a", "rate"), ("c", None)]),
    ('label_replace(up, "dst", "$1", "src", "(.*)") and topk(3, d)', [("up", "label_replace"), ("d", "topk")]),
    ('{__name__=~"pq_.*"} and absent(e)', [(None, None), ("e", "absent")]),
    ("rate(f[$__rate_interval]) * $factor", [("f", "rate")]),
])
def test_selectors_are_found_in_promql(text, expected):
    assert [(s.metric, s.function) for s in selectors(expand_grafana(text))] == expected


@pytest.mark.parametrize(("content", "code", "fragment"), [
    ("groups: [{name: g, rules: [{alert: A}]}]", 2, "no expr"),
    ("just: a mapping", 2, "not a Prometheus rule file"),
    ("{not json", 2, "neither JSON nor YAML"),
    (None, 4, "cannot read"),
])
def test_bad_files(cli, prometheus, tmp_path, content, code, fragment):
    path = tmp_path / "rules.yaml"
    if content is not None:
        path.write_text(content)
    result = cli("slo", "lint", str(path), "-p", prometheus.url, "--at", AT)
    assert result.exit_code == code
    assert_one_line_error(result.stderr, fragment)


def test_unreachable_prometheus_exits_4(cli):
    result = cli("slo", "lint", str(FIXTURES / "fine.yaml"), "-p", f"http://127.0.0.1:{closed_port()}")
    assert result.exit_code == 4
    assert_one_line_error(result.stderr, "cannot reach Prometheus")
