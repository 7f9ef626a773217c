"""`x0ctl slo` against a real Prometheus holding a known history (tests/promserver.py).

History (5-minute samples, 4 days, ending at MESH_END): node-a healthy throughout and without any
failure series; node-b degraded over the last hour (40% handshake failures, 1/6 of handshakes over
100 ms) and in PQC fallback from END-30m to END-20m. Expected values below are worked out by hand
from those counts; rate() is exact because every window starts and ends on a sample.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from .conftest import assert_one_line_error
from .promserver import MESH_BASE, MESH_END, closed_port, mesh_history, prometheus_fixture

prometheus = prometheus_fixture(mesh_history, scope="module")

END = str(MESH_END)
HEALTHY = str(MESH_END - 2 * 3600)  # before node-b degraded
BEFORE_HISTORY = str(MESH_BASE - 86400)
STEPS = 1152  # 4 days of 5-minute steps
PER_STEP = 1200  # handshakes per step over both nodes
DEGRADED = 12  # steps


def approx(value):
    return pytest.approx(value, rel=1e-9, abs=1e-12)


@pytest.fixture
def status(cli, prometheus):
    def run(*args: str, expect: int = 0):
        return cli.json("slo", "status", "-p", prometheus.url, *args, expect=expect)

    return run


def by_name(data: dict) -> dict:
    return {(s["name"], tuple(sorted(s["group"].items()))): s for s in data["slos"]}


def windows(slo: dict) -> dict:
    return {w["window"]: w for w in slo["windows"]}


def test_history_holds_every_sample(prometheus):
    assert prometheus.samples == 21 * (STEPS + 1)


def test_status_in_the_degraded_period(status):
    data = status("--at", END)
    assert data["at"] == "2025-06-05T00:00:00Z" and data["at_unix"] == MESH_END
    assert data["summary"] == {"ok": 2, "breach": 2, "no_data": 0, "no_events": 0}
    slos = by_name(data)

    success = slos[("handshake-success", ())]
    w = windows(success)
    failures = 240 * DEGRADED
    expected = {"5m": 0.2, "30m": 0.2, "1h": 0.2, "2h": failures / (24 * PER_STEP), "6h": failures / (72 * PER_STEP),
                "1d": failures / (288 * PER_STEP), "3d": failures / (864 * PER_STEP),
                "30d": failures / (STEPS * PER_STEP)}
    for name, ratio in expected.items():
        assert w[name]["error_ratio"] == approx(ratio), name
        assert w[name]["sli"] == approx(1 - ratio), name
        assert w[name]["burn_rate"] == approx(ratio / 0.01), name
    assert success["verdict"] == "breach"
    assert success["error_budget"] == approx(0.01)
    assert success["budget_remaining"] == approx(1 - (1 / 480) / 0.01)  # 79.17% left
    alerts = {a["name"]: a["firing"] for a in success["alerts"]}
    assert alerts == {"page-1h-5m": True, "page-6h-30m": False, "ticket-1d-2h": False, "ticket-3d-6h": False}
    assert "20.0x over 1h" in success["reasons"][0]

    latency = slos[("handshake-latency", ())]
    w = windows(latency)
    assert w["1h"]["error_ratio"] == approx((3 + 100) / PER_STEP)
    assert w["30d"]["error_ratio"] == approx((STEPS * 3 * 2 - DEGRADED * 3 + DEGRADED * 100) / (STEPS * PER_STEP))
    assert latency["budget_remaining"] == approx(1 - w["30d"]["error_ratio"] / 0.05)
    assert w["1h"]["burn_rate"] == approx(103 / PER_STEP / 0.05)
    # histogram_quantile: rank 1140 of 1200 falls in (0.1, 0.25] holding buckets 1097 -> 1190
    assert w["1h"]["quantile_seconds"] == approx(0.1 + 0.15 * (1140 - 1097) / (1190 - 1097))
    assert latency["verdict"] == "ok" and not any(a["firing"] for a in latency["alerts"])

    fallback = slos[("pqc-fallback", ())]
    w = windows(fallback)
    # 1-minute subquery steps, both ends included: node-b bad for 15 of 31 steps in 30m, node-a never
    assert w["30m"]["error_ratio"] == approx(15 / 62)
    assert w["5m"]["error_ratio"] == 0 and w["5m"]["burn_rate"] == 0
    assert w["30m"]["burn_rate"] is None  # zero budget: any bad time is an infinite burn
    assert w["30d"]["error_ratio"] == approx(15 / (2 * (STEPS * 5 + 1)))
    assert fallback["verdict"] == "breach" and fallback["budget_remaining"] == 0
    assert fallback["alerts"] == []

    rotation = slos[("key-rotation", ())]
    assert rotation["verdict"] == "ok" and rotation["error_ratio"] == 0 and rotation["budget_remaining"] == 1


def test_status_in_the_healthy_period(status):
    data = status("--at", HEALTHY)
    assert data["summary"] == {"ok": 4, "breach": 0, "no_data": 0, "no_events": 0}
    slos = by_name(data)
    success = slos[("handshake-success", ())]
    assert all(w["error_ratio"] == 0 and w["burn_rate"] == 0 for w in success["windows"])
    assert success["budget_remaining"] == 1
    latency = slos[("handshake-latency", ())]
    assert all(w["error_ratio"] == approx(0.005) for w in latency["windows"])
    assert latency["budget_remaining"] == approx(0.9)
    assert windows(latency)["5m"]["quantile_seconds"] == approx(0.025 + 0.025 * (1140 - 600) / (1160 - 600))
    # rotations happen every 6 hours: short windows without one have no data, the SLO window does
    rotation = windows(slos[("key-rotation", ())])
    assert rotation["5m"]["error_ratio"] is None and rotation["5m"]["sli"] is None
    assert rotation["30d"]["error_ratio"] == 0


def test_by_instance_ranks_the_worst_offender_first(status):
    data = status("--at", END, "--by", "instance")
    assert data["by"] == ["instance"]
    success = [s for s in data["slos"] if s["name"] == "handshake-success"]
    assert [s["group"] for s in success] == [{"instance": "node-b"}, {"instance": "node-a"}]
    worst, best = success
    assert windows(worst)["1h"]["error_ratio"] == approx(240 / 600)
    assert worst["error_ratio"] == approx(240 * DEGRADED / (STEPS * 600))
    assert worst["verdict"] == "breach"
    # node-a has no failure series at all: a clean node, not a node without data
    assert best["verdict"] == "ok" and best["error_ratio"] == 0
    fallback = [s for s in data["slos"] if s["name"] == "pqc-fallback"]
    assert [(s["group"]["instance"], s["verdict"]) for s in fallback] == [("node-b", "breach"), ("node-a", "ok")]
    assert windows(fallback[0])["30m"]["error_ratio"] == approx(15 / 31)


def test_selector_narrows_every_series(status):
    data = status("--at", END, "--selector", '{instance="node-a",job="x0"}')
    assert data["summary"] == {"ok": 4, "breach": 0, "no_data": 0, "no_events": 0}
    none = status("--at", END, "--selector", '{job="elsewhere"}')
    assert none["summary"] == {"ok": 0, "breach": 0, "no_data": 4, "no_events": 0}
    assert all(s["verdict"] == "no-data" and s["budget_remaining"] is None for s in none["slos"])


def test_check_is_silent_when_healthy(cli, prometheus):
    result = cli("slo", "check", "-p", prometheus.url, "--at", HEALTHY)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""


def test_check_exits_1_on_breach(cli, prometheus):
    result = cli("slo", "check", "-p", prometheus.url, "--at", END)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert_one_line_error(result.stderr, "SLO breach", "handshake-success", "pqc-fallback")
    assert "handshake-latency" not in result.stderr


def test_check_exits_5_without_data(cli, prometheus):
    result = cli("slo", "check", "-p", prometheus.url, "--at", BEFORE_HISTORY)
    assert result.exit_code == 5
    assert_one_line_error(result.stderr, "no data", "handshake-success", "key-rotation")
    data = cli.json("slo", "check", "-p", prometheus.url, "--at", BEFORE_HISTORY, expect=5)
    assert data["summary"]["no_data"] == 4


def test_breach_wins_over_no_data(cli, prometheus, tmp_path):
    spec = tmp_path / "slos.yaml"
    spec.write_text(textwrap.dedent("""
        slos:
          - name: success
            objective: 99
            ratio: {good: pqc_handshake_success_total, errors: pqc_handshake_failure_total}
          - name: absent
            objective: 99
            ratio: {good: no_such_metric_total, errors: no_such_failure_total}
    """))
    assert cli("slo", "check", "-p", prometheus.url, "--spec", str(spec), "--at", END).exit_code == 1
    healthy = cli("slo", "check", "-p", prometheus.url, "--spec", str(spec), "--at", HEALTHY)
    assert healthy.exit_code == 5
    assert_one_line_error(healthy.stderr, "no data", "absent")
    assert "success," not in healthy.stderr


def test_spec_kinds_against_the_server(status, tmp_path):
    spec = tmp_path / "slos.yaml"
    spec.write_text(textwrap.dedent("""
        apiVersion: x0ctl/v1
        window: 3d
        selector: '{job="x0"}'
        slos:
          - name: errors-over-total
            objective: 99.5
            ratio: {errors: pqc_handshake_failure_total, total: pqc_handshake_latency_seconds_count}
          - name: good-over-total
            objective: "90%"
            ratio: {good: pqc_handshake_success_total, total: pqc_handshake_latency_seconds_count}
          - name: raw-promql
            objective: 99
            ratio:
              errors: 'sum(rate(pqc_handshake_failure_total{job="x0"}[{{window}}]))'
              good: 'sum(rate(pqc_handshake_success_total{job="x0"}[{{window}}]))'
          - name: slow
            objective: 80
            latency: {histogram: pqc_handshake_latency_seconds, threshold: 50ms, quantile: 0.5}
          - name: fallback-on
            objective: 99.9
            window: 1d
            gauge: {metric: 'pqc_fallback_enabled{instance="node-b"}', bad_when: "== 1"}
    """))
    slos = by_name(status("--spec", str(spec), "--at", END))
    for name in ("errors-over-total", "good-over-total", "raw-promql"):
        w = windows(slos[(name, ())])
        assert w["1h"]["error_ratio"] == approx(0.2), name
        assert w["3d"]["error_ratio"] == approx(240 * DEGRADED / (864 * PER_STEP)), name
        assert slos[(name, ())]["window"] == "3d"
    assert slos[("errors-over-total", ())]["budget_remaining"] == approx(1 - (1 / 360) / 0.005)
    # a 3-day window scales the page factor to 14.4 * 3/30 = 1.44x; 1h and 5m burn at 0.2/0.1 = 2x
    good_over_total = slos[("good-over-total", ())]
    assert good_over_total["verdict"] == "breach"
    assert {a["name"]: a["factor"] for a in good_over_total["alerts"]}["page-1h-5m"] == approx(1.44)
    slow = windows(slos[("slow", ())])
    assert slow["1h"]["error_ratio"] == approx((20 + 300) / PER_STEP)  # over 50 ms: 20 on node-a, 300 on node-b
    assert slow["1h"]["quantile_seconds"] is not None
    fallback = slos[("fallback-on", ())]
    assert windows(fallback)["1h"]["error_ratio"] == approx(15 / 61)
    assert fallback["verdict"] == "breach" and fallback["window"] == "1d"


def test_openslo_spec_matches_the_native_one(status, tmp_path):
    spec = tmp_path / "openslo.yaml"
    spec.write_text(textwrap.dedent("""
        apiVersion: openslo/v1
        kind: SLI
        metadata: {name: handshake-errors}
        spec:
          ratioMetric:
            counter: true
            bad:
              metricSource: {type: Prometheus, spec: {query: 'sum(rate(pqc_handshake_failure_total[5m]))'}}
            good:
              metricSource: {type: Prometheus, spec: {query: pqc_handshake_success_total}}
        ---
        apiVersion: openslo/v1
        kind: SLO
        metadata: {name: handshake-success, displayName: PQC handshake success}
        spec:
          service: mesh
          indicatorRef: handshake-errors
          timeWindow: [{duration: 30d, isRolling: true}]
          budgetingMethod: Occurrences
          objectives: [{displayName: ok, target: 0.99}]
    """))
    openslo = by_name(status("--spec", str(spec), "--at", END))[("handshake-success", ())]
    native = by_name(status("--at", END))[("handshake-success", ())]
    for key in ("verdict", "budget_remaining", "error_ratio", "objective"):
        assert openslo[key] == approx(native[key]) if isinstance(native[key], float) else openslo[key] == native[key]
    assert [w["error_ratio"] for w in openslo["windows"]] == [approx(w["error_ratio"]) for w in native["windows"]]


def test_query_renders_vectors(cli, prometheus):
    data = cli.json("slo", "query", "-p", prometheus.url, "--at", END,
                    "sum by (instance) (rate(pqc_handshake_failure_total[1h]))")
    assert data["result_type"] == "vector"
    assert data["series"] == [{"labels": {"instance": "node-b"}, "value": approx(240 * 12 / 3600), "raw": "0.8"}]
    nan = cli.json("slo", "query", "-p", prometheus.url, "--at", "2025-06-05T00:00:00Z", "0/0")
    assert nan["result_type"] == "scalar" and nan["series"][0]["value"] is None and nan["series"][0]["raw"] == "NaN"
    table = cli("slo", "query", "-p", prometheus.url, "--at", END, "pqc_fallback_enabled")
    assert table.exit_code == 0 and 'instance="node-b"' in table.stdout


@pytest.mark.parametrize("argv", [["query", "sum(rate(x[5m]"], ["status", "--spec", "BAD_SPEC"]])
def test_bad_promql_exits_2(cli, prometheus, tmp_path, argv):
    spec = tmp_path / "bad.yaml"
    spec.write_text("slos:\n  - name: bad\n    objective: 99\n    ratio:\n      errors: 'sum(rate(x[{{window}}]) +'\n"
                    "      total: up\n")
    argv = [str(spec) if a == "BAD_SPEC" else a for a in argv]
    result = cli("slo", *argv, "-p", prometheus.url, "--at", END)
    assert result.exit_code == 2, result.stderr
    assert_one_line_error(result.stderr, "Prometheus rejected the query", "parse error")


@pytest.mark.parametrize("command", [["status"], ["check"], ["query", "up"]])
def test_unreachable_server_exits_4_without_secrets(cli, command):
    port = closed_port()
    result = cli("slo", *command, "-p", f"http://admin:hunter2@127.0.0.1:{port}/")
    assert result.exit_code == 4
    assert_one_line_error(result.stderr, "cannot reach Prometheus", f"127.0.0.1:{port}", "connection refused")
    assert "hunter2" not in result.stderr + result.stdout
    # a token in the URL's query: refused (it belongs in --token-file or the environment), redacted
    query = cli("slo", *command, "-p", f"http://127.0.0.1:{port}/?token=s3cr3t-token")
    assert query.exit_code == 2
    assert_one_line_error(query.stderr, "--prometheus", "token=***", "--token-file")
    assert "s3cr3t" not in query.stderr + query.stdout
    # credentials in the URL and a token too: refused, like a token and basic auth together
    both = cli("slo", *command, "-p", f"http://admin:hunter2@127.0.0.1:{port}",
               env={"X0CTL_PROMETHEUS_TOKEN": "s3cr3t-token"})
    assert both.exit_code == 2
    assert "hunter2" not in both.stderr + both.stdout and "s3cr3t" not in both.stderr + both.stdout


@pytest.mark.parametrize("variable", ["X0CTL_PROMETHEUS_TOKEN", "X0CTL_PROMETHEUS_BASIC_AUTH"])
def test_credentials_with_a_line_break_from_the_environment_exit_2(cli, variable):
    result = cli("slo", "query", "up", "-p", f"http://127.0.0.1:{closed_port()}",
                 env={variable: "us:ENVSECRET\r\nX-Evil: 1"})
    assert result.exit_code == 2, result.stderr
    assert_one_line_error(result.stderr, f"${variable}", "line break")
    assert "ENVSECRET" not in result.stderr + result.stdout


def test_http_error_exits_4(cli, prometheus):
    result = cli("slo", "status", "-p", prometheus.url + "/not-the-api-root", "--at", END)
    assert result.exit_code == 4
    assert_one_line_error(result.stderr, "HTTP 404")


def test_one_query_per_slo_all_pinned_to_one_instant(prometheus):
    from x0ctl.slo import client_from_options, default_spec, evaluate

    client = client_from_options(prometheus.url, timeout=10, environ={"X0CTL_PROMETHEUS_TOKEN": "t0k"})
    assert client.headers == {"Authorization": "Bearer t0k"}  # Prometheus ignores it; it must not break
    results = evaluate(default_spec(), client, at=MESH_END)
    assert {r.at for r in results} == {float(MESH_END)}
    assert len(client.timings) == len(default_spec().slos)
    adapter = client._connect()._session.get_adapter(prometheus.url)
    assert adapter.max_retries.total == 0  # no silent multi-second retries
    # the SLO query, sent by hand, gives the same numbers x0ctl reports
    success = next(r for r in results if r.slo.name == "handshake-success")
    raw = prometheus.query(success.query, MESH_END)
    one_hour = [s for s in raw if s["metric"].get("x0ctl_window") == "1h"]
    assert float(one_hour[0]["value"][1]) == approx(success.window("1h").error_ratio)


def test_status_table_names_the_reasons(cli, prometheus):
    result = cli("slo", "status", "-p", prometheus.url, "--at", END)
    assert result.exit_code == 0
    assert "BREACH" in result.stdout and "burning the error budget at 20.0x over 1h" in result.stdout
    assert "p95 over 1h 169.4 ms" in result.stdout
    rendered = json.loads(cli("slo", "status", "-p", prometheus.url, "--at", END, "-o", "json").stdout)
    assert set(rendered) == {"prometheus", "spec", "at", "at_unix", "selector", "by", "slos", "summary", "queries"}
    assert sorted(q["slo"] for q in rendered["queries"]) == sorted(s["name"] for s in rendered["slos"])


def test_a_server_that_never_answers_times_out_with_exit_4(cli):
    import socket

    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        result = cli("slo", "query", "up", "-p", f"http://127.0.0.1:{port}", "--timeout", "0.3")
    assert result.exit_code == 4
    assert_one_line_error(result.stderr, "did not answer within 0.3 s")


def test_library_gate_for_rollouts(prometheus):
    from x0ctl.errors import CheckFailed, ExitCode
    from x0ctl.slo import NoData, client_from_options, default_spec, evaluate, overall_verdict, raise_for_verdicts

    client = client_from_options(prometheus.url)
    canary = '{instance="node-b"}'
    assert overall_verdict(evaluate(default_spec(), client, at=MESH_END - 2 * 3600, selector=canary)) == "ok"
    degraded = evaluate(default_spec(), client, at=MESH_END, selector=canary)
    assert overall_verdict(degraded) == "breach"
    with pytest.raises(CheckFailed, match="handshake-success"):
        raise_for_verdicts(degraded)
    absent = evaluate(default_spec(), client, at=MESH_END, selector='{instance="node-z"}')
    assert overall_verdict(absent) == "no-data"
    with pytest.raises(NoData) as raised:
        raise_for_verdicts(absent)
    assert raised.value.exit_code == ExitCode.NO_DATA == 5
