"""The argo rollout driver against a stand-in kubectl (tests/argo_kubectl.py): no Kubernetes API
server can run here, so the stand-in implements exactly the subcommands and JSON fields the driver
uses, as the plugin and the Rollout CRD document them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from x0ctl.errors import UsageError
from x0ctl.rollout.drivers import ArgoDriver, Context, DriverError, make_driver
from x0ctl.rollout.plan import PlanError, build_driver, load_plan

REPO = Path(__file__).resolve().parent.parent
STANDIN = REPO / "tests" / "argo_kubectl.py"


def rollout_object(weights=(1, 10, 50), *, at_pause: int | None = 0) -> dict:
    steps = []
    for weight in weights:
        steps += [{"setWeight": weight}, {"pause": {}}]
    index = 1 if at_pause is not None else 0
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "x0-node", "namespace": "mesh"},
            "spec": {"strategy": {"canary": {"steps": steps}}},
            "status": {"phase": "Paused" if at_pause is not None else "Progressing", "currentStepIndex": index,
                       "canary": {"weights": {"canary": {"weight": weights[0]}, "stable": {"weight": 100 - weights[0]}}}}}


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    state, log = tmp_path / "cluster.json", tmp_path / "kubectl.log"
    monkeypatch.setenv("ARGO_STANDIN_STATE", str(state))
    monkeypatch.setenv("ARGO_STANDIN_LOG", str(log))
    log.write_text("")

    class Cluster:
        def put(self, rollout: dict, **extra) -> None:
            state.write_text(json.dumps({"rollout": rollout, "pending": None, **extra}))

        def read(self) -> dict:
            return json.loads(state.read_text())

        def calls(self) -> list[list[str]]:
            return [json.loads(line) for line in log.read_text().splitlines()]

        def edit(self, **changes) -> None:
            data = self.read()
            data.update(changes)
            state.write_text(json.dumps(data))

    result = Cluster()
    result.put(rollout_object())
    return result


def driver(timeout: float = 5.0, **fields) -> ArgoDriver:
    spec = build_driver({"kind": "argo", "rollout": "x0-node", "namespace": "mesh", "kubectl": str(STANDIN),
                         "timeout": f"{timeout}s", "retries": 0, **fields})
    return make_driver(spec, Context("r1", "x0-node", "v2"))


def test_steps_are_entered_with_promote_and_checked_with_get(cluster):
    argo = driver()
    assert argo.set_weight(1, 1, 0)["promotions"] == 0  # Argo paused after setWeight 1 by itself
    assert argo.set_weight(10, 2, 1)["promotions"] == 1
    assert argo.set_weight(10, 2, None)["promotions"] == 0  # re-applied after a crash: nothing to do
    assert argo.set_weight(50, 3, 10)["promotions"] == 1
    status = cluster.read()["rollout"]["status"]
    assert (status["currentStepIndex"], status["phase"], status["canary"]["weights"]["canary"]["weight"]) == (5, "Paused", 50)
    assert argo.promote(4)["phase"] == "Healthy"
    calls = cluster.calls()
    assert {tuple(call) for call in calls if call[0] == "get"} == {("get", "rollout", "x0-node", "-n", "mesh", "-o", "json")}
    assert [call for call in calls if call[0] == "argo"] == [
        ["argo", "rollouts", "promote", "x0-node", "-n", "mesh"],
        ["argo", "rollouts", "promote", "x0-node", "-n", "mesh"],
        ["argo", "rollouts", "promote", "x0-node", "--full", "-n", "mesh"],
    ]


def test_a_step_skipped_by_the_plan_is_promoted_through(cluster):
    assert driver().set_weight(50, 2, 1)["promotions"] == 2


def test_rollback_is_abort_and_waits_for_it(cluster):
    argo = driver()
    argo.set_weight(10, 2, 1)
    record = argo.rollback(2, 10)
    assert record == {"rollout": "x0-node", "aborted": True, "phase": "Degraded"}
    assert ["argo", "rollouts", "abort", "x0-node", "-n", "mesh"] in cluster.calls()
    argo.rollback(2, 10)  # idempotent: already aborted, no second abort
    assert sum(1 for call in cluster.calls() if call[2:3] == ["abort"]) == 1
    with pytest.raises(DriverError, match="aborted or degraded"):
        argo.set_weight(50, 3, 10)


def test_a_rollout_that_never_reaches_the_step_times_out_clearly(cluster):
    cluster.edit(frozen=True)
    with pytest.raises(DriverError, match=r"timed out after 0.3 s waiting for rollout x0-node to move past step 1 "
                                          r"\(phase Paused, currentStepIndex 1"):
        driver(timeout=0.3).set_weight(10, 2, 1)


def test_weights_the_rollout_does_not_pause_at_are_refused(cluster):
    with pytest.raises(DriverError, match=r"no `setWeight: 25` step followed by an indefinite `pause: \{\}` "
                                          r"\(its pause steps: \[1, 10, 50\]\)"):
        driver().set_weight(25, 2, 1)
    rollout = rollout_object()
    rollout["spec"]["strategy"]["canary"]["steps"][3] = {"pause": {"duration": "5m"}}  # Argo would move on alone
    cluster.put(rollout)
    with pytest.raises(DriverError, match="no `setWeight: 10`"):
        driver().set_weight(10, 2, 1)


def test_a_rollout_already_past_the_weight_is_an_error(cluster):
    argo = driver()
    argo.set_weight(50, 3, 1)
    with pytest.raises(DriverError, match="already past `setWeight: 10`"):
        argo.set_weight(10, 2, 50)


def test_kubectl_failures_are_driver_errors(cluster):
    with pytest.raises(DriverError, match="not found"):
        make_driver(build_driver({"kind": "argo", "rollout": "other", "kubectl": str(STANDIN), "retries": 0}),
                    Context("r1", "x", "v")).set_weight(1, 1, 0)
    with pytest.raises(DriverError, match="failed after 1 attempt"):
        make_driver(build_driver({"kind": "argo", "rollout": "x0-node", "kubectl": "/nonexistent/kubectl",
                                  "retries": 0}), Context("r1", "x", "v")).set_weight(1, 1, 0)


@pytest.mark.parametrize("fields, message", [
    ({"kind": "argo"}, "needs the Rollout's name"),
    ({"kind": "argo", "rollout": "Bad_Name"}, "not a Kubernetes name"),
    ({"kind": "argo", "rollout": "x", "set_weight": "echo"}, "no command templates"),
    ({"kind": "command", "set_weight": "true", "rollback": "true", "rollout": "x"}, "fields of the argo driver"),
])
def test_argo_driver_fields_are_checked(fields, message):
    with pytest.raises((PlanError, UsageError), match=message):
        build_driver(fields)


def test_the_argo_example_plan_loads_and_its_weights_match_the_rollout():
    import yaml

    plan = load_plan(REPO / "examples" / "rollout" / "argo-rollouts.yaml")
    assert plan.driver.kind == "argo" and plan.driver.rollout == "x0-node"
    documents = list(yaml.safe_load_all((REPO / "examples" / "rollout" / "rollout.yaml").read_text()))
    rollout = next(d for d in documents if d["kind"] == "Rollout")
    steps = rollout["spec"]["strategy"]["canary"]["steps"]
    paused_at = [steps[i - 1]["setWeight"] for i in range(1, len(steps))
                 if "setWeight" in steps[i - 1] and steps[i].get("pause") == {}]
    assert paused_at == [step.weight for step in plan.steps if step.weight < 100]
    text = (REPO / "examples" / "rollout" / "argo-rollouts.yaml").read_text() + \
        (REPO / "examples" / "rollout" / "runbook.md").read_text()
    assert "set weight" not in text


def test_slo_analysis_template_carries_the_slo_queries_and_budgets(cli):
    import yaml

    from x0ctl.slo import default_spec
    from x0ctl.slo.promql import error_ratio

    done = cli("slo", "analysis-template", "--selector", '{role="canary"}', "-n", "mesh", "--window", "10m")
    assert done.exit_code == 0, done.stderr
    template = yaml.safe_load(done.stdout)
    assert (template["apiVersion"], template["kind"]) == ("argoproj.io/v1alpha1", "AnalysisTemplate")
    assert template["metadata"] == {"name": "x0ctl-slos", "namespace": "mesh"}
    spec = default_spec()
    metrics = {metric["name"]: metric for metric in template["spec"]["metrics"]}
    assert list(metrics) == [slo.name for slo in spec.slos]
    for slo in spec.slos:
        metric = metrics[slo.name]
        assert metric["provider"]["prometheus"]["query"] == error_ratio(slo, 600, 'role="canary"')
        budget = f"{1 - slo.objective:.10g}"
        assert metric["successCondition"] == f"len(result) > 0 && result[0] <= {budget}"
        assert metric["failureCondition"] == f"len(result) > 0 && result[0] > {budget}"
    # the mesh's key-rotation names are read too
    assert "pqc_key_rotation_failure_total" in metrics["key-rotation"]["provider"]["prometheus"]["query"]
    bad = cli("slo", "analysis-template", "--address", "prometheus:9090")
    assert bad.exit_code == 2 and "x0ctl: error: --address" in bad.stderr


def test_import_analysis_round_trips_x0ctl_template_into_gates(cli, tmp_path):
    from x0ctl.slo import default_spec

    path = tmp_path / "at.yaml"
    assert cli("slo", "analysis-template", "--out", str(path)).exit_code == 0
    data = cli.json("rollout", "import-analysis", str(path))
    spec = default_spec()
    assert [gate["name"] for gate in data["gates"]] == [slo.name for slo in spec.slos]
    assert all(gate["kind"] == "promql" and gate["pass_when"].startswith("<= ") for gate in data["gates"])
    assert data["skipped"] == []


MESH_TEMPLATE = """\
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args:
    - name: service-name
    - name: namespace
      value: mesh
    - name: api-token
      valueFrom: {secretKeyRef: {name: tokens, key: t}}
  metrics:
    - name: error-rate
      interval: 1m
      failureLimit: 2
      successCondition: result[0] < 0.05
      failureCondition: result[0] >= 0.10
      provider:
        prometheus:
          address: http://prometheus:9090
          query: sum(rate(http_requests_total{service="{{args.service-name}}",namespace="{{args.namespace}}",code=~"5.."}[5m])) / sum(rate(http_requests_total{service="{{args.service-name}}"}[5m]))
    - name: p99
      failureCondition: result > 0.5
      provider:
        prometheus:
          query: histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))
    - name: smoke
      provider:
        job: {spec: {template: {spec: {containers: []}}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
"""


def test_import_analysis_of_an_argo_template_with_args(cli, tmp_path):
    path = tmp_path / "analysis.yaml"
    path.write_text(MESH_TEMPLATE)
    refused = cli("rollout", "import-analysis", str(path))
    assert refused.exit_code == 2
    assert "error-rate: the query uses {{args.service-name}}, which has no value here: give --arg service-name=VALUE" \
        in refused.stderr
    data = cli.json("rollout", "import-analysis", str(path), "--arg", "service-name=x0-node")
    error_rate, p99 = data["gates"]
    assert error_rate == {"name": "error-rate", "kind": "promql", "pass_when": "< 0.05", "consecutive": 3,
                          "query": 'sum(rate(http_requests_total{service="x0-node",namespace="mesh",code=~"5.."}[5m]))'
                                   ' / sum(rate(http_requests_total{service="x0-node"}[5m]))'}
    assert p99["pass_when"] == "<= 0.5"  # the opposite of its failureCondition
    assert data["skipped"] == [{"template": "success-rate", "metric": "smoke", "reason": "provider job is not Prometheus"}]
    table = cli("rollout", "import-analysis", str(path), "--arg", "service-name=x0-node")
    assert table.stdout.startswith("gates:\n- name: error-rate") and "skipped success-rate/smoke" in table.stderr


@pytest.mark.parametrize("text, message", [
    ("kind: ConfigMap\n", "no AnalysisTemplate"),
    ("kind: AnalysisTemplate\nmetadata: {name: t}\nspec:\n  metrics:\n    - name: m\n      successCondition: "
     "result[0] < 0.05 || result[1] < 1\n      provider: {prometheus: {query: up}}\n",
     "t/m: cannot translate successCondition"),
    ("kind: AnalysisTemplate\nmetadata: {name: t}\nspec:\n  metrics:\n    - name: m\n"
     "      provider: {prometheus: {query: up}}\n", "no successCondition or failureCondition"),
    ("kind: AnalysisTemplate\nmetadata: {name: t}\nspec:\n  args: [{name: tok, valueFrom: {secretKeyRef: {name: s}}}]\n"
     "  metrics:\n    - name: m\n      successCondition: result[0] == 1\n"
     "      provider: {prometheus: {query: 'up{token=\"{{args.tok}}\"}'}}\n", "give --arg tok=VALUE"),
    ("kind: AnalysisTemplate\nmetadata: {name: t}\nspec:\n  metrics:\n    - name: m\n      successCondition: result[0] == 1\n"
     "      provider: {prometheus: {query: 'up{pod=\"{{templates.podTemplateHash}}\"}'}}\n", "only {{args.NAME}}"),
    (": : :\n", "not valid YAML"),
])
def test_import_analysis_refuses_what_it_cannot_translate(cli, tmp_path, text, message):
    path = tmp_path / "analysis.yaml"
    path.write_text(text)
    done = cli("rollout", "import-analysis", str(path))
    assert done.exit_code == 2 and message in done.stderr and done.stderr.startswith("x0ctl: error: ")
    assert cli("rollout", "import-analysis", str(tmp_path / "missing.yaml")).exit_code == 4
