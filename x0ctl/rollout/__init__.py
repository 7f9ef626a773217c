"""Staged canary rollouts gated on SLOs, with automatic rollback (a documented Python API, no CLI imports).

    from x0ctl.rollout import StateDir, build_plan, start
    from x0ctl.slo import client_from_options
    plan = build_plan({"target": "app", "steps": "1:5m,10:10m,50:15m,100",
                       "driver": {"set_weight": "kubectl argo rollouts set weight app {weight}",
                                  "rollback": "kubectl argo rollouts abort app"}})
    state = start(plan, client_from_options("http://prometheus:9090"), state_dir=StateDir())
    print(state.status, exit_code_for(state))

See docs/rollout.md for plans, gates, drivers, the journal and the exit codes.
"""

from __future__ import annotations

from x0ctl.rollout.drivers import CommandDriver, DriverError, NodesDriver, load_inventory, node_order, nodes_for
from x0ctl.rollout.engine import (
    EXIT_ERROR,
    EXIT_PAUSED,
    EXIT_PROMOTED,
    EXIT_ROLLED_BACK,
    Runner,
    exit_code_for,
    list_states,
    load_state,
    operator_action,
    resume,
    start,
)
from x0ctl.rollout.gates import evaluate_gate, mann_whitney
from x0ctl.rollout.journal import Journal, RolloutState, StateDir, default_state_dir, replay
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
    Step,
    build_plan,
    load_plan,
    parse_duration,
    parse_steps,
    step_every,
)

__all__ = [
    "DEFAULT_STEPS", "EXIT_ERROR", "EXIT_PAUSED", "EXIT_PROMOTED", "EXIT_ROLLED_BACK", "CommandDriver", "Driver",
    "DriverError", "Gate", "Journal", "NodesDriver", "Plan", "PlanError", "RolloutState", "Runner", "StateDir",
    "Step", "build_plan", "default_state_dir", "evaluate_gate", "exit_code_for", "list_states", "load_inventory",
    "load_plan", "load_state", "mann_whitney", "node_order", "nodes_for", "operator_action", "parse_duration",
    "parse_steps", "replay", "resume", "start", "step_every",
    # state stores (docs/rollout-etcd.md)
    "EtcdOptions", "LeaseLost", "StateStoreError", "WriteUnconfirmed", "migrate", "open_state",
]
