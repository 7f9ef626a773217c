"""The rollout loop: set a weight, bake while the gates are evaluated, then advance, pause or roll back.

Everything the loop decides is written to the journal first; the state is replayed from it, so a
process killed at any point resumes where it was (`resume`), re-applying the current weight
(idempotent by the drivers' contract) and keeping the saved bake deadlines.

Operator actions (pause, abort, rollback, promote) are journal events too: written by another
process while the loop runs, they are picked up within a second.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from x0ctl.errors import ExitCode, IOFailure, UsageError
from x0ctl.rollout.drivers import Context, DriverError, make_driver
from x0ctl.rollout.gates import evaluate_gate
from x0ctl.rollout.journal import Journal, RolloutState, StateDir, new_rollout_id, replay
from x0ctl.rollout.notify import NOTIFY_EVENTS, post_json
from x0ctl.rollout.owner import Heartbeat, orphan_reason, this_process
from x0ctl.durations import format_duration
from x0ctl.rollout.plan import Plan
from x0ctl.urls import url_needs_secrets
from x0ctl.rollout.state import LeaseLost, StateStoreError, actor, mark_orphaned

OPERATOR_POLL = 1.0  # seconds between looks at the journal for operator actions while baking
_SEVERITY = {"warn": 0, "pause": 1, "rollback": 2}


class Terminated(KeyboardInterrupt):
    """SIGTERM while a rollout loop runs: handled like Ctrl-C (journaled as `interrupted`, exit 130)."""


def exit_code_for(state: RolloutState) -> int:
    """promoted 0; rolled back 1 (a gate failed, or an operator); paused, inconclusive or orphaned 6;
    error 4 (a driver failed: rolled back on an error, or failed). A running rollout has no exit code of
    its own: `rollout status` shows 0 for it while it is driven."""
    if state.status == "promoted":
        return int(ExitCode.OK)
    if state.status == "failed" or (state.status == "rolled-back" and state.cause == "error"):
        return int(ExitCode.IO)
    if state.status == "rolled-back":
        return int(ExitCode.PAUSED if state.cause == "inconclusive" else ExitCode.CHECK_FAILED)
    return int(ExitCode.PAUSED)


def observed(state: RolloutState, now: float | None = None) -> RolloutState:
    """The state with `orphaned` set when it says running but nobody drives it any more."""
    state.orphaned = orphan_reason(state.status, state.owner, state.interrupted, state.updated, now)
    return state


def load_state(state_dir: StateDir, rollout_id: str) -> RolloutState:
    return mark_orphaned(state_dir, observed(replay(rollout_id, state_dir.journal(rollout_id).events())))


def list_states(state_dir: StateDir, damaged: list[str] | None = None) -> list[RolloutState]:
    """Every readable rollout; the ids of unreadable journals are appended to `damaged`."""
    states = []
    for rollout_id in state_dir.ids():
        try:
            states.append(load_state(state_dir, rollout_id))
        except (UsageError, IOFailure):
            if damaged is not None:
                damaged.append(rollout_id)
    return states


@contextlib.contextmanager
def _stops_journaled(journal: Journal):
    """A loop stopped by SIGINT, SIGTERM (main thread only) or a closed output leaves an `interrupted`
    event saying why, so `status` shows at once that nobody drives the rollout any more."""
    in_main = threading.current_thread() is threading.main_thread()

    def terminate(_signum, _frame):
        raise Terminated("SIGTERM")

    previous = signal.signal(signal.SIGTERM, terminate) if in_main else None
    try:
        yield
    except KeyboardInterrupt as exc:
        journal.append("interrupted", reason="SIGTERM" if isinstance(exc, Terminated) else "SIGINT")
        raise
    except BrokenPipeError:
        journal.append("interrupted", reason="its output was closed")
        raise
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


@dataclass
class Runner:
    state_dir: StateDir
    journal: Journal
    plan: Plan
    client: object  # x0ctl.slo.PrometheusClient
    on_event: Callable[[dict], None] | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    _driver: object = field(default=None, repr=False)

    @property
    def rollout_id(self) -> str:
        return self.journal.rollout_id

    @property
    def driver(self):
        if self._driver is None:
            self._driver = make_driver(self.plan.driver, Context(self.rollout_id, self.plan.target,
                                                                 self.plan.version))
        return self._driver

    def record(self, event_type: str, **fields) -> dict:
        event = self.journal.append(event_type, **fields)
        if self.on_event is not None:
            self.on_event({"rollout": self.rollout_id, **event})
        if self.plan.notify_webhook and event_type in NOTIFY_EVENTS:
            payload = {"rollout": self.rollout_id, "target": self.plan.target, "version": self.plan.version,
                       **event}
            problem = post_json(self.plan.notify_webhook, payload)
            if problem:
                self.journal.append("notify-failed", event=event_type, reason=problem)
        return event

    def state(self) -> RolloutState:
        return replay(self.rollout_id, self.journal.events())

    def eval_time(self, state: RolloutState) -> float | None:
        """None = the server's now; a replay (`--at`) maps wall time onto recorded history."""
        if not state.replay:
            return None
        origin = state.replay
        return origin["at"] + (self.clock() - origin["wall"]) * origin.get("speed", 0.0)

    def _enter_step(self, index: int, state: RolloutState, note: str | None = None) -> bool:
        step = self.plan.steps[index]
        previous = state.weight if state.step_index >= 0 else 0
        self.record("step-intent", step=index + 1, weight=step.weight)
        try:
            record = self.driver.set_weight(step.weight, index + 1, previous)
        except DriverError as exc:
            self.record("action", action="set-weight", weight=step.weight, ok=False, error=exc.message,
                        detail=getattr(exc, "record", None))
            self._rollback(state, "error", f"set-weight {step.weight}% failed: {exc.message}")
            return False
        self.record("action", action="set-weight", weight=step.weight, ok=True, detail=record)
        now = self.clock()
        fields = {"note": note} if note else {}
        self.record("step", step=index + 1, weight=step.weight, started=now,
                    gates_after=now + self.plan.initial_delay,
                    bake_until=now + self.plan.initial_delay + step.bake, bake_seconds=step.bake, **fields)
        return True

    def _rollback(self, state: RolloutState, cause: str, reason: str, **extra) -> None:
        step = state.step_index + 1
        self.record("rollback-intent", cause=cause, reason=reason)
        try:
            record = self.driver.rollback(step, max(state.max_weight, state.weight,
                                                    self.plan.steps[max(state.intended_step, 0)].weight))
        except DriverError as exc:
            self.record("action", action="rollback", ok=False, error=exc.message, detail=getattr(exc, "record", None))
            self.record("failed", reason=f"{reason}; then the rollback failed: {exc.message}", cause=cause)
            return
        self.record("action", action="rollback", ok=True, detail=record)
        self.record("rolled-back", cause=cause, reason=reason, from_weight=state.weight, **extra)

    def _promote(self, state: RolloutState, reason: str) -> None:
        step = len(self.plan.steps)
        try:
            if state.weight != 100:
                self.driver.set_weight(100, step, state.weight)
                self.record("action", action="set-weight", weight=100, ok=True)
            record = self.driver.promote(step)
        except DriverError as exc:
            self.record("action", action="promote", ok=False, error=exc.message)
            self.record("failed", reason=f"promotion failed: {exc.message}", cause="error")
            return
        if record is not None:
            self.record("action", action="promote", ok=True, detail=record)
        self.record("promoted", reason=reason)

    def run(self, *, resumed: bool = False) -> RolloutState:
        """Drive the rollout to an end or a pause, as its recorded owner, with a heartbeat."""
        with _stops_journaled(self.journal):
            self.journal.append("owner", **this_process())
            with Heartbeat(lambda: self.journal.append("heartbeat")):
                return self._drive(resumed)

    def _drive(self, resumed: bool) -> RolloutState:
        state = self.state()
        if state.rollback_started is not None:
            # the process died while rolling back: finish it (rollback commands are idempotent)
            started = state.rollback_started
            self._rollback(state, started["cause"], f"{started['reason']} (finished after a restart)")
            return self.state()
        if state.step_index < 0 or (resumed and state.intended_step > state.step_index):
            # a weight change began but its step was never recorded: do it again
            if not self._enter_step(max(state.intended_step, 0), state):
                return self.state()
        elif resumed and state.status == "running":
            # a crash: the weight may or may not have been applied; applying it again is harmless
            try:
                record = self.driver.set_weight(state.weight, state.step_index + 1, None)
                self.record("action", action="set-weight", weight=state.weight, ok=True, reapplied=True,
                            detail=record)
            except DriverError as exc:
                self.record("action", action="set-weight", weight=state.weight, ok=False, error=exc.message)
                self._rollback(state, "error", f"re-applying {state.weight}% failed: {exc.message}")
                return self.state()
        next_round = 0.0
        while True:
            state = self.state()
            if state.status != "running":
                return state
            if self._handle_operator(state):
                continue
            now = self.clock()
            last_step = state.step_index == len(self.plan.steps) - 1
            if state.full_promotion_requested:
                self._promote(state, "promoted to 100% by an operator (--full)")
                continue
            if state.advance_requested or (now >= state.bake_until and self._judged(state)):
                why = "operator promoted the step" if state.advance_requested else "gates passed"
                if last_step:
                    self._promote(state, why)
                else:
                    self._enter_step(state.step_index + 1, state, note=why)
                next_round = 0.0
                continue
            if now >= state.gates_after and now >= next_round:
                self._evaluate(state)
                next_round = self.clock() + self.plan.interval
                continue
            targets = (state.bake_until, next_round if now >= state.gates_after else state.gates_after)
            wake = min((t for t in targets if t > now), default=now + OPERATOR_POLL)
            self.sleep(max(0.01, min(wake - now, OPERATOR_POLL)))

    def _judged(self, state: RolloutState) -> bool:
        """The step may end: a round ran at this weight and none of its gates holds the rollout back.

        `warn` lets a fail or an inconclusive result through (the operator chose so), never an error:
        with Prometheus unreachable the bake goes on, warning every round, and nothing is promoted.
        """
        if state.catch_up is not None:
            return False  # the unwatched interval of a resume has not been judged yet
        results = [state.last_gates.get(g.name) for g in self.plan.gates]
        # only rounds since this step (re)started, and since a resume, count: a bake restarted after a
        # pause is judged afresh, and nothing from before a crash lets a resumed rollout advance
        since = max(state.step_started or 0, state.judged_since or 0)
        if any(r is None or r.get("at_step") != state.step_index + 1 or r.get("ts", 0) + 0.002 < since
               for r in results):
            return False
        return all(r["verdict"] == "pass" or (r.get("action") == "warn" and r["verdict"] != "error")
                   for r in results)

    def history_seconds(self, state: RolloutState, wall_seconds: float) -> float:
        """Wall seconds as seconds of the history the gates judge (a replay may run faster or stand still)."""
        if not state.replay:
            return wall_seconds
        return wall_seconds * float(state.replay.get("speed") or 0.0)

    def _evaluate(self, state: RolloutState) -> None:
        at = self.eval_time(state)
        now = self.clock()
        decisions = []
        streaks = {k: list(v) for k, v in state.streaks.items()}
        waiting_for_data = (state.step_started is not None
                            and now < state.step_started + self.plan.initial_delay + self.plan.data_wait)
        for gate in self.plan.gates:
            judged, extra = gate, {}
            if state.catch_up is not None:
                # nobody watched since the last round before the crash or pause: judge all of it now
                unwatched = self.history_seconds(state, now - float(state.catch_up["from"]))
                judged = replace(gate, window=max(gate.window, unwatched))
                extra = {"catch_up": True, "window_seconds": judged.window}
            outcome = evaluate_gate(judged, self.client, at)
            verdict = outcome["verdict"]
            if verdict == "fail" and state.after_rollback and now - judged.window < state.after_rollback["ts"]:
                outcome["reason"] += (f" (the {format_duration(judged.window)} window still holds data from before "
                                      f"rollout {state.after_rollback['id']} was rolled back "
                                      f"{now - state.after_rollback['ts']:.0f}s ago: retry after "
                                      f"{format_duration(state.after_rollback['ts'] + judged.window - now)}, or "
                                      f"judge a shorter --window)")
            streak = streaks.get(gate.name)
            count = streak[1] + 1 if streak and streak[0] == verdict and verdict != "pass" else (
                0 if verdict == "pass" else 1)
            streaks[gate.name] = [verdict, count]
            action = gate.action_for(verdict)
            if action is not None and verdict == "inconclusive" and waiting_for_data:
                outcome["pending"] = (f"waiting for data: up to {format_duration(self.plan.data_wait)} after the "
                                      "weight change")
                action_now = None
            elif action is not None and count < gate.consecutive:
                outcome["pending"] = f"{count} of {gate.consecutive} consecutive {verdict} before {action}"
                action_now = None
            else:
                action_now = action
            self.record("gate", at_step=state.step_index + 1, weight=state.weight, action=action_now, **outcome,
                        **extra)
            if action_now:
                decisions.append((action_now, verdict, outcome))
        if not decisions:
            return
        action, verdict, outcome = max(decisions, key=lambda d: _SEVERITY[d[0]])
        reason = f"gate {outcome['gate']} {verdict}: {outcome['reason']}"
        if action == "rollback":
            self._rollback(self.state(), verdict, reason, gate=outcome["gate"])
        elif action == "pause":
            self.record("paused", cause=verdict, reason=reason, gate=outcome["gate"])
        else:
            for warn_action, warn_verdict, warn_outcome in decisions:
                self.record("warning", gate=warn_outcome["gate"], verdict=warn_verdict,
                            reason=warn_outcome["reason"])

    def _unwatched(self, since: float) -> None:
        """Record the interval nobody watched; the loop judges it before the step may end."""
        state = self.state()
        if state.status != "running" or state.step_index < 0:
            return
        window = max((g.window for g in self.plan.gates), default=0.0)
        speed = float(state.replay.get("speed") or 0.0) if state.replay else 1.0
        wait = window / speed if speed > 0 else 0.0  # a full gate window of history after the resume
        now = self.clock()
        self.record("unwatched", **{"from": since, "until": now, "seconds": round(now - since, 3),
                                    "wait": round(wait, 3)})

    def _handle_operator(self, state: RolloutState) -> bool:
        for request in state.pending_operator:
            action = request.get("action")
            if action == "promote":
                continue  # seen through advance_requested / full_promotion_requested
            self.record("handled", action=action, operator_ts=request.get("ts"))
            reason = f"{action} by {request.get('user')}: {request.get('reason') or 'no reason given'}"
            if action == "pause":
                self.record("paused", cause="operator", reason=reason)
            else:
                self._rollback(self.state(), "operator", reason)
            return True
        return False


