"""`x0ctl rollout` end to end: a real Prometheus with known history, real driver processes, loopback only.

History (tests/promserver.mesh_history): node-a healthy throughout; node-b degraded over the last hour
before MESH_END. A rollout judges the canary's series (selected by instance) at a pinned instant
(`--at`), or replays history with `--replay-speed` so the canary breaks part way through the plan.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from x0ctl.rollout import Gate, StateDir, build_plan, evaluate_gate
from x0ctl.slo import client_from_options

from .conftest import REPO, assert_one_line_error
from .promserver import MESH_END, closed_port, mesh_history, prometheus_fixture
from .rollout_helpers import BROKEN, DRIVER, END, HEALTHY, MISSING, ndjson, read_terminal, read_until

prometheus = prometheus_fixture(mesh_history, scope="module")


def driver_args(tmp_path) -> list[str]:
    weight = tmp_path / "weight"
    return ["--set-weight-cmd", f"echo {{weight}} > {weight}", "--rollback-cmd", f"echo 0 > {weight}",
            "--promote-cmd", f"echo {{version}} > {tmp_path / 'promoted'}", "--cmd-retries", "0"]


def journal(tmp_path, rollout_id: str) -> list[dict]:
    return StateDir(tmp_path / "state").journal(rollout_id).events()


# -- gates ------------------------------------------------------------------------------------

def test_slo_gate_verdicts_against_history(prometheus) -> None:
    client = client_from_options(prometheus.url)
    healthy = evaluate_gate(Gate(name="slo", kind="slo", selector=HEALTHY, min_requests=100), client, MESH_END)
    assert healthy["verdict"] == "pass", healthy
    assert healthy["volume"] == pytest.approx(600)  # 600 handshakes per 5 minutes
    broken = evaluate_gate(Gate(name="slo", kind="slo", selector=BROKEN), client, MESH_END)
    assert broken["verdict"] == "fail"
    assert broken["value"] == pytest.approx(0.4) and broken["threshold"] == pytest.approx(0.01)
    assert "handshake-success" in broken["reason"] and 'instance="node-b"' in broken["query"][0]
    missing = evaluate_gate(Gate(name="slo", kind="slo", selector=MISSING), client, MESH_END)
    assert missing["verdict"] == "inconclusive"
    # past the end only the fallback gauge still has points: no handshakes is inconclusive, not a pass
    after = evaluate_gate(build_plan({"driver": DRIVER, "gates": [{"kind": "slo", "selector": BROKEN}]}).gates[0],
                          client, MESH_END + 300)
    assert after["verdict"] == "inconclusive" and "only 0 requests" in after["reason"]
    quiet = evaluate_gate(Gate(name="slo", kind="slo", selector=HEALTHY, min_requests=1000), client, MESH_END)
    assert quiet["verdict"] == "inconclusive" and "only 600 requests" in quiet["reason"]
    down = evaluate_gate(Gate(name="slo", kind="slo"), client_from_options(f"http://127.0.0.1:{closed_port()}"),
                         MESH_END)
    assert down["verdict"] == "error" and "cannot reach Prometheus" in down["reason"]


def test_promql_and_baseline_gates(prometheus) -> None:
    client = client_from_options(prometheus.url)
    failures = Gate(name="failures", kind="promql", pass_when="< 0.01",
                    query='sum(rate(pqc_handshake_failure_total{instance="node-b"}[{{window}}]))')
    failing = evaluate_gate(failures, client, MESH_END)
    assert failing["verdict"] == "fail" and failing["value"] == pytest.approx(0.8)
    assert failing["query"] == 'sum(rate(pqc_handshake_failure_total{instance="node-b"}[5m]))'
    assert evaluate_gate(failures, client, MESH_END - 3 * 3600)["verdict"] == "pass"
    bad = evaluate_gate(Gate(name="bad", kind="promql", query="sum(rate(", pass_when="< 1"), client, MESH_END)
    assert bad["verdict"] == "error" and "rejected the query" in bad["reason"]

    baseline = Gate(name="baseline", kind="baseline", window=3600, resolution=300, higher_is_worse=False,
                    canary='sum(rate(pqc_handshake_success_total{instance="node-b"}[{{resolution}}]))',
                    stable='sum(rate(pqc_handshake_success_total{instance="node-a"}[{{resolution}}]))')
    worse = evaluate_gate(baseline, client, MESH_END)
    assert worse["verdict"] == "fail", worse
    assert worse["canary_samples"] == worse["stable_samples"] == 13
    # the window's first sample (END-1h) is still healthy: 12 of 13 canary samples are worse, one ties
    assert worse["effect_size"] == pytest.approx(12 / 13) and worse["p_value"] < 0.001
    same = evaluate_gate(baseline, client, MESH_END - 3 * 3600)
    assert same["verdict"] == "pass" and same["p_value"] == 1.0
    few = evaluate_gate(Gate(**{**baseline.__dict__, "min_samples": 20}), client, MESH_END)
    assert few["verdict"] == "inconclusive"


def test_plan_dry_run_queries_every_gate(cli, prometheus) -> None:
    data = cli.json("rollout", "plan", "--steps", "1:5m,100", "--prometheus", prometheus.url, "--at", END,
                    "--selector", HEALTHY)
    assert [g["verdict"] for g in data["gates"]] == ["pass"]
    result = cli("rollout", "plan", "--prometheus", prometheus.url, "--at", END, "--selector", MISSING)
    assert result.exit_code == 5  # no data, as README says: never treated as ok
    assert_one_line_error(result.stderr, "gate 'slo' has no data")


# -- rollouts ---------------------------------------------------------------------------------

class Webhook(BaseHTTPRequestHandler):
    received: list = []  # noqa: RUF012 - one server per test, read after it stops

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Webhook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_healthy_canary_is_promoted_with_ndjson_and_webhook(cli, prometheus, tmp_path) -> None:
    server = HTTPServer(("127.0.0.1", 0), Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = cli("rollout", "canary", "--steps", "1:0.5s,50:0.5s,100", "--interval", "0.2s", "--target", "app",
                     "--version", "v2", "--selector", HEALTHY, "--prometheus", prometheus.url, "--at", END,
                     "--notify-webhook", f"http://127.0.0.1:{server.server_port}/hook",
                     "--state-dir", str(tmp_path / "state"), *driver_args(tmp_path), "-o", "json")
    finally:
        server.shutdown()
    assert result.exit_code == 0, result.stderr
    events = ndjson(result.stdout)
    assert events[-1]["type"] == "result" and events[-1]["status"] == "promoted" and events[-1]["exit_code"] == 0
    assert [e["weight"] for e in events if e["type"] == "step"] == [1, 50, 100]
    gates = [e for e in events if e["type"] == "gate"]
    assert gates and all(g["verdict"] == "pass" and g["query"] and g["threshold"] is not None for g in gates)
    assert (tmp_path / "weight").read_text() == "100\n"
    assert (tmp_path / "promoted").read_text() == "v2\n"
    assert [h["type"] for h in Webhook.received] == ["step", "step", "step", "promoted"]
    assert Webhook.received[-1]["target"] == "app"
    rollout_id = events[-1]["id"]
    status = cli.json("rollout", "status", "--watch", "--state-dir", str(tmp_path / "state"))  # the newest
    assert (status["id"], status["status"], status["weight"], status["weights"]) == (rollout_id, "promoted", 100,
                                                                                     [1, 50, 100])
    listed = cli.json("rollout", "list", "--state-dir", str(tmp_path / "state"))["rollouts"]
    assert [(r["id"], r["target"], r["version"], r["status"]) for r in listed] == [(rollout_id, "app", "v2",
                                                                                    "promoted")]


def test_breaking_canary_is_rolled_back_with_the_reason(cli, prometheus, tmp_path) -> None:
    # Replay from 2h before the end at 2400x: node-b degrades ~1.6 s into the run, during the plan. History
    # has a sample every 5 minutes, so a 10-minute window always holds two of them wherever it ends.
    result = cli("rollout", "canary", "--steps", "1:1s,10:1s,50:1s,100", "--interval", "0.25s", "--window", "10m",
                 "--selector", BROKEN, "--prometheus", prometheus.url, "--at", str(MESH_END - 7200),
                 "--replay-speed", "2400", "--state-dir", str(tmp_path / "state"), *driver_args(tmp_path),
                 "-o", "json")
    assert result.exit_code == 1, result.stdout + result.stderr
    events = ndjson(result.stdout)
    assert events[-1]["status"] == "rolled-back" and events[-1]["weight"] == 0
    assert (tmp_path / "weight").read_text() == "0\n"
    assert not (tmp_path / "promoted").exists()
    history = journal(tmp_path, events[-1]["id"])
    passed = [e for e in history if e["type"] == "gate" and e["verdict"] == "pass"]
    assert passed, "the canary was healthy before it broke"
    rolled = next(e for e in history if e["type"] == "rolled-back")
    assert rolled["cause"] == "fail" and rolled["reason"].startswith("gate slo fail: SLO ")
    failing = next(e for e in history if e["type"] == "gate" and e["verdict"] == "fail")
    assert failing["action"] == "rollback" and failing["value"] > failing["threshold"]
    assert any("node-b" in q for q in failing["query"])


def test_no_data_pauses_then_an_operator_aborts(cli, prometheus, tmp_path) -> None:
    state = str(tmp_path / "state")
    result = cli("rollout", "canary", "--steps", "10:0.5s,100", "--interval", "0.2s", "--selector", MISSING,
                 "--data-wait", "0",
                 "--prometheus", prometheus.url, "--at", END, "--state-dir", state, *driver_args(tmp_path),
                 "-o", "json")
    assert result.exit_code == 6, result.stderr
    final = ndjson(result.stdout)[-1]
    assert (final["status"], final["cause"], final["weight"]) == ("paused", "inconclusive", 10)
    assert (tmp_path / "weight").read_text() == "10\n"
    # a second rollout of the same target is refused while this one is unfinished
    again = cli("rollout", "canary", "--steps", "10,100", "--state-dir", state, *driver_args(tmp_path),
                "--prometheus", prometheus.url)
    assert again.exit_code == 4
    assert_one_line_error(again.stderr, final["id"], "paused")
    aborted = cli("rollout", "abort", final["id"], "--reason", "no metrics from canary", "--state-dir", state,
                  env={"USER": "alice"})
    assert aborted.exit_code == 0, aborted.stderr
    assert (tmp_path / "weight").read_text() == "0\n"
    history = cli.json("rollout", "history", final["id"], "--state-dir", state)["events"]
    operator = next(e for e in history if e["type"] == "operator")
    assert (operator["action"], operator["user"], operator["reason"]) == ("abort", "alice", "no metrics from canary")
    assert history[-1]["type"] == "rolled-back" and history[-1]["cause"] == "operator"
    status = cli("rollout", "status", final["id"], "--state-dir", state)
    assert status.exit_code == 1


def test_no_data_with_rollback_action_and_prometheus_down(cli, prometheus, tmp_path) -> None:
    state = str(tmp_path / "state")
    result = cli("rollout", "canary", "--steps", "10:0.2s,100", "--interval", "0.1s", "--selector", MISSING,
                 "--on-inconclusive", "rollback", "--data-wait", "0", "--prometheus", prometheus.url, "--at", END, "--target", "a",
                 "--state-dir", state, *driver_args(tmp_path), "-o", "json")
    assert result.exit_code == 6
    assert ndjson(result.stdout)[-1]["status"] == "rolled-back"
    down = cli("rollout", "canary", "--steps", "10:0.2s,100", "--interval", "0.1s", "--target", "b",
               "--prometheus", f"http://127.0.0.1:{closed_port()}", "--state-dir", state, *driver_args(tmp_path),
               "-o", "json")
    assert down.exit_code == 6  # paused is 6 whatever paused it; the cause says a Prometheus error
    final = ndjson(down.stdout)[-1]
    assert (final["status"], final["cause"], final["weight"]) == ("paused", "error", 10)
    status = cli("rollout", "status", final["id"], "--state-dir", state)
    assert status.exit_code == 6  # paused by a Prometheus error: 6, as for every pause


def test_nodes_driver_rollout(cli, prometheus, tmp_path) -> None:
    inventory = tmp_path / "nodes.txt"
    inventory.write_text("\n".join(f"node-{i}" for i in range(10)) + "\n")
    log = tmp_path / "upgraded"
    result = cli("rollout", "canary", "--steps", "10:0s,50:0s,100", "--interval", "0.1s", "--selector", HEALTHY,
                 "--prometheus", prometheus.url, "--at", END, "--state-dir", str(tmp_path / "state"),
                 "--inventory", str(inventory), "--upgrade-cmd", f"echo {{node}} >> {log}",
                 "--downgrade-cmd", "true", "--concurrency", "3", "-o", "json")
    assert result.exit_code == 0, result.stderr
    upgraded = log.read_text().split()
    assert sorted(upgraded) == [f"node-{i}" for i in range(10)]  # each node upgraded exactly once
    steps = [e for e in ndjson(result.stdout) if e["type"] == "action" and e["action"] == "set-weight"]
    canary_sets = [set(e["detail"]["canary_nodes"]) for e in steps]
    assert [len(s) for s in canary_sets] == [1, 5, 10]
    assert canary_sets[0] <= canary_sets[1] <= canary_sets[2]


def _spawn(tmp_path, prometheus, *extra) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "x0ctl", "rollout", "canary", "--target", "mesh", "--selector", HEALTHY,
         "--prometheus", prometheus.url, "--at", END, "--state-dir", str(tmp_path / "state"),
         *driver_args(tmp_path), "-o", "json", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ},
    )


def test_sigkill_mid_bake_resumes_and_lock_excludes_a_second_rollout(cli, prometheus, tmp_path) -> None:
    process = _spawn(tmp_path, prometheus, "--steps", "10:3s,100", "--interval", "0.5s")
    try:
        events = read_until(process, lambda e: e["type"] == "gate")
        rollout_id = events[0]["rollout"]
        bake_until = next(e for e in events if e["type"] == "step")["bake_until"]
        second = cli("rollout", "canary", "--target", "mesh", "--steps", "10,100", "--state-dir",
                     str(tmp_path / "state"), *driver_args(tmp_path), "--prometheus", prometheus.url)
        assert second.exit_code == 4
        assert_one_line_error(second.stderr, "target 'mesh' is locked by another rollout", rollout_id)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()
    state = str(tmp_path / "state")
    # nothing drives it any more: status says so, with the dead owner, and exits 6 (resume it)
    orphaned = cli.json("rollout", "status", rollout_id, "--state-dir", state, expect=6)
    assert orphaned["status"] == "orphaned" and orphaned["owner"]["pid"] == process.pid
    assert f"process {process.pid}" in orphaned["reason"] and "is gone" in orphaned["reason"]
    listed = cli.json("rollout", "list", "--state-dir", state)["rollouts"]
    assert [r["status"] for r in listed] == ["orphaned"]
    (tmp_path / "weight").unlink()  # proves resume applies the current weight again
    resumed = cli("rollout", "resume", rollout_id, "--state-dir", state, "--prometheus", prometheus.url, "-o", "json")
    assert resumed.exit_code == 0, resumed.stderr
    lines = ndjson(resumed.stdout)
    reapplied = next(e for e in lines if e["type"] == "action")
    assert reapplied["reapplied"] is True and reapplied["weight"] == 10
    promoted = next(e for e in lines if e["type"] == "promoted")
    assert promoted["ts"] >= bake_until  # the saved deadline held across the crash
    assert [e["weight"] for e in lines if e["type"] == "step"] == [100]
    assert (tmp_path / "weight").read_text() == "100\n"


def test_operator_pause_promote_and_full_promotion_reach_a_running_rollout(cli, prometheus, tmp_path) -> None:
    state = str(tmp_path / "state")
    process = _spawn(tmp_path, prometheus, "--steps", "10:30s,50:30s,100", "--interval", "0.5s")
    try:
        rollout_id = read_until(process, lambda e: e["type"] == "gate")[0]["rollout"]
        paused = cli.json("rollout", "pause", rollout_id, "--reason", "look at dashboards", "--state-dir", state)
        assert paused["delivered"] == "running"
        assert process.wait(timeout=15) == 6  # the loop picked it up and stopped at 10%
        final = json.loads(process.stdout.read().splitlines()[-1])
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()
    assert (final["status"], final["cause"], final["weight"]) == ("paused", "operator", 10)
    assert "look at dashboards" in final["reason"]
    recorded = cli.json("rollout", "promote", rollout_id, "--state-dir", state)
    assert recorded["delivered"].startswith("recorded")
    resumed = subprocess.Popen(
        [sys.executable, "-m", "x0ctl", "rollout", "resume", rollout_id, "--state-dir", state, "--prometheus",
         prometheus.url, "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        step = read_until(resumed, lambda e: e["type"] == "step")[-1]
        assert step["weight"] == 50 and step["note"] == "operator promoted the step"
        full = cli.json("rollout", "promote", rollout_id, "--full", "--reason", "hotfix", "--state-dir", state)
        assert full["delivered"] == "running"
        assert resumed.wait(timeout=15) == 0
    finally:
        if resumed.poll() is None:
            resumed.kill()
        resumed.stdout.close()
        resumed.stderr.close()
    assert (tmp_path / "weight").read_text() == "100\n"
    history = cli.json("rollout", "history", rollout_id, "--state-dir", state)["events"]
    actions = [(e["action"], e.get("reason")) for e in history if e["type"] == "operator"]
    assert actions == [("pause", "look at dashboards"), ("promote", None), ("resume", None), ("promote", "hotfix")]
    assert history[-1]["type"] == "promoted" and "--full" in history[-1]["reason"]


def test_warn_on_error_never_promotes_while_prometheus_is_down(tmp_path) -> None:
    from x0ctl.rollout import StateDir, build_plan, start

    plan = build_plan({"steps": "10:0.2s,100", "interval": "0.1s", "driver": DRIVER,
                       "gates": [{"kind": "slo", "on_error": "warn"}]})
    clock = {"now": 1000.0}
    rounds = []

    def tick(seconds: float) -> None:
        clock["now"] += seconds
        if clock["now"] > 1005:  # the operator gives up after five seconds of warnings
            state_dir.journal(rounds[0]["rollout"]).append("operator", action="pause", user="t", reason="outage")

    state_dir = StateDir(tmp_path)
    client = client_from_options(f"http://127.0.0.1:{closed_port()}", timeout=1)
    final = start(plan, client, state_dir=state_dir, on_event=rounds.append, clock=lambda: clock["now"], sleep=tick)
    assert final.status == "paused" and final.weight == 10
    warnings = [e for e in rounds if e["type"] == "warning"]
    assert len(warnings) >= 10 and all(w["verdict"] == "error" for w in warnings)


def test_live_view_on_a_terminal(prometheus, tmp_path) -> None:
    import pty

    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "x0ctl", "rollout", "canary", "--steps", "10:0.5s,100", "--interval", "0.2s",
         "--selector", BROKEN, "--prometheus", prometheus.url, "--at", END, "--state-dir", str(tmp_path / "s"),
         *driver_args(tmp_path)], stdout=subprocess.PIPE, stderr=terminal, stdin=subprocess.DEVNULL, cwd=REPO,
        env={**os.environ, "COLUMNS": "160", "TERM": "xterm"})
    os.close(terminal)
    screen = read_terminal(controller)
    assert process.wait(timeout=30) == 1
    os.close(controller)
    assert "step 1/2 at 10%" in screen and "verdict" in screen  # the live table, not event lines
    assert "handshake-success" in screen and "rolled-back" in screen
    assert process.stdout.read() == b""  # people's output goes to the terminal on stderr only
    process.stdout.close()


def test_webhook_failures_are_journaled_not_fatal(prometheus, tmp_path) -> None:
    from x0ctl.rollout import StateDir, build_plan, start
    from x0ctl.rollout.notify import post_json

    assert post_json(f"http://127.0.0.1:{closed_port()}/", {"a": 1}).startswith("unreachable")
    plan = build_plan({"steps": "10:0s,100", "interval": "0.1s", "driver": DRIVER,
                       "notify_webhook": f"http://127.0.0.1:{closed_port()}/hook",
                       "gates": [{"kind": "slo", "selector": HEALTHY}]})
    directory = StateDir(tmp_path)
    final = start(plan, client_from_options(prometheus.url), state_dir=directory, at=MESH_END)
    assert final.status == "promoted"
    failed = [e for e in directory.journal(final.rollout_id).events() if e["type"] == "notify-failed"]
    assert [e["event"] for e in failed] == ["step", "step", "promoted"]


def _crashed_journal(tmp_path, *events: tuple[str, dict]):
    from x0ctl.rollout import StateDir, build_plan

    weight = tmp_path / "weight"
    plan = build_plan({"target": "crash", "steps": "10:0s,50:0s,100", "interval": "0.1s",
                       "driver": {"set_weight": f"echo {{weight}} >> {weight}", "rollback": f"echo 0 >> {weight}"},
                       "gates": [{"kind": "slo", "selector": HEALTHY}]})
    directory = StateDir(tmp_path / "state")
    directory.ensure()
    journal = directory.journal("crash-1")
    journal.append("created", plan=plan.to_dict(), user="t", replay={"at": MESH_END, "wall": time.time(), "speed": 0})
    for kind, fields in events:
        journal.append(kind, **fields)
    return directory, weight


def test_crash_between_weight_change_and_its_record_redoes_the_step(prometheus, tmp_path) -> None:
    from x0ctl.rollout import resume

    now = time.time()
    directory, weight = _crashed_journal(tmp_path, ("step-intent", {"step": 1, "weight": 10}),
                                         ("step", {"step": 1, "weight": 10, "started": now, "gates_after": now,
                                                   "bake_until": now}),
                                         ("step-intent", {"step": 2, "weight": 50}))
    final = resume("crash-1", client_from_options(prometheus.url), state_dir=directory)
    assert final.status == "promoted"
    assert weight.read_text().split() == ["50", "100"]  # never back to 10% on the way


def test_crash_during_a_rollback_is_finished_by_resume_not_undone(tmp_path) -> None:
    from x0ctl.rollout import resume

    now = time.time()
    directory, weight = _crashed_journal(tmp_path, ("step-intent", {"step": 1, "weight": 10}),
                                         ("step", {"step": 1, "weight": 10, "started": now, "gates_after": now,
                                                   "bake_until": now + 60}),
                                         ("rollback-intent", {"cause": "fail", "reason": "gate slo fail: x"}))
    final = resume("crash-1", client_from_options(f"http://127.0.0.1:{closed_port()}"), state_dir=directory)
    assert (final.status, final.cause, final.weight) == ("rolled-back", "fail", 0)
    assert "finished after a restart" in final.reason
    assert weight.read_text().split() == ["0"]  # the canary weight was not applied again
