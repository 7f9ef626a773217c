"""Rollout safety: owners and orphans, judging the unwatched time, waiting for data, signals, secrets.

Real rollout processes against the suite's real Prometheus (tests/promserver.mesh_history), on loopback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from x0ctl.rollout import PlanError, StateDir, build_plan

from .conftest import REPO, assert_one_line_error
from .promserver import MESH_END, closed_port, mesh_history, prometheus_fixture
from .rollout_helpers import BROKEN, DRIVER, END, HEALTHY, MISSING, ndjson, read_terminal, read_until

prometheus = prometheus_fixture(mesh_history, scope="module")

# node-b's PQC fallback gauge is 1 from END-30m to END-20m and 0 otherwise
FALLBACK_GATE = 'fallback=max_over_time(pqc_fallback_enabled{instance="node-b"}[{{window}}]) < 1'


def driver_args(tmp_path) -> list[str]:
    weight = tmp_path / "weight"
    return ["--set-weight-cmd", f"echo {{weight}} > {weight}", "--rollback-cmd", f"echo 0 > {weight}",
            "--cmd-retries", "0"]


def spawn(tmp_path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "x0ctl", "rollout", *args, "--state-dir", str(tmp_path / "state"),
                             "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def finish(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)
    process.stdout.close()
    process.stderr.close()


def journal(tmp_path, rollout_id: str) -> list[dict]:
    return StateDir(tmp_path / "state").journal(rollout_id).events()


def test_sigterm_is_journaled_and_the_heartbeat_stops(cli, prometheus, tmp_path) -> None:
    process = spawn(tmp_path, "canary", "--steps", "10:60s,100", "--interval", "0.5s", "--selector", HEALTHY,
                    "--prometheus", prometheus.url, "--at", END, *driver_args(tmp_path))
    try:
        rollout_id = read_until(process, lambda e: e["type"] == "gate")[0]["rollout"]
        status = cli.json("rollout", "status", rollout_id, "--state-dir", str(tmp_path / "state"))
        assert status["status"] == "running" and status["owner"]["pid"] == process.pid
        assert status["owner"]["host"] == socket.gethostname()
        time.sleep(5.5)  # one heartbeat period
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 130
    finally:
        finish(process)
    events = journal(tmp_path, rollout_id)
    kinds = [e["type"] for e in events]
    assert "heartbeat" in kinds and kinds.index("owner") < kinds.index("heartbeat")
    assert events[-1]["type"] == "interrupted" and events[-1]["reason"] == "SIGTERM"
    result = cli("rollout", "status", rollout_id, "--state-dir", str(tmp_path / "state"), "-o", "json")
    assert result.exit_code == 6
    data = json.loads(result.stdout)
    assert data["status"] == "orphaned" and "interrupted (SIGTERM)" in data["reason"]


def test_a_silent_owner_on_another_host_is_orphaned(cli, tmp_path) -> None:
    plan = build_plan({"target": "far", "steps": "10:1h,100", "driver": DRIVER})
    directory = StateDir(tmp_path / "state")
    directory.ensure()
    old = time.time() - 120
    lines = [{"ts": old - 10, "type": "created", "plan": plan.to_dict(), "user": "t", "replay": None},
             {"ts": old - 9, "type": "owner", "pid": 4242, "host": "node-elsewhere", "started": old - 20},
             {"ts": old - 8, "type": "step", "step": 1, "weight": 10, "started": old - 8, "gates_after": old - 8,
              "bake_until": old + 3600, "bake_seconds": 3600},
             {"ts": old, "type": "heartbeat"}]
    directory.journal("far-1").path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    data = cli.json("rollout", "status", "far-1", "--state-dir", str(tmp_path / "state"), expect=6)
    assert data["status"] == "orphaned"
    assert "no heartbeat from process 4242 on node-elsewhere for 12" in data["reason"]
    # a fresh heartbeat from that host is a live owner this host cannot check: running, exit 0
    directory.journal("far-1").append("heartbeat")
    assert cli.json("rollout", "status", "far-1", "--state-dir", str(tmp_path / "state"))["status"] == "running"


def test_resume_judges_the_unwatched_interval_before_it_advances(cli, prometheus, tmp_path) -> None:
    # History replays at 400x from END-50m: the fallback burst (END-30m..END-20m) comes 3 s to 4.5 s into
    # the run. The rollout is killed before it and resumed after it: a gate round at the resume over
    # the usual 5m window sees a healthy canary; the unwatched 30 minutes did not.
    process = spawn(tmp_path, "canary", "--target", "unwatched", "--steps", "10:5s,100", "--interval", "0.2s",
                    "--gate-promql", FALLBACK_GATE, "--window", "5m", "--prometheus", prometheus.url,
                    "--at", str(MESH_END - 3000), "--replay-speed", "400", *driver_args(tmp_path))
    try:
        seen = read_until(process, lambda e: e["type"] == "gate")
        created = seen[0]["ts"]
        assert seen[-1]["verdict"] == "pass" and seen[-1]["ts"] - created < 3, "killed too late to test anything"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        finish(process)
    rollout_id = seen[0]["rollout"]
    time.sleep(max(0.0, created + 6.0 - time.time()))  # history is now at END-10m; the bake deadline passed
    resumed = cli("rollout", "resume", rollout_id, "--state-dir", str(tmp_path / "state"), "--prometheus",
                  prometheus.url, "-o", "json")
    assert resumed.exit_code == 1, resumed.stdout + resumed.stderr
    events = ndjson(resumed.stdout)
    unwatched = next(e for e in events if e["type"] == "unwatched")
    assert unwatched["seconds"] > 2 and unwatched["wait"] == pytest.approx(0.75)  # 5m of history at 400x
    catch_up = next(e for e in events if e["type"] == "gate")
    assert catch_up["catch_up"] is True and catch_up["verdict"] == "fail"
    assert catch_up["window_seconds"] > 1800 and "[5m]" not in catch_up["query"]
    assert not [e for e in events if e["type"] in ("step", "promoted")]
    assert events[-1]["status"] == "rolled-back" and (tmp_path / "weight").read_text() == "0\n"


def test_no_data_right_after_a_weight_change_is_waited_out(cli, prometheus, tmp_path) -> None:
    result = cli("rollout", "canary", "--steps", "10:0.2s,100", "--interval", "0.2s", "--selector", MISSING,
                 "--data-wait", "1s", "--prometheus", prometheus.url, "--at", END, "--state-dir",
                 str(tmp_path / "state"), *driver_args(tmp_path), "-o", "json")
    assert result.exit_code == 6
    gates = [e for e in ndjson(result.stdout) if e["type"] == "gate"]
    step = next(e for e in ndjson(result.stdout) if e["type"] == "step")
    waited = [g for g in gates if g["ts"] < step["started"] + 1]
    assert waited and all(g["action"] is None and g["pending"].startswith("waiting for data") for g in waited)
    assert gates[-1]["action"] == "pause" and gates[-1]["ts"] >= step["started"] + 1
    plan = cli.json("rollout", "plan", "--no-query")
    assert plan["first_judgement"] == {"initial_delay_seconds": 0, "data_wait_seconds": 120}
    assert plan["plan"]["data_wait_seconds"] == 120


def test_plan_takes_every_canary_flag_with_help() -> None:
    from x0ctl.cli.main import app
    from x0ctl.cli.app import walk_commands

    commands = {path: command for path, command in walk_commands(__import__("typer").main.get_command(app))}
    canary, plan = commands[("rollout", "canary")], commands[("rollout", "plan")]
    flags = {opt for param in plan.params for opt in param.opts}
    missing = [opt for param in canary.params for opt in param.opts if opt not in flags]
    assert missing == []
    undocumented = [param.opts[0] for param in plan.params if not getattr(param, "help", "x")]
    assert undocumented == []


def test_a_full_canary_command_line_dry_runs_with_plan(cli, prometheus, tmp_path) -> None:
    line = ["--target", "app", "-t", "app", "--version", "v2", "--steps", "10:1m,100", "--bake", "1m",
            "--interval", "10s", "--initial-delay", "0s", "--data-wait", "30s", "--set-weight-cmd", "echo {weight}",
            "--promote-cmd", "true", "--rollback-cmd", "true", "--cmd-timeout", "5s", "--cmd-retries", "1",
            "--selector", HEALTHY, "--gate-promql", "errors=sum(rate(pqc_handshake_failure_total[{{window}}])) < 1",
            "--on-fail", "rollback", "--on-inconclusive", "pause", "--on-error", "warn", "--consecutive", "2",
            "--min-requests", "10", "--window", "10m", "--prometheus", prometheus.url, "--timeout", "5",
            "--at", END, "--replay-speed", "0", "--notify-webhook", "http://127.0.0.1:9/hook",
            "--state-dir", str(tmp_path / "state")]
    data = cli.json("rollout", "plan", *line)
    assert data["plan"]["version"] == "v2" and data["plan"]["driver"]["promote"] == "true"
    assert [g["verdict"] for g in data["gates"]] == ["pass", "pass"]
    assert not (tmp_path / "state").exists()  # a dry run writes nothing


def test_operator_full_promotion_ends_on_the_last_step(cli, prometheus, tmp_path) -> None:
    state = str(tmp_path / "state")
    paused = cli("rollout", "canary", "--steps", "10:1m,50:1m,100", "--selector", MISSING, "--data-wait", "0",
                 "--interval", "0.1s", "--prometheus", prometheus.url, "--at", END, "--state-dir", state,
                 *driver_args(tmp_path), "-o", "json")
    rollout_id = ndjson(paused.stdout)[-1]["id"]
    assert cli.json("rollout", "promote", rollout_id, "--full", "--state-dir", state)["status"] == "promoted"
    status = cli.json("rollout", "status", rollout_id, "--state-dir", state)
    assert (status["status"], status["step"], status["steps"], status["weight"]) == ("promoted", 3, 3, 100)


def test_live_view_after_resume_shows_the_plan(cli, prometheus, tmp_path) -> None:
    import pty

    state = str(tmp_path / "state")
    paused = cli("rollout", "canary", "--steps", "10:0.3s,100", "--selector", MISSING, "--data-wait", "0",
                 "--interval", "0.1s", "--prometheus", prometheus.url, "--at", END, "--state-dir", state,
                 *driver_args(tmp_path), "-o", "json")
    rollout_id = ndjson(paused.stdout)[-1]["id"]
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "x0ctl", "rollout", "resume", rollout_id, "--state-dir", state,
                                "--prometheus", prometheus.url], stdout=subprocess.PIPE, stderr=terminal,
                               stdin=subprocess.DEVNULL, cwd=REPO, env={**os.environ, "COLUMNS": "160", "TERM": "xterm"})
    os.close(terminal)
    screen = read_terminal(controller)
    assert process.wait(timeout=30) == 6
    os.close(controller)
    process.stdout.close()
    assert "steps [10, 100]" in screen and "step 1/2 at 10%" in screen
    assert "steps []" not in screen and "/0 " not in screen


def test_a_retry_right_after_a_rollback_says_the_window_holds_the_old_canary(cli, prometheus, tmp_path) -> None:
    state = str(tmp_path / "state")
    args = ["--target", "retry", "--steps", "10:0.3s,100", "--interval", "0.1s", "--selector", BROKEN,
            "--prometheus", prometheus.url, "--at", END, "--state-dir", state, *driver_args(tmp_path), "-o", "json"]
    first = cli("rollout", "canary", *args)
    assert first.exit_code == 1
    first_id = ndjson(first.stdout)[-1]["id"]
    assert "still holds data" not in ndjson(first.stdout)[-1]["reason"]
    second = cli("rollout", "canary", *args)
    assert second.exit_code == 1
    reason = ndjson(second.stdout)[-1]["reason"]
    assert f"still holds data from before rollout {first_id} was rolled back" in reason and "retry after" in reason


def test_gate_queries_take_the_version_and_baseline_samples_take_the_resolution() -> None:
    plan = build_plan({"version": "v2.1", "driver": DRIVER, "gates": [
        {"kind": "promql", "query": 'sum(rate(x{version="{{version}}"}[{{window}}]))', "pass_when": "< 1"},
        {"kind": "slo", "selector": '{version="{{version}}"}'},
        {"kind": "baseline", "canary": 'avg(rate(y{version="{{version}}"}[{{resolution}}]))',
         "stable": "avg(rate(y[{{resolution}}]))"}]})
    assert plan.gates[0].query == 'sum(rate(x{version="v2.1"}[{{window}}]))'
    assert plan.gates[1].selector == '{version="v2.1"}'
    assert plan.gates[2].canary == 'avg(rate(y{version="v2.1"}[{{resolution}}]))'
    with pytest.raises(PlanError) as caught:
        build_plan({"driver": DRIVER, "gates": [{"kind": "promql", "query": "x{v='{{version}}'}", "pass_when": "<1"}]})
    assert caught.value.field == "gates[0].query" and "no version" in caught.value.message
    with pytest.raises(PlanError) as caught:
        build_plan({"version": 'v"2', "driver": DRIVER, "gates": [{"kind": "slo", "selector": '{v="{{version}}"}'}]})
    assert caught.value.field == "version"
    with pytest.raises(PlanError) as caught:
        build_plan({"driver": DRIVER, "gates": [{"kind": "baseline", "canary": "rate(y[{{window}}])",
                                                 "stable": "rate(y[{{resolution}}])"}]})
    assert caught.value.field == "gates[0].canary" and "{{resolution}}" in caught.value.message


def test_baseline_samples_cover_one_resolution_step(prometheus) -> None:
    from x0ctl.rollout import Gate, evaluate_gate
    from x0ctl.slo import client_from_options

    gate = Gate(name="b", kind="baseline", window=3600, resolution=300,
                canary='sum(rate(pqc_handshake_success_total{instance="node-b"}[{{resolution}}]))',
                stable='sum(rate(pqc_handshake_success_total{instance="node-a"}[{{resolution}}]))')
    result = evaluate_gate(gate, client_from_options(prometheus.url), MESH_END)
    assert result["query"][0] == 'sum(rate(pqc_handshake_success_total{instance="node-b"}[5m]))'


def test_secrets_never_reach_output_or_the_journal(cli, prometheus, tmp_path) -> None:
    state = tmp_path / "state"
    port = prometheus.url.rsplit(":", 1)[1]
    secret_url = f"http://alice:PASSWORD123@127.0.0.1:{port}"
    hook = f"http://127.0.0.1:{closed_port()}/hook?token=HOOKSECRET"
    result = cli("rollout", "canary", "--steps", "10:0.2s,100", "--interval", "0.1s", "--selector", MISSING,
                 "--data-wait", "0", "--prometheus", secret_url, "--notify-webhook", hook, "--at", END,
                 "--state-dir", str(state), *driver_args(tmp_path), "-o", "json")
    assert result.exit_code == 6, result.stderr
    rollout_id = ndjson(result.stdout)[-1]["id"]
    created = ndjson(result.stdout)[0]
    assert created["plan"]["prometheus"] == f"http://***@127.0.0.1:{port}"
    assert created["plan"]["notify_webhook"].endswith("/hook?token=***")
    stored = (state / "rollouts" / f"{rollout_id}.jsonl").read_text()
    plan = cli("rollout", "plan", "--prometheus", secret_url, "--notify-webhook", hook, "--no-query", "-o", "json")
    for text in (result.stdout, result.stderr, stored, plan.stdout, plan.stderr):
        assert "PASSWORD123" not in text and "HOOKSECRET" not in text
    # resume takes the secrets from flags again; the journal cannot supply them
    again = cli("rollout", "resume", rollout_id, "--state-dir", str(state))
    assert again.exit_code == 2
    assert_one_line_error(again.stderr, "--notify-webhook")
    again = cli("rollout", "resume", rollout_id, "--state-dir", str(state), "--notify-webhook", hook)
    assert again.exit_code == 2
    assert_one_line_error(again.stderr, "give --prometheus")
    resumed = cli("rollout", "resume", rollout_id, "--state-dir", str(state), "--notify-webhook", hook,
                  "--prometheus", secret_url, "-o", "json")
    assert resumed.exit_code == 6, resumed.stderr
    assert "PASSWORD123" not in resumed.stdout and "HOOKSECRET" not in resumed.stdout


def test_slo_errors_never_show_query_secrets_and_userinfo_with_a_token_is_refused(cli, tmp_path) -> None:
    leaked = cli("slo", "status", "--prometheus", f"http://127.0.0.1:{closed_port()}/prom?token=QSECRET")
    assert leaked.exit_code == 2
    assert "QSECRET" not in leaked.stderr and "token=***" in leaked.stderr
    token = tmp_path / "token"
    token.write_text("abc\n")
    both = cli("slo", "status", "--prometheus", "http://u:PW@127.0.0.1:9090", "--token-file", str(token))
    assert both.exit_code == 2
    assert_one_line_error(both.stderr, "credentials in the URL")
    assert "PW" not in both.stderr


@pytest.mark.parametrize(("url", "shown"), [
    ("http://alice:pw@prom:9090/api?token=abc&x=", "http://***@prom:9090/api?token=***&x=***"),
    ("https://prom.example", "https://prom.example"),
    ("http://u@[::1]:80/x?a=1#frag", "http://***@[::1]:80/x?a=***#***"),
    ("http://h/?opaque", "http://h/?opaque=***"),
    ("http://h:99999999/", "***"),  # not parseable: nothing of it is shown
])
def test_urls_are_shown_without_secrets(url, shown) -> None:
    from x0ctl.urls import redact_url, url_has_secrets, url_needs_secrets

    assert redact_url(url) == shown
    assert url_has_secrets(url) == (shown != url)
    assert url_needs_secrets(shown) == (shown != url)