def _unfinished(state_dir: StateDir, target: str) -> RolloutState | None:
    for state in list_states(state_dir):
        if state.target == target and not state.finished:
            return state
    return None


def _recent_rollback(state_dir: StateDir, plan: Plan, now: float) -> dict | None:
    """The target's last rollout, when it was rolled back less than one gate window ago."""
    window = max((g.window for g in plan.gates), default=0)
    for state in reversed(list_states(state_dir)):
        if state.target == plan.target:
            if state.status == "rolled-back" and state.updated is not None and now - state.updated < window:
                return {"id": state.rollout_id, "ts": state.updated}
            return None
    return None


def _last_watched(state: RolloutState) -> float:
    """The last moment a gate round judged the rollout (else when its step started)."""
    rounds = [g.get("ts") for g in state.last_gates.values() if isinstance(g.get("ts"), int | float)]
    return max(rounds, default=state.step_started or state.created or time.time())


def plan_for_resume(state: RolloutState, *, notify_webhook: str | None = None) -> Plan:
    """The rollout's plan from its journal, with the webhook URL given again when the journal holds it redacted."""
    plan = Plan.from_dict(state.plan)
    if notify_webhook:
        return replace(plan, notify_webhook=notify_webhook)
    if url_needs_secrets(plan.notify_webhook):
        raise UsageError(f"rollout {state.rollout_id}: its webhook URL ({plan.notify_webhook}) had secrets, which "
                         "the journal does not keep: give --notify-webhook URL again")
    return plan


