"""Staged canary rollouts gated on SLOs, with automatic rollback (a documented Python API, no CLI imports).

    from x0ctl.rollout import StateDir, build_plan, exit_code_for, start
    from x0ctl.slo import client_from_options
    plan = build_plan({"target": "app", "steps": "1:5m,10:10m,50:15m,100",
                       "driver": {"set_weight": "./set-canary-weight app {weight}",
                                  "rollback": "./set-canary-weight app 0"}})
    state = start(plan, client_from_options("http://prometheus:9090"), state_dir=StateDir())
    print(state.status, exit_code_for(state))

See docs/rollout.md for plans, gates, drivers, the journal and the exit codes.
"""

from __future__ import annotations

from x0ctl.rollout.drivers import CommandDriver, DriverError, NodesDriver
from x0ctl.rollout.inventory import load_inventory, node_order, nodes_for
from x0ctl.rollout.dryrun import DryRun, ScheduledStep, dry_run, schedule
from x0ctl.rollout.engine import (
    Runner,
    Terminated,
    exit_code_for,
    list_states,
    load_state,
    observed,
    operator_action,
    plan_for_resume,
    resume,
    start,
)
from x0ctl.rollout.gates import evaluate_gate, mann_whitney
from x0ctl.rollout.journal import (
    EventLog,
    Journal,
    Lock,
    RolloutState,
    RolloutStore,
    StateDir,
    default_state_dir,
    replay,
)
from x0ctl.rollout.owner import HEARTBEAT_SECONDS, STALE_SECONDS, orphan_reason
from x0ctl.rollout.state import (
    EtcdOptions,
    LeaseLost,
    StateStoreError,
    WriteUnconfirmed,
    migrate,
    open_state,
)
from x0ctl.rollout.plan import (
    DEFAULT_STEPS,
    Driver,
    Gate,
    Plan,
    PlanError,
    PlanRequest,
    Step,
    build_plan,
    load_plan,
    parse_duration,
    parse_steps,
    plan_from_request,
    step_every,
)

__all__ = [
    "DEFAULT_STEPS", "HEARTBEAT_SECONDS", "STALE_SECONDS", "CommandDriver", "Driver", "DriverError", "DryRun",
    "EventLog", "Gate", "Journal", "Lock", "NodesDriver", "Plan", "PlanError", "PlanRequest", "RolloutState",
    "RolloutStore", "Runner", "ScheduledStep", "StateDir", "Step", "Terminated", "build_plan", "default_state_dir",
    "dry_run", "evaluate_gate", "exit_code_for", "list_states", "load_inventory", "load_plan", "load_state",
    "mann_whitney", "node_order", "nodes_for", "observed", "operator_action", "orphan_reason", "parse_duration",
    "parse_steps", "plan_for_resume", "plan_from_request", "replay", "resume", "schedule", "start", "step_every",
    # state stores (docs/rollout-etcd.md)
    "EtcdOptions", "LeaseLost", "StateStoreError", "WriteUnconfirmed", "migrate", "open_state",
]
