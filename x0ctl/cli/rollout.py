"""`x0ctl rollout`: staged canary rollouts gated on SLOs, with automatic rollback.

The work is done by x0ctl.rollout (imported lazily in each command); this module parses options,
renders results and maps outcomes to exit codes: promoted 0, rolled back 1, usage 2,
environment 3, error 4, paused/inconclusive 6.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from x0ctl.cli.app import OutputOption, get_app
from x0ctl.cli.options import PrometheusConnection, option_bundle, prometheus_options
from x0ctl.cli.rollout_state import StateOption, group_options, open_store, state_app
from x0ctl.errors import UsageError
from x0ctl.urls import url_needs_secrets

if TYPE_CHECKING:
    from x0ctl.rollout import PlanRequest

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
ReasonOption = Annotated[
    str | None, typer.Option("--reason", "-r", show_default=False, help="Why (kept in the journal with your user)."),
]


def _option(name: str, help_text: str, metavar: str | None = None, *aliases: str, kind=str | None):
    return (Annotated[kind, typer.Option(name, *aliases, show_default=False, metavar=metavar, help=help_text)], None)


# The flags that make a plan, declared once: `canary` and `plan` both take exactly these, so any canary
# command line dry-runs unchanged. A command gets them as one `request: PlanRequest`.
_PLAN_PARAMETERS = {
    "step": _option("--step", "Equal steps: 10 means 10, 20, ..., 100.", "PERCENT"),
    "steps": _option("--steps", "Weights with optional bake times: 1:5m,10:10m,50:15m,100. Default: 1,10,50,100.",
                     "LIST"),
    "plan_file": _option("--plan", "Plan file (YAML); flags override its keys.", "FILE", "-f", kind=Path | None),
    "target": _option("--target", "What is rolled out (one rollout per target at a time).", "NAME", "-t"),
    "version": _option("--version", "The new version ({version} in commands, {{version}} in gate PromQL).",
                       "VERSION"),
    "bake": _option("--bake", "Bake time of steps without one. Default: 5m.", "DURATION"),
    "interval": _option("--interval", "Gate evaluation interval during a bake. Default: 30s.", "DURATION"),
    "initial_delay": _option("--initial-delay", "Wait after each weight change before the first gate round. "
                             "Default: 0.", "DURATION"),
    "data_wait": _option("--data-wait", "After each weight change, gates without data yet are waited out this long "
                         "before their inconclusive action. Default: 2m (two 1m scrapes).", "DURATION"),
    "set_weight_cmd": _option("--set-weight-cmd", "Command driver: sets the canary weight ({weight}).", "CMD"),
    "promote_cmd": _option("--promote-cmd", "Command driver: run once at 100%.", "CMD"),
    "rollback_cmd": _option("--rollback-cmd", "Command driver: back to the stable version.", "CMD"),
    "cmd_timeout": _option("--cmd-timeout", "Timeout of each driver command. Default: 60s.", "DURATION"),
    "cmd_retries": _option("--cmd-retries", "Retries of a failed driver command. Default: 2.", "N", kind=int | None),
    "inventory": _option("--inventory", "Nodes driver: the inventory of nodes.", "FILE", kind=Path | None),
    "upgrade_cmd": _option("--upgrade-cmd", "Nodes driver: upgrade one node ({node}, {host}).", "CMD"),
    "downgrade_cmd": _option("--downgrade-cmd", "Nodes driver: roll one node back.", "CMD"),
    "concurrency": _option("--concurrency", "Nodes driver: nodes acted on at once. Default: 4.", "N",
                           kind=int | None),
    "selector": _option("--selector", "The canary's series for the SLO gate.", "'{label=\"v\"}'", "-l"),
    "gate_promql": _option("--gate-promql", "A PromQL gate: '[NAME=]PROMQL < THRESHOLD' (repeatable).", "EXPR",
                           kind=list[str] | None),
    "on_fail": _option("--on-fail", "Action on a failing gate: rollback (default), pause or warn.",
                       "rollback|pause|warn"),
    "on_inconclusive": _option("--on-inconclusive", "Action on a gate without data: pause (default), rollback or "
                               "warn.", "rollback|pause|warn"),
    "on_error": _option("--on-error", "Action when a gate cannot be evaluated: pause (default), rollback or warn.",
                        "rollback|pause|warn"),
    "consecutive": _option("--consecutive", "Consecutive bad results before acting. Default: 1.", "N",
                           kind=int | None),
    "min_requests": _option("--min-requests", "Fewer requests over the window: inconclusive. Default: 1 for SLO "
                            "gates.", "N", kind=float | None),
    "window": _option("--window", "Gate window. Default: 5m.", "DURATION"),
    "notify_webhook": _option("--notify-webhook", "JSON POST on step, pause, rollback, promote (its secrets are "
                              "never printed or journaled).", "URL"),
}


def _plan_request(**values) -> PlanRequest:
    from x0ctl.rollout import PlanRequest

    return PlanRequest(**{**values, "gate_promql": tuple(values["gate_promql"] or ())})


def plan_options(command: Callable) -> Callable:
    """Give `command` every plan flag; it receives them as `request: PlanRequest`."""
    return option_bundle(command, "request", _plan_request, _PLAN_PARAMETERS, prefix="plan_")


AtOption = Annotated[str | None, typer.Option("--at", show_default=False, metavar="TIME", help=(
    "Judge recorded history from this instant (RFC 3339 or unix seconds) instead of now."))]
ReplaySpeedOption = Annotated[float, typer.Option("--replay-speed", metavar="FACTOR",
                                                  help="With --at: history seconds per wall second (0 = fixed).")]
NotifyWebhookOption = _PLAN_PARAMETERS["notify_webhook"][0]


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


QUIET_EVENTS = ("handled", "step-intent", "rollback-intent", "heartbeat")


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
    if kind == "interrupted":
        return f"interrupted: {event.get('reason')}"
    if kind == "unwatched":
        return (f"resumed after {event.get('seconds', 0):.0f}s unwatched: the next round judges all of it, the "
                f"step waits {event.get('wait', 0):g}s more at least")
    if kind == "owner":
        return f"driven by pid {event.get('pid')} on {event.get('host')}"
    return f"{kind}"


def _event_printer(current, live=None):
    """NDJSON on stdout with -o json; a live view on a terminal; else one line per event on stderr."""
    def on_event(event: dict) -> None:
        if current.json:
            sys.stdout.write(json.dumps(event, default=str, separators=(",", ":")) + "\n")
            sys.stdout.flush()
        elif live is not None:
            live.update(event)
        elif event["type"] not in QUIET_EVENTS:
            current.info(_event_line(event))
    return on_event


class LiveView:
    """The current step, progress through the bake and the last gate results, redrawn twice a second."""

    def __init__(self, current, start: dict) -> None:
        """`start`: the rollout as it is before the loop runs (a status dict; for a new one, its weights)."""
        self.current = current
        self.rollout = start.get("id", "")
        self.steps: list[int] = list(start.get("weights", []))
        self.step: dict = {}
        if start.get("step") and start.get("step_started") is not None:
            self.step = {"step": start["step"], "weight": start["weight"], "started": start["step_started"],
                         "bake_until": start.get("bake_until") or start["step_started"]}
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
        if kind in ("step", "paused", "rolled-back", "promoted", "failed", "operator", "warning", "unwatched"):
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


def _run_with_view(current, start: dict, action):
    """Run action(on_event) under a live view when stderr is a terminal and output is for people."""
    if current.json or current.quiet or not sys.stderr.isatty():
        return action(_event_printer(current))
    from rich.console import Console
    from rich.live import Live

    view = LiveView(current, start)
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
@prometheus_options
@plan_options
def canary(
    ctx: typer.Context,
    prom: PrometheusConnection,
    request: PlanRequest,
    at: AtOption = None,
    replay_speed: ReplaySpeedOption = 0.0,
    state_dir: StateDirOption = None,
    output: OutputOption = None,
) -> None:
    """Roll out in stages, judge gates, roll back on a breach.

    Every weight change, gate result (PromQL as sent, value, threshold, verdict, reason) and decision goes to a crash-safe journal with the owning process and a heartbeat; after a crash, 'x0ctl rollout resume ID' continues from the saved deadlines and first judges the time nobody watched. With -o json, events stream as NDJSON and the last line is the result. Exit: 0 promoted, 1 rolled back, 2 bad plan, 4 error, 6 paused or inconclusive, 130 interrupted (SIGINT/SIGTERM, journaled).

    Examples:
      x0ctl rollout canary --steps 10:30s,50:1m,100 --set-weight-cmd './set-canary-weight app {weight}' --rollback-cmd './set-canary-weight app 0' --prometheus http://prom:9090 --interval 10s
      x0ctl rollout canary --plan rollout.yaml -o json
    """
    current = get_app(ctx, output)
    from x0ctl.rollout import plan_from_request, start
    from x0ctl.durations import parse_time

    plan = plan_from_request(replace(request, prometheus=prom.url))
    moment = parse_time(at, "--at") if at is not None else None
    if replay_speed < 0:
        raise UsageError("--replay-speed must be 0 or more")
    client = prom.with_default_url(plan.prometheus).client()
    try:
        weights = {"weights": [s.weight for s in plan.steps]}
        state = _run_with_view(current, weights, lambda on_event: start(
            plan, client, state_dir=_state_dir(state_dir), at=moment, replay_speed=replay_speed, on_event=on_event))
    finally:
        client.close()
    raise typer.Exit(_finish(current, state))


@app.command("resume")
@prometheus_options
def resume_command(
    ctx: typer.Context,
    rollout_id: IdArgument,
    prom: PrometheusConnection,
    reason: ReasonOption = None,
    notify_webhook: NotifyWebhookOption = None,
    take_over: Annotated[bool, typer.Option("--take-over", help="Continue an orphaned rollout another process "
                                            "or machine left running (refused while its lease lives).")] = False,
    state_dir: StateDirOption = None,
    output: OutputOption = None,
) -> None:
    """Continue a rollout after a crash or a pause.

    After a crash the current weight is applied again (harmless by the drivers' contract) and the saved bake deadline holds; after a pause the step's bake starts again, or the next step starts when 'promote' was given meanwhile. Either way the first gate round judges the whole time nobody watched, and the step cannot end before one full gate window after the resume. Secrets are not in the journal: give --prometheus (or X0CTL_PROMETHEUS_URL, a token file ...) and --notify-webhook again when they had credentials. With etcd state, a rollout whose owner died is orphaned: '--take-over' continues it from this machine, restarting the current step's bake so the gates are judged afresh.

    Examples:
      x0ctl rollout resume app-20250601T000000Z-1a2b --reason 'metrics fixed'
      x0ctl rollout resume app-20250601T000000Z-1a2b --take-over --state etcd://etcd:2379
    """
    current = get_app(ctx, output)
    from x0ctl.rollout import load_state, plan_for_resume, resume

    directory = _state_dir(state_dir)
    state = load_state(directory, rollout_id)
    plan = plan_for_resume(state, notify_webhook=notify_webhook)
    prom = prom.with_default_url(plan.prometheus)  # --prometheus or X0CTL_PROMETHEUS_URL win over the plan's
    if url_needs_secrets(prom.url):
        raise UsageError(f"rollout {rollout_id}: its Prometheus URL ({prom.url}) had secrets, which the journal does "
                         "not keep: give --prometheus URL (or X0CTL_PROMETHEUS_URL) again")
    client = prom.client()
    try:
        state = _run_with_view(current, state.to_dict(), lambda on_event: resume(
            rollout_id, client, state_dir=directory, reason=reason, on_event=on_event,
            notify_webhook=notify_webhook, take_over=take_over))
    finally:
        client.close()
    raise typer.Exit(_finish(current, state))


def _status_table(state) -> callable:
    def table(console) -> None:
        data = state.to_dict()
        console.print(f"[bold]{data['id']}[/bold]  target {data['target']}  {data['status']}"
                      f"  weight {data['weight']}%  step {data['step']}/{data['steps']} {data['weights']}")
        if data["reason"]:
            console.print(f"reason: {data['reason']}")
        if data["owner"] and data["status"] in ("running", "orphaned"):
            owner = data["owner"]
            console.print(f"owner: pid {owner.get('pid')} on {owner.get('host')}, last event {_when(data['last_event'])}",
                          markup=False)
        if data["status"] == "running" and data["bake_until"]:
            remaining = max(0.0, data["bake_until"] - time.time())
            console.print(f"bake ends {_when(data['bake_until'])} ({remaining:.0f}s left)")
        if data["gates"]:
            grid = console.table("gate", "verdict", "value", "threshold", ("reason", {"overflow": "fold"}), "at")
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

    The default rollout is the newest one in the state directory. A running rollout whose process is gone (killed, host down: no heartbeat for 30 s) shows as orphaned; 'x0ctl rollout resume ID' takes it over. With --watch, the view refreshes every 2 s until the rollout ends, pauses or is orphaned (with -o json, one JSON line per refresh). Exit: 0 promoted or running, 1 rolled back, 4 failed (a driver error), 6 paused, inconclusive or orphaned.

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
    while watch and state.status == "running" and not state.orphaned:
        if current.json:
            sys.stdout.write(json.dumps(state.to_dict(), default=str, separators=(",", ":")) + "\n")
            sys.stdout.flush()
        else:
            _status_table(state)(current.console)
        time.sleep(2)
        state = load_state(directory, rollout_id)
    current.emit(state.to_dict(), _status_table(state))
    code = 0 if state.status == "running" and not state.orphaned else exit_code_for(state)
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
        grid = console.table("id", "target", "version", "status", "weight", "step", "updated")
        for item in states:
            grid.add_row(item["id"], item["target"], item["version"] or "-", item["status"], f"{item['weight']}%",
                         f"{item['step']}/{item['steps']}", _when(item["updated"]))
        console.print(grid)

    current.emit({"state_dir": str(directory.root), "rollouts": states}, table, ids=[item["id"] for item in states])


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
            if event.get("type") == "heartbeat":
                continue
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
@prometheus_options
@plan_options
def plan_command(
    ctx: typer.Context,
    prom: PrometheusConnection,
    request: PlanRequest,
    at: Annotated[str | None, typer.Option("--at", show_default=False, metavar="TIME",
                                           help="Run the gate queries at this instant (RFC 3339 or unix "
                                                "seconds).")] = None,
    replay_speed: Annotated[float, typer.Option("--replay-speed", metavar="FACTOR",
                                                help="Accepted as 'canary' takes it; a dry run judges one "
                                                     "instant.")] = 0.0,
    state_dir: Annotated[str | None, typer.Option("--state", "--state-dir", envvar=["X0CTL_STATE", "X0CTL_STATE_DIR"],
                                                  show_default=False, metavar="DIR|URL",
                                                  help="Accepted as 'canary' takes it; a dry run writes no "
                                                       "state.")] = None,
    no_query: Annotated[bool, typer.Option("--no-query", help="Only validate; do not query Prometheus.")] = False,
    output: OutputOption = None,
) -> None:
    """Dry run: validate a plan, show its schedule and test its gates.

    Takes every flag 'canary' takes, so any canary command line dry-runs unchanged with 'plan'. Prints the schedule, the ETA, the worst-case time to rollback and when gates are first judged, and runs every gate query once to prove it is valid and returns data. Nothing is changed on the mesh. Exit: 0 valid and every gate returned data; 2 invalid plan; 4 a gate query failed; 5 a gate returned no data.

    Examples:
      x0ctl rollout plan --steps 1:5m,10:10m,50:15m,100 --prometheus http://prom:9090 --set-weight-cmd 'echo {weight}' --rollback-cmd true
      x0ctl rollout plan -f rollout.yaml -o json
    """
    current = get_app(ctx, output)
    from x0ctl.rollout import dry_run, plan_from_request
    from x0ctl.durations import format_duration
    from x0ctl.durations import parse_time

    del replay_speed, state_dir  # a dry run judges one instant and writes nothing
    plan = plan_from_request(replace(request, prometheus=prom.url), dry_run=True)
    client = prom.with_default_url(plan.prometheus).client()  # the connection options are checked either way
    try:
        result = dry_run(plan, None if no_query else client, parse_time(at, "--at") if at is not None else None)
    finally:
        client.close()
    data = result.to_dict()

    def table(console) -> None:
        grid = console.table("step", "weight", "bake", "done after")
        for row in result.schedule:
            grid.add_row(str(row.step), f"{row.weight}%", format_duration(row.bake_seconds),
                         format_duration(row.ends_after_seconds))
        console.print(grid)
        console.print(f"ETA {format_duration(data['eta_seconds'])}; worst case to rollback "
                      f"{format_duration(data['worst_case_rollback_seconds'])}")
        console.print(f"first judgement {format_duration(plan.initial_delay)} after each weight change; gates "
                      f"without data yet are waited out for up to {format_duration(plan.data_wait)}", markup=False)
        for check in result.gates:
            console.print(f"gate {check['gate']}: {check['verdict']} ({check['reason']})", markup=False)

    current.emit(data, table)
    result.raise_for_gates()


@app.command("import-analysis")
def import_analysis(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="YAML with AnalysisTemplate / ClusterAnalysisTemplate objects.",
                                         metavar="FILE")],
    arg: Annotated[list[str] | None, typer.Option("--arg", metavar="NAME=VALUE", show_default=False,
                                                  help="Value of a template arg ({{args.NAME}}), repeatable.")] = None,
    output: OutputOption = None,
) -> None:
    """Turn an Argo Rollouts AnalysisTemplate's Prometheus metrics into x0ctl rollout gates.

    Each Prometheus metric becomes a promql gate: its query ({{args.NAME}} filled from --arg or the template's defaults; an arg with no value is refused) and pass_when from successCondition (or the opposite of failureCondition) written as result[0] OP NUMBER. Other providers are listed as skipped. Prints the gates as YAML to paste under a plan's gates:, or -o json.

    Examples:
      x0ctl rollout import-analysis infra/argo-rollouts/analysis.yaml --arg service-name=x0-node
      x0ctl rollout import-analysis analysis.yaml -o json | jq '.gates'
    """
    import yaml

    from x0ctl.rollout.analysis import import_analysis_file

    app_ = get_app(ctx, output)
    values = {}
    for item in arg or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--arg {item!r}: write NAME=VALUE")
        values[name.strip()] = value
    report = import_analysis_file(file, values)
    if app_.json:
        app_.emit(report.to_dict(), lambda console: None)
        return
    sys.stdout.write(yaml.safe_dump({"gates": report.gates}, sort_keys=False, width=1_000_000))
    for skipped in report.skipped:
        app_.info(f"skipped {skipped['template']}/{skipped['metric']}: {skipped['reason']}")