def start(plan: Plan, client, *, state_dir: StateDir, at: float | None = None, replay_speed: float = 0.0,
          on_event=None, rollout_id: str | None = None, clock=time.time, sleep=time.sleep) -> RolloutState:
    """Create a rollout of plan.target and run it to an end (promoted, rolled back, paused or failed)."""
    state_dir.ensure()
    rollout_id = rollout_id or new_rollout_id(plan.target)
    lock = state_dir.lock(plan.target)
    lock.acquire(rollout_id)
    try:
        other = _unfinished(state_dir, plan.target)
        if other is not None:
            hint = (f"take it over: x0ctl rollout resume {other.rollout_id} --take-over" if other.orphaned
                    else f"resume, promote or abort it first: x0ctl rollout abort {other.rollout_id}")
            raise IOFailure(f"rollout {other.rollout_id} of target {plan.target!r} is {other.shown_status}",
                            hint=hint)
        journal = state_dir.journal(rollout_id)
        runner = Runner(state_dir, journal, plan, client, on_event=on_event, clock=clock, sleep=sleep)
        replay_origin = {"at": at, "wall": clock(), "speed": replay_speed} if at is not None else None
        with _stops_journaled(journal):
            runner.record("created", plan=plan.to_dict(), **actor(), replay=replay_origin,
                          after_rollback=_recent_rollback(state_dir, plan, clock()))
        return _halting_on_store_errors(runner, runner.run)
    finally:
        lock.release()


