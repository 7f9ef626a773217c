"""The key-rotation SLO and every query read the mesh's real names, domain.md's, or both without double counting.

A real Prometheus (tests/promserver.py) holds tests/mesh_history.py: targets exporting only the
mesh's `pqc_key_rotation_*`, only domain.md's `key_rotation_*`, both, and a job mixing the two.
"""

from __future__ import annotations

import pytest

from x0ctl.mesh import equivalent_names
from x0ctl.slo.spec import Metric

from .conftest import assert_one_line_error
from .mesh_history import END, ROTATION_EVERY, STEP, STEPS, history
from .promserver import prometheus_fixture

prometheus = prometheus_fixture(history, scope="module")

AT = str(END)
ROTATIONS_PER_SECOND = (STEPS // ROTATION_EVERY) / (STEPS * STEP)  # one target over the whole history


def rotation_rate(prometheus, matchers: str) -> float:
    expression = Metric("key_rotation_success_total").over_window("rate", matchers, "6h")
    [sample] = prometheus.query(f"sum({expression})", END)
    return float(sample["value"][1])


def key_rotation(data: dict) -> dict:
    [slo] = [s for s in data["slos"] if s["name"] == "key-rotation"]
    return slo


def test_names_are_equivalent_both_ways():
    assert equivalent_names("key_rotation_success_total") == ("pqc_key_rotation_success_total",)
    assert equivalent_names("pqc_key_rotation_failure_total") == ("key_rotation_failure_total",)
    assert equivalent_names("pqc_handshake_success_total") == ()


@pytest.mark.parametrize("job", ["mesh", "domain", "both"])
def test_one_target_is_counted_once_whichever_names_it_exports(prometheus, job):
    assert rotation_rate(prometheus, f'job="{job}",instance="node-1"') == pytest.approx(ROTATIONS_PER_SECOND)


def test_targets_with_different_names_are_all_counted(prometheus):
    assert rotation_rate(prometheus, 'job="mixed"') == pytest.approx(2 * ROTATIONS_PER_SECOND)
    assert rotation_rate(prometheus, "") == pytest.approx(6 * ROTATIONS_PER_SECOND)


def test_summing_both_names_naively_would_count_twice(prometheus):
    """The shim case `or on (job, instance)` guards against: one target, two names, same rotations."""
    [doubled] = prometheus.query('sum(rate(key_rotation_success_total{job="both"}[6h])) '
                                 '+ sum(rate(pqc_key_rotation_success_total{job="both"}[6h]))', END)
    assert float(doubled["value"][1]) == pytest.approx(2 * ROTATIONS_PER_SECOND)


def test_check_gives_a_verdict_on_mesh_only_data(cli, prometheus):
    result = cli("slo", "check", "-p", prometheus.url, "--at", AT, "--selector", '{job="mesh",instance="node-1"}')
    assert result.exit_code == 0, result.stderr
    data = cli.json("slo", "check", "-p", prometheus.url, "--at", AT, "--selector", '{job="mesh",instance="node-1"}')
    assert key_rotation(data)["verdict"] == "ok"


def test_a_mesh_rotation_failure_is_a_breach(cli, prometheus):
    result = cli("slo", "check", "-p", prometheus.url, "--at", AT, "--selector", '{job="mesh"}')
    assert result.exit_code == 1
    assert_one_line_error(result.stderr, "SLO breach", "key-rotation")
    data = cli.json("slo", "status", "-p", prometheus.url, "--at", AT, "--selector", '{job="mesh"}', "--by", "instance")
    verdicts = {s["group"]["instance"]: s["verdict"] for s in data["slos"] if s["name"] == "key-rotation"}
    assert verdicts == {"node-1": "ok", "node-2": "breach"}


@pytest.mark.parametrize("job", ["domain", "both", "mixed"])
def test_domain_names_and_both_still_give_a_verdict(cli, prometheus, job):
    data = cli.json("slo", "check", "-p", prometheus.url, "--at", AT, "--selector", f'{{job="{job}"}}')
    assert key_rotation(data)["verdict"] == "ok"
    assert data["summary"] == {"ok": 4, "breach": 0, "no_data": 0, "no_events": 0}
