"""`x0ctl rollout`: staged canary rollouts gated on SLOs, with automatic rollback.

The work is done by x0ctl.rollout (imported lazily in each command); this module parses options,
renders results and maps outcomes to exit codes: promoted 0, rolled back 1, usage 2,
environment 3, error 4, paused/inconclusive 6.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from x0ctl.cli.app import OutputOption, get_app
from x0ctl.cli.rollout_state import StateOption, group_options, open_store, state_app
from x0ctl.errors import IOFailure, UsageError

HELP = """Staged canary rollouts gated on SLOs, with automatic rollback.

Moves a new version onto the mesh in stages (default 1% -> 10% -> 50% -> 100%), bakes at each one while SLO, PromQL and baseline gates are judged against Prometheus, and rolls back by itself when they break. Every decision goes to a crash-safe journal under --state: a local directory, or etcd:// shared by every machine. Exit codes: 0 promoted, 1 rolled back, 2 bad plan, 4 error, 6 paused or inconclusive.

Examples:
  x0ctl rollout plan --steps 1:5m,10:10m,50:15m,100 --selector '{version="v2"}'
  x0ctl rollout canary --plan rollout.yaml -o json
  x0ctl rollout status --watch
"""

app = typer.Typer(help=HELP, no_args_is_help=True)
app.callback(help=HELP)(group_options)
app.add_typer(state_app, name="state")

StateDirOption = StateOption
PrometheusOption = Annotated[
    str | None,
    typer.Option("--prometheus", "-p", envvar="X0CTL_PROMETHEUS_URL", show_default=False, metavar="URL",
                 help="Prometheus-API base URL. Default: the plan's, else http://127.0.0.1:9090."),
]
TimeoutOption = Annotated[float, typer.Option("--timeout", metavar="SECONDS", min=0.001, max=3600,
                                              help="Per-query timeout.")]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", "-r", show_default=False, help="Why (kept in the journal with your user)."),
]
def _complete_rollout_ids(ctx: typer.Context, incomplete: str) -> list[str]:
    """Rollout ids in the state directory the command line names (or the default), newest last."""
    try:
        ids = open_store(ctx.params.get("state_dir")).ids()
    except Exception:  # noqa: BLE001 - completion must never print an error into the shell
        return []
    return [rollout_id for rollout_id in ids if rollout_id.startswith(incomplete)]


IdArgument = Annotated[str, typer.Argument(metavar="ID", help="Rollout id (see 'x0ctl rollout list').",
                                           autocompletion=_complete_rollout_ids)]


def _state_dir(path: str | None):
    return open_store(path)


def _client(url: str | None, timeout: float):
    from x0ctl.slo import client_from_options

    return client_from_options(url, timeout=timeout)


def _gather_plan(plan_file, step, steps, target, version, bake, interval, initial_delay, set_weight_cmd,
                 promote_cmd, rollback_cmd, cmd_timeout, cmd_retries, inventory, upgrade_cmd, downgrade_cmd,
                 concurrency, selector, gate_promql, on_fail, on_inconclusive, on_error, consecutive, min_requests,
                 window, prometheus, notify_webhook):
    from x0ctl.rollout import build_plan, load_plan

    if step is not None and steps is not None:
        raise UsageError("give --step or --steps, not both")
    driver = {key: value for key, value in (
        ("set_weight", set_weight_cmd), ("promote", promote_cmd), ("rollback", rollback_cmd),
        ("timeout", cmd_timeout), ("retries", cmd_retries), ("inventory", str(inventory) if inventory else None),
        ("upgrade", upgrade_cmd), ("downgrade", downgrade_cmd), ("concurrency", concurrency)) if value is not None}
    if inventory is not None:
        driver["kind"] = "nodes"
    gate_defaults = {key: value for key, value in (
        ("on_fail", on_fail), ("on_inconclusive", on_inconclusive), ("on_error", on_error),
        ("consecutive", consecutive), ("min_requests", min_requests), ("window", window)) if value is not None}
    gates = None
    if gate_promql or selector is not None:
        gates = [{"name": "slo", "kind": "slo", **({"selector": selector} if selector else {})}]
        for index, text in enumerate(gate_promql or []):
            gates.append(_promql_gate(text, index))
        if gate_promql and selector is None:
            gates = gates[1:]
        if min_requests is not None:
            gate_defaults.pop("min_requests")
            for gate in gates:
                if gate["kind"] == "slo":
                    gate["min_requests"] = min_requests
    flags = {"target": target, "version": version, "bake": bake, "interval": interval,
             "initial_delay": initial_delay, "prometheus": prometheus, "notify_webhook": notify_webhook,
             "step": step, "steps": steps}
    if plan_file is not None:
        overrides = {k: v for k, v in flags.items() if v is not None}
        if driver:
            overrides["driver"] = driver
        if gates is not None:
            overrides["gates"] = gates
        if gate_defaults:
            overrides["gate_defaults"] = gate_defaults
        return load_plan(plan_file, overrides)
    data = {k: v for k, v in flags.items() if v is not None}
    data["driver"] = driver
    if gates is not None:
        data["gates"] = gates
    data["gate_defaults"] = gate_defaults
    if data["gate_defaults"].get("min_requests") is not None and gates is None:
        data["gates"] = [{"name": "slo", "kind": "slo", "min_requests": data["gate_defaults"].pop("min_requests")}]
    return build_plan(data)


def _promql_gate(text: str, index: int) -> dict:
    """'[NAME=]PROMQL OP THRESHOLD', e.g. 'errors=sum(rate(x[5m])) < 0.01'."""
    import re

    match = re.match(r"^(?:([A-Za-z][\w.-]*)=(?![=~]))?(.*?)\s*(<=|>=|==|!=|<|>)\s*(-?[0-9.]+(?:[eE][+-]?\d+)?)\s*$",
                     text, re.DOTALL)
    if not match or not match.group(2).strip():
        raise UsageError(f"--gate-promql: {text!r} is not 'PROMQL < THRESHOLD' (optionally NAME=PROMQL ...)")
    return {"name": match.group(1) or f"promql-{index}", "kind": "promql", "query": match.group(2).strip(),
            "pass_when": f"{match.group(3)} {match.group(4)}"}


def _when(ts) -> str:
    if ts is None:
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(ts))


def _event_line(event: dict) -> str:
    kind = event["type"]
    if kind == "step":
        return f"step {event['step']}: weight {event['weight']}%, bake {event.get('bake_seconds', 0):g}s"
    if kind == "gate":
        value = event.get("value")
        shown = f" value={value:.6g}" if isinstance(value, int | float) else ""
        action = f" -> {event['action']}" if event.get("action") else ""
        return f"  gate {event['gate']}: {event['verdict']}{shown} ({event['reason']}){action}"
    if kind in ("paused", "rolled-back", "failed", "promoted"):
        return f"{kind}: {event.get('reason') or ''}"
    if kind == "action":
        status = "ok" if event.get("ok") else f"FAILED: {event.get('error')}"
        weight = f" {event['weight']}%" if "weight" in event else ""
        return f"  {event['action']}{weight}: {status}"
    if kind == "operator":
        return f"operator {event.get('user')}: {event.get('action')} ({event.get('reason') or 'no reason'})"
    if kind == "warning":
        return f"warning: gate {event.get('gate')} {event.get('verdict')}: {event.get('reason')}"
    if kind == "created":
        return f"rollout {event['rollout']} of {event['plan']['target']} created"
    return f"{kind}"


def _event_printer(current, live=None):
    """NDJSON on stdout with -o json; a live view on a terminal; else one line per event on stderr."""
    def on_event(event: dict) -> None:
        if current.json:
            sys.stdout.write(json.dumps(event, default=str, separators=(",", ":")) + "\n")
            sys.stdout.flush()
        elif live is not None:
            live.update(event)
        elif event["type"] not in ("handled", "step-intent", "rollback-intent"):
            current.info(_event_line(event))
    return on_event


class LiveView:
    """The current step, progress through the bake and the last gate results, redrawn twice a second."""

    def __init__(self, current) -> None:
        self.current = current
        self.rollout = ""
        self.steps: list[int] = []
        self.step: dict = {}
        self.gates: dict[str, dict] = {}
        self.log: list[str] = []

    def update(self, event: dict) -> None:
        kind = event["type"]
        self.rollout = event.get("rollout", self.rollout)
        if kind == "created":
            self.steps = [s["weight"] for s in event["plan"]["steps"]]
        elif kind == "step":
            self.step = event
        elif kind == "gate":
            self.gates[event["gate"]] = event
        if kind in ("step", "paused", "rolled-back", "promoted", "failed", "operator", "warning"):
            self.log = [*self.log, f"{_when(event.get('ts'))} {_event_line(event)}"][-5:]

    def __rich__(self):
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        parts = [Text(f"rollout {self.rollout}  steps {self.steps}", style="bold")]
        if self.step:
            total = max(self.step["bake_until"] - self.step["started"], 0.001)
            done = min(max(time.time() - self.step["started"], 0.0), total)
            parts.append(Text(f"step {self.step['step']}/{len(self.steps)} at {self.step['weight']}%  "
                              f"bake {done:.0f}/{total:.0f}s"))
            parts.append(ProgressBar(total=total, completed=done, width=40))
        if self.gates:
            grid = Table("gate", "verdict", "value", "threshold", "reason", box=None)
            for gate in self.gates.values():
                value = gate.get("value")
                grid.add_row(gate["gate"], gate["verdict"], f"{value:.4g}" if isinstance(value, int | float) else "-",
                             str(gate.get("threshold") if gate.get("threshold") is not None else "-"),
                             gate.get("reason", ""))
            parts.append(grid)
        parts.extend(Text(line) for line in self.log)
        return Group(*parts)


def _run_with_view(current, action):
    """Run action(on_event) under a live view when stderr is a terminal and output is for people."""
    if current.json or current.quiet or not sys.stderr.isatty():
        return action(_event_printer(current))
    from rich.console import Console
    from rich.live import Live

    view = LiveView(current)
    with Live(view, console=Console(stderr=True, no_color=not current.color), refresh_per_second=2,
              transient=False):
        return action(_event_printer(current, view))


def _finish(current, state) -> int:
    from x0ctl.rollout import exit_code_for

    code = exit_code_for(state)
    summary = {"type": "result", **state.to_dict(), "exit_code": code}
    if current.json:
        sys.stdout.write(json.dumps(summary, default=str, separators=(",", ":")) + "\n")
        sys.stdout.flush()
    else:
        current.info(f"rollout {state.rollout_id}: {state.status} at {state.weight}%"
                     + (f" ({state.reason})" if state.reason else ""))
    return code


@app.command("canary")
def canary(
    ctx: typer.Context,
    step: Annotated[str | None, typer.Option("--step", metavar="PERCENT", show_default=False,
                                             help="Equal steps: 10 means 10, 20, ..., 100.")] = None,
    steps: Annotated[str | None, typer.Option("--steps", metavar="LIST", show_default=False,
                                              help="Weights with optional bake times: 1:5m,10:10m,50:15m,100. "
                                                   "Default: 1,10,50,100.")] = None,
    plan_file: Annotated[Path | None, typer.Option("--plan", "-f", show_default=False, metavar="FILE",
                                                   help="Plan file (YAML); flags override its keys.")] = None,
    target: Annotated[str | None, typer.Option("--target", "-t", show_default=False,
                                               help="What is rolled out (one rollout per target at a time).")] = None,
    version: Annotated[str | None, typer.Option("--version", show_default=False,
                                                help="The new version ({version} in commands).")] = None,
    bake: Annotated[str | None, typer.Option("--bake", show_default=False, metavar="DURATION",
                                             help="Bake time of steps without one. Default: 5m.")] = None,
    interval: Annotated[str | None, typer.Option("--interval", show_default=False, metavar="DURATION",
                                                 help="Gate evaluation interval during a bake. Default: 30s.")] = None,
    initial_delay: Annotated[str | None, typer.Option("--initial-delay", show_default=False, metavar="DURATION",
                                                      help="Wait after each weight change before judging.")] = None,
    set_weight_cmd: Annotated[str | None, typer.Option("--set-weight-cmd", show_default=False, metavar="CMD",
                                                       help="Command driver: sets the canary weight ({weight}).")] = None,
    promote_cmd: Annotated[str | None, typer.Option("--promote-cmd", show_default=False, metavar="CMD",
                                                    help="Command driver: run once at 100%.")] = None,
    rollback_cmd: Annotated[str | None, typer.Option("--rollback-cmd", show_default=False, metavar="CMD",
                                                     help="Command driver: back to the stable version.")] = None,
    cmd_timeout: Annotated[str | None, typer.Option("--cmd-timeout", show_default=False, metavar="DURATION",
                                                    help="Timeout of each driver command. Default: 60s.")] = None,
    cmd_retries: Annotated[int | None, typer.Option("--cmd-retries", show_default=False,
                                                    help="Retries of a failed driver command. Default: 2.")] = None,
    inventory: Annotated[Path | None, typer.Option("--inventory", show_default=False, metavar="FILE",
                                                   help="Nodes driver: the inventory of nodes.")] = None,
    upgrade_cmd: Annotated[str | None, typer.Option("--upgrade-cmd", show_default=False, metavar="CMD",
                                                    help="Nodes driver: upgrade one node ({node}, {host}).")] = None,
    downgrade_cmd: Annotated[str | None, typer.Option("--downgrade-cmd", show_default=False, metavar="CMD",
                                                      help="Nodes driver: roll one node back.")] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", show_default=False,
                                                    help="Nodes driver: nodes acted on at once. Default: 4.")] = None,
    selector: Annotated[str | None, typer.Option("--selector", "-l", show_default=False, metavar="'{label=\"v\"}'",
                                                 help="The canary's series for the SLO gate.")] = None,
    gate_promql: Annotated[list[str] | None, typer.Option("--gate-promql", show_default=False, metavar="EXPR",
                                                          help="A PromQL gate: '[NAME=]PROMQL < THRESHOLD' "
                                                               "(repeatable).")] = None,
    on_fail: Annotated[str | None, typer.Option("--on-fail", show_default=False, metavar="ACTION",
                                                help="rollback (default), pause or warn.")] = None,
    on_inconclusive: Annotated[str | None, typer.Option("--on-inconclusive", show_default=False, metavar="ACTION",
                                                        help="pause (default), rollback or warn.")] = None,
    on_error: Annotated[str | None, typer.Option("--on-error", show_default=False, metavar="ACTION",
                                                 help="pause (default), rollback or warn.")] = None,
    consecutive: Annotated[int | None, typer.Option("--consecutive", show_default=False,
                                                    help="Consecutive bad results before acting. Default: 1.")] = None,
    min_requests: Annotated[float | None, typer.Option("--min-requests", show_default=False,
                                                       help="Fewer requests over the window: inconclusive.")] = None,
    window: Annotated[str | None, typer.Option("--window", show_default=False, metavar="DURATION",
                                               help="Gate window. Default: 5m.")] = None,
    prometheus: PrometheusOption = None,
    timeout: TimeoutOption = 5.0,
    at: Annotated[str | None, typer.Option("--at", show_default=False, metavar="TIME",
                                           help="Judge recorded history from this instant (RFC 3339 or unix "
                                                "seconds) instead of now.")] = None,
    replay_speed: Annotated[float, typer.Option("--replay-speed", metavar="FACTOR",
                                                help="With --at: history seconds per wall second (0 = fixed).")] = 0.0,
    notify_webhook: Annotated[str | None, typer.Option("--notify-webhook", show_default=False, metavar="URL",
                                                       help="JSON POST on step, pause, rollback, promote.")] = None,
    state_dir: StateDirOption = None,
    output: OutputOption = None,
) -> None:
    """Roll out in stages, judge gates, roll back on a breach.

    Every weight change, gate result (PromQL as sent, value, threshold, verdict, reason) and decision goes to a crash-safe journal; after a crash, 'x0ctl rollout resume ID' continues from the saved deadlines. With -o json, events stream as NDJSON and the last line is the result. Exit: 0 promoted, 1 rolled back, 2 bad plan, 4 error, 6 paused or inconclusive.

    Examples:
      x0ctl rollout canary --steps 10:30s,50:1m,100 --set-weight-cmd 'kubectl argo rollouts set weight app {weight}' --rollback-cmd 'kubectl argo rollouts abort app' --prometheus http://prom:9090 --interval 10s
      x0ctl rollout canary --plan rollout.yaml -o json
    """
    current = get_app(ctx, output)
    from x0ctl.rollout import start
    from x0ctl.durations import parse_time

    plan = _gather_plan(plan_file, step, steps, target, version, bake, interval, initial_delay, set_weight_cmd,
                        promote_cmd, rollback_cmd, cmd_timeout, cmd_retries, inventory, upgrade_cmd, downgrade_cmd,
                        concurrency, selector, gate_promql, on_fail, on_inconclusive, on_error, consecutive,
                        min_requests, window, prometheus, notify_webhook)
    moment = parse_time(at, "--at") if at is not None else None
    if replay_speed < 0:
        raise UsageError("--replay-speed must be 0 or more")
    client = _client(prometheus or plan.prometheus, timeout)
    try:
        state = _run_with_view(current, lambda on_event: start(
            plan, client, state_dir=_state_dir(state_dir), at=moment, replay_speed=replay_speed, on_event=on_event))
    finally:
        client.close()
    raise typer.Exit(_finish(current, state))


@app.command("resume")
def resume_command(
    ctx: typer.Context,
    rollout_id: IdArgument,
    reason: ReasonOption = None,
    take_over: Annotated[bool, typer.Option("--take-over", help="Continue an orphaned rollout another process "
                                            "or machine left running (refused while its lease lives).")] = False,
    prometheus: PrometheusOption = None,
    timeout: TimeoutOption = 5.0,
    state_dir: StateDirOption = None,
    output: OutputOption = None,
) -> None:
    """Continue a rollout after a crash or a pause.

    After a crash the current weight is applied again (harmless by the drivers' contract) and the saved bake deadline holds; after a pause the step's bake starts again, or the next step starts when 'promote' was given meanwhile. With etcd state, a rollout whose owner died is orphaned: '--take-over' continues it from this machine, restarting the current step's bake so the gates are judged afresh.

    Examples:
      x0ctl rollout resume app-20250601T000000Z-1a2b --reason 'metrics fixed'
      x0ctl rollout resume app-20250601T000000Z-1a2b --take-over --state etcd://etcd:2379
    """
    current = get_app(ctx, output)
    from x0ctl.rollout import Plan, load_state, resume

    directory = _state_dir(state_dir)
    state = load_state(directory, rollout_id)
    plan = Plan.from_dict(state.plan)
    client = _client(prometheus or plan.prometheus, timeout)
    try:
        state = _run_with_view(current, lambda on_event: resume(
            rollout_id, client, state_dir=directory, reason=reason, on_event=on_event, take_over=take_over))
    finally:
        client.close()
    raise typer.Exit(_finish(current, state))


def _status_table(state) -> callable:
    def table(console) -> None:
        from rich.table import Table

        data = state.to_dict()
        console.print(f"[bold]{data['id']}[/bold]  target {data['target']}  {data['status']}"
                      f"  weight {data['weight']}%  step {data['step']}/{data['steps']} {data['weights']}")
        if data["reason"]:
            console.print(f"reason: {data['reason']}")
        if data["status"] == "running" and data["bake_until"]:
            remaining = max(0.0, data["bake_until"] - time.time())
            console.print(f"bake ends {_when(data['bake_until'])} ({remaining:.0f}s left)")
        if data["gates"]:
            grid = Table("gate", "verdict", "value", "threshold", "reason", "at")
            for gate in data["gates"]:
                value = gate.get("value")
                grid.add_row(gate["gate"], gate["verdict"], f"{value:.6g}" if isinstance(value, int | float) else "-",
                             str(gate.get("threshold") if gate.get("threshold") is not None else "-"),
                             gate.get("reason", ""), _when(gate.get("ts")))
            console.print(grid)
    return table


@app.command("status")
def status(
    ctx: typer.Context,
    rollout_id: Annotated[str | None, typer.Argument(metavar="[ID]", help="Default: the newest rollout.",
                                                          autocompletion=_complete_rollout_ids)] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until the rollout ends.")] = False,
    state_dir: StateDirOption = None,
    output: OutputOption = None,
) -> None:
    """Show a rollout's status, weight, bake deadline and last gates.

    The default rollout is the newest one in the state directory. With --watch, the view refreshes every 2 s until the rollout ends or pauses (with -o json, one JSON line per refresh). Exit: 0 promoted or running, 1 rolled back, 4 failed, 6 paused.

    Examples:
      x0ctl rollout status
      x0ctl rollout status app-20250601T000000Z-1a2b --watch
    """
    current = get_app(ctx, output)
    from x0ctl.rollout import exit_code_for, load_state

    directory = _state_dir(state_dir)
    if rollout_id is None:
        ids = directory.ids()
        if not ids:
            raise UsageError(f"no rollouts in {directory.root}")
        rollout_id = ids[-1]
    state = load_state(directory, rollout_id)
    while watch and not state.finished and state.status not in ("paused", "orphaned"):
        if current.json:
            sys.stdout.write(json.dumps(state.to_dict(), default=str, separators=(",", ":")) + "\n")
            sys.stdout.flush()
        else:
            _status_table(state)(current.console)
        time.sleep(2)
        state = load_state(directory, rollout_id)
    current.emit(state.to_dict(), _status_table(state))
    code = 0 if state.status == "running" else exit_code_for(state)
    raise typer.Exit(code)


@app.command("list")
def list_command(
    ctx: typer.Context,
    state_dir: StateDirOption = None,
    output: OutputOption = None,
) -> None:
    """List rollouts, oldest first.

    Every rollout in the state directory (--state-dir / X0CTL_STATE_DIR) with its target, status, weight and step.

    Examples:
      x0ctl rollout list -o json
    """
    current = get_app(ctx, output)
    from x0ctl.rollout import list_states

    directory = _state_dir(state_dir)
    damaged: list[str] = []
    states = [s.to_dict() for s in list_states(directory, damaged=damaged)]
    for rollout_id in damaged:
        current.warn(f"rollout {rollout_id!r}: damaged journal, not listed (see 'x0ctl rollout history {rollout_id}')")
    for item in states:
        item.pop("gates", None)

    def table(console) -> None:
        from rich.table import Table

        grid = Table("id", "target", "version", "status", "weight", "step", "updated")
        for item in states:
            grid.add_row(item["id"], item["target"], item["version"] or "-", item["status"], f"{item['weight']}%",
                         f"{item['step']}/{item['steps']}", _when(item["updated"]))
        console.print(grid)

    current.emit({"state_dir": str(directory.root), "rollouts": states}, table)


@app.command("history")
def history(
    ctx: typer.Context,
    rollout_id: IdArgument,
    state_dir: StateDirOption = None,
    output: OutputOption = None,
) -> None:
    """Show every journal event of a rollout.

    The plan, every weight change and driver command, every gate result (PromQL as sent, value, threshold, verdict, reason), every decision and every operator action with user and reason.

    Examples:
      x0ctl rollout history app-20250601T000000Z-1a2b -o json | jq '.events[] | select(.type=="gate")'
    """
    current = get_app(ctx, output)
    directory = _state_dir(state_dir)
    events = directory.journal(rollout_id).events()
    from x0ctl.rollout.journal import replay

    replay(rollout_id, events)  # a damaged journal is an error here too, not a half-rendered history

    def table(console) -> None:
        for event in events:
            console.print(f"{_when(event.get('ts'))}  {_event_line({'rollout': rollout_id, **event})}",
                          markup=False)

    current.emit({"id": rollout_id, "events": events}, table)


def _operator(ctx, action: str, rollout_id: str, reason, state_dir, output, full: bool = False) -> None:
    current = get_app(ctx, output)
    from x0ctl.rollout import operator_action

    result = operator_action(rollout_id, action, state_dir=_state_dir(state_dir), reason=reason, full=full,
                             on_event=None if current.json else _event_printer(current))
    current.emit(result, lambda console: console.print(
        f"{action} {rollout_id}: {result['delivered']}"
        + (f" (now {result['status']} at {result['weight']}%)" if "status" in result else "")))


@app.command("pause")
def pause(ctx: typer.Context, rollout_id: IdArgument, reason: ReasonOption = None, state_dir: StateDirOption = None,
          output: OutputOption = None) -> None:
    """Pause a rollout at its current weight.

    A running rollout stops within a second and exits 6; resume it with 'x0ctl rollout resume ID'. Your user and reason go to the journal.

    Examples:
      x0ctl rollout pause app-20250601T000000Z-1a2b --reason 'investigating latency'
    """
    _operator(ctx, "pause", rollout_id, reason, state_dir, output)


@app.command("abort")
def abort(ctx: typer.Context, rollout_id: IdArgument, reason: ReasonOption = None, state_dir: StateDirOption = None,
          output: OutputOption = None) -> None:
    """Abort a rollout (the same as rollback).

    The driver's rollback command runs and the stable version takes all traffic. Your user and reason go to the journal.

    Examples:
      x0ctl rollout abort app-20250601T000000Z-1a2b --reason 'wrong build'
    """
    _operator(ctx, "abort", rollout_id, reason, state_dir, output)


@app.command("rollback")
def rollback(ctx: typer.Context, rollout_id: IdArgument, reason: ReasonOption = None,
             state_dir: StateDirOption = None, output: OutputOption = None) -> None:
    """Roll a rollout back to 0%.

    The driver's rollback command runs (for the nodes driver, every node the rollout reached is downgraded). Your user and reason go to the journal.

    Examples:
      x0ctl rollout rollback app-20250601T000000Z-1a2b --reason 'error spike'
    """
    _operator(ctx, "rollback", rollout_id, reason, state_dir, output)


@app.command("promote")
def promote(
    ctx: typer.Context,
    rollout_id: IdArgument,
    full: Annotated[bool, typer.Option("--full", help="Skip every remaining step: straight to 100%.")] = False,
    reason: ReasonOption = None,
    state_dir: StateDirOption = None,
    output: OutputOption = None,
) -> None:
    """End the current step's bake now, or go to 100% with --full.

    A running rollout moves to the next step within a second. A paused one records the request; 'x0ctl rollout resume ID' then starts the next step. With --full the remaining steps are skipped: weight 100% and the promote command.

    Examples:
      x0ctl rollout promote app-20250601T000000Z-1a2b
      x0ctl rollout promote app-20250601T000000Z-1a2b --full --reason 'hotfix'
    """
    _operator(ctx, "promote", rollout_id, reason, state_dir, output, full=full)


@app.command("plan")
def plan_command(
    ctx: typer.Context,
    step: Annotated[str | None, typer.Option("--step", metavar="PERCENT", show_default=False,
                                             help="Equal steps: 10 means 10, 20, ..., 100.")] = None,
    steps: Annotated[str | None, typer.Option("--steps", metavar="LIST", show_default=False,
                                              help="Weights with optional bake times: 1:5m,10:10m,100.")] = None,
    plan_file: Annotated[Path | None, typer.Option("--plan", "-f", show_default=False, metavar="FILE",
                                                   help="Plan file (YAML).")] = None,
    bake: Annotated[str | None, typer.Option("--bake", show_default=False, metavar="DURATION")] = None,
    interval: Annotated[str | None, typer.Option("--interval", show_default=False, metavar="DURATION")] = None,
    initial_delay: Annotated[str | None, typer.Option("--initial-delay", show_default=False,
                                                      metavar="DURATION")] = None,
    set_weight_cmd: Annotated[str | None, typer.Option("--set-weight-cmd", show_default=False, metavar="CMD")] = None,
    rollback_cmd: Annotated[str | None, typer.Option("--rollback-cmd", show_default=False, metavar="CMD")] = None,
    selector: Annotated[str | None, typer.Option("--selector", "-l", show_default=False)] = None,
    gate_promql: Annotated[list[str] | None, typer.Option("--gate-promql", show_default=False,
                                                          metavar="EXPR")] = None,
    prometheus: PrometheusOption = None,
    timeout: TimeoutOption = 5.0,
    at: Annotated[str | None, typer.Option("--at", show_default=False, metavar="TIME",
                                           help="Run the gate queries at this instant.")] = None,
    no_query: Annotated[bool, typer.Option("--no-query", help="Only validate; do not query Prometheus.")] = False,
    output: OutputOption = None,
) -> None:
    """Dry run: validate a plan, show its schedule and test its gates.

    Prints the schedule, the ETA and the worst-case time to rollback, and runs every gate query once to prove it is valid and returns data. Nothing is changed on the mesh. Exit: 0 valid and every gate returned data; 2 invalid plan; 4 a gate query failed; 6 a gate returned no data.

    Examples:
      x0ctl rollout plan --steps 1:5m,10:10m,50:15m,100 --prometheus http://prom:9090 --set-weight-cmd 'echo {weight}' --rollback-cmd true
      x0ctl rollout plan -f rollout.yaml -o json
    """
    current = get_app(ctx, output)
    from x0ctl.rollout import evaluate_gate
    from x0ctl.durations import format_duration
    from x0ctl.durations import parse_time

    if plan_file is None:
        set_weight_cmd = set_weight_cmd or "true"
        rollback_cmd = rollback_cmd or "true"
    plan = _gather_plan(plan_file, step, steps, None, None, bake, interval, initial_delay, set_weight_cmd, None,
                        rollback_cmd, None, None, None, None, None, None, selector, gate_promql, None, None, None,
                        None, None, None, prometheus, None)
    schedule, elapsed = [], 0.0
    for index, item in enumerate(plan.steps):
        elapsed += plan.initial_delay + item.bake
        schedule.append({"step": index + 1, "weight": item.weight, "bake_seconds": item.bake,
                         "ends_after_seconds": elapsed})
    checks = []
    if not no_query:
        moment = parse_time(at, "--at") if at is not None else None
        client = _client(prometheus or plan.prometheus, timeout)
        try:
            checks = [evaluate_gate(gate, client, moment) for gate in plan.gates]
        finally:
            client.close()
    data = {"plan": plan.to_dict(), "schedule": schedule, "eta_seconds": plan.eta_seconds(),
            "worst_case_rollback_seconds": plan.worst_case_rollback_seconds(), "gates": checks}

    def table(console) -> None:
        from rich.table import Table

        grid = Table("step", "weight", "bake", "done after")
        for row in schedule:
            grid.add_row(str(row["step"]), f"{row['weight']}%", format_duration(row["bake_seconds"]),
                         format_duration(row["ends_after_seconds"]))
        console.print(grid)
        console.print(f"ETA {format_duration(data['eta_seconds'])}; worst case to rollback "
                      f"{format_duration(data['worst_case_rollback_seconds'])}")
        for check in checks:
            console.print(f"gate {check['gate']}: {check['verdict']} ({check['reason']})", markup=False)

    current.emit(data, table)
    failed = [c for c in checks if c["verdict"] == "error"]
    if failed:
        raise IOFailure(f"gate {failed[0]['gate']!r} could not be evaluated: {failed[0]['reason']}"
                        + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""))
    if any(c["verdict"] == "inconclusive" for c in checks):
        raise typer.Exit(6)