def resume(rollout_id: str, client, *, state_dir: StateDir, reason: str | None = None, on_event=None,
           notify_webhook: str | None = None, take_over: bool = False, clock=time.time,
           sleep=time.sleep) -> RolloutState:
    """Continue a rollout after a crash (saved deadlines) or a pause (the step's bake starts again).

    Nobody watched the canary since the last gate round: the first round after the resume judges
    that whole interval (each gate's window widened to cover it), and the step cannot end before
    one full gate window has passed after the resume and been judged.

    `take_over` continues a rollout whose owner died (a shared store says `orphaned`): the current
    step's bake starts again, so nothing is promoted on gate results from before the owner died.
    """
    journal = state_dir.journal(rollout_id)
    state = replay(rollout_id, journal.events())
    if state.finished:
        return state
    plan = plan_for_resume(state, notify_webhook=notify_webhook)
    if getattr(state_dir, "shared", False) and state.status == "running" and not take_over \
            and not state_dir.lock(plan.target).held_elsewhere():
        raise UsageError(f"rollout {rollout_id} is orphaned: the process running it stopped without pausing it",
                         hint=f"make sure nothing else acts on {plan.target!r}, then: "
                              f"x0ctl rollout resume {rollout_id} --take-over")
    lock = state_dir.lock(plan.target)
    lock.acquire(rollout_id)
    try:
        runner = Runner(state_dir, journal, plan, client, on_event=on_event, clock=clock, sleep=sleep)
        state = runner.state()
        last_watched = _last_watched(state)
        paused = state.status == "paused" and state.rollback_started is None
        # a take-over restarts the step's bake: the gates are judged afresh before anything advances
        rejudge = take_over and not paused and state.rollback_started is None \
            and 0 <= state.step_index >= state.intended_step
        with _stops_journaled(journal):
            if take_over:
                runner.record("operator", action="take-over", **actor(), reason=reason)
            if paused:
                runner.record("operator", action="resume", **actor(), reason=reason)
                runner.record("resumed", **actor())
                state = runner.state()
                if state.advance_requested and state.step_index < len(plan.steps) - 1:
                    runner._enter_step(state.step_index + 1, state, note="operator promoted the step")
                elif not state.advance_requested and not state.full_promotion_requested:
                    runner._enter_step(state.step_index, state, note="resumed after a pause: the bake starts again")
            if rejudge:
                if not runner._enter_step(state.step_index, state,
                                          note="taken over: the bake starts again, the gates are judged afresh"):
                    return runner.state()
            elif paused or (state.status == "running" and state.rollback_started is None and state.step_index >= 0):
                runner._unwatched(last_watched)
        return _halting_on_store_errors(runner, lambda: runner.run(resumed=not paused and not rejudge))
    finally:
        lock.release()


def _halting_on_store_errors(runner: Runner, run: Callable[[], RolloutState]) -> RolloutState:
    """Run the loop; when the state store cannot confirm a read or a write, stop before the next step.

    The rollout is journaled as paused with cause `error` if the store takes that write (exit 4);
    if it cannot, the rollout stays as the store last saw it and shows as orphaned once the lease
    lapses. A process that lost its lease (another took over) writes nothing more at all.
    """
    try:
        return run()
    except LeaseLost:
        raise
    except StateStoreError as exc:
        try:
            runner.record("paused", cause="error", reason=f"state store: {exc.message}")
            return runner.state()
        except StateStoreError:
            raise IOFailure(f"{exc.message}; the rollout took no further step",
                            hint=f"when the store answers again: x0ctl rollout resume {runner.rollout_id} "
                                 "--take-over") from None


def operator_action(rollout_id: str, action: str, *, state_dir: StateDir, reason: str | None = None,
                    full: bool = False, client=None, on_event=None) -> dict:
    """pause | abort | rollback | promote: delivered to the running loop, or carried out here when none runs."""
    journal = state_dir.journal(rollout_id)
    state = replay(rollout_id, journal.events())
    if state.finished:
        raise UsageError(f"rollout {rollout_id} is already {state.status}")
    plan = Plan.from_dict(state.plan)
    who = actor()
    user = who["user"]
    lock = state_dir.lock(plan.target)
    fields = {"full": True, **who} if full else who
    if lock.held_elsewhere():
        journal.append("operator", action=action, reason=reason, **fields)
        return {"id": rollout_id, "action": action, "delivered": "running", "user": user, "reason": reason}
    lock.acquire(f"{rollout_id} ({action} by {user})")
    try:
        runner = Runner(state_dir, journal, plan, client, on_event=on_event)
        event = runner.record("operator", action=action, reason=reason, **fields)
        state = runner.state()
        why = f"{action} by {user}: {reason or 'no reason given'}"
        if action == "pause":
            runner.record("handled", action=action, operator_ts=event["ts"])
            if state.status != "paused":
                runner.record("paused", cause="operator", reason=why)
        elif action in ("abort", "rollback"):
            runner.record("handled", action=action, operator_ts=event["ts"])
            runner._rollback(state, "operator", why)
        elif action == "promote" and full:
            runner._promote(state, f"promoted to 100% by {user} (--full): {reason or 'no reason given'}")
        delivered = "applied" if action != "promote" or full else "recorded (run 'x0ctl rollout resume')"
        final = runner.state()
        return {"id": rollout_id, "action": action, "delivered": delivered, "user": user, "reason": reason,
                "status": final.status, "weight": final.weight}
    finally:
        lock.release()
