"""Drivers act on the mesh: set a weight, promote, roll back. Every action is idempotent by contract.

- command: shell command templates ({weight} {step} {version} {rollout} {target}, shell-quoted),
  each with a timeout and retries. The same values are in the environment as X0CTL_ROLLOUT_*.
- nodes:   an inventory of nodes; weight w% runs the new version on a stable, hash-chosen w% of
  them (the order is fixed by sha256(seed/node), so the 10% set stays inside the 50% set), with
  per-node upgrade/downgrade commands under a concurrency limit and a result per node.
- argo:    an Argo Rollouts `Rollout` whose canary steps are `setWeight: W` each followed by an
  indefinite `pause: {}`: advanced with `kubectl argo rollouts promote`, rolled back with `abort`,
  finished with `promote --full`, read with `kubectl get rollout NAME -o json` (docs/rollout.md).
"""

from __future__ import annotations

import json
import os
import shlex
import string
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from x0ctl.errors import IOFailure
from x0ctl.rollout.inventory import load_inventory, node_order, nodes_for
from x0ctl.rollout.plan import Driver

OUTPUT_TAIL = 300


class DriverError(IOFailure):
    """A driver action failed after its retries (exit 4)."""


@dataclass
class Context:
    rollout: str
    target: str
    version: str


def render(template: str, values: dict) -> str:
    quoted = {k: shlex.quote(str(v)) for k, v in values.items()}
    return string.Formatter().vformat(template, (), _Missing(quoted))


class _Missing(dict):
    def __missing__(self, key):  # validated at plan time; anything else stays literal
        return "{" + key + "}"


def run_command(command: str, env_values: dict, timeout: float, retries: int, retry_delay: float) -> dict:
    """Run `sh -c command` with retries; returns the attempt record, raises DriverError when all failed."""
    env = {**os.environ, **{f"X0CTL_ROLLOUT_{k.upper()}": str(v) for k, v in env_values.items()}}
    attempts = []
    for attempt in range(retries + 1):
        started = time.monotonic()
        try:
            done = subprocess.run(["/bin/sh", "-c", command], check=False, capture_output=True, text=True, timeout=timeout,
                                  env=env, stdin=subprocess.DEVNULL)
            code, tail = done.returncode, (done.stderr or done.stdout or "")[-OUTPUT_TAIL:].strip()
        except subprocess.TimeoutExpired:
            code, tail = None, f"timed out after {timeout:g} s"
        except OSError as exc:
            code, tail = None, exc.strerror or type(exc).__name__
        attempts.append({"attempt": attempt + 1, "exit_code": code, "seconds": round(time.monotonic() - started, 3),
                         "output": tail})
        if code == 0:
            return {"command": command, "ok": True, "attempts": attempts}
        if attempt < retries:
            time.sleep(retry_delay)
    last = attempts[-1]
    status = f"exit {last['exit_code']}" if last["exit_code"] is not None else last["output"]
    raise DriverError(f"command failed after {len(attempts)} attempt(s) ({status}): {command[:200]}")


class CommandDriver:
    def __init__(self, spec: Driver, context: Context) -> None:
        self.spec = spec
        self.context = context

    def _values(self, weight: int, step: int) -> dict:
        return {"weight": weight, "step": step, "version": self.context.version, "rollout": self.context.rollout,
                "target": self.context.target}

    def _run(self, template: str, weight: int, step: int) -> dict:
        values = self._values(weight, step)
        return run_command(render(template, values), values, self.spec.timeout, self.spec.retries,
                           self.spec.retry_delay)

    def set_weight(self, weight: int, step: int, previous: int | None = None) -> dict:
        return self._run(self.spec.set_weight, weight, step)

    def promote(self, step: int) -> dict | None:
        return self._run(self.spec.promote, 100, step) if self.spec.promote else None

    def rollback(self, step: int, reached: int) -> dict:
        return self._run(self.spec.rollback, 0, step)


class NodesDriver:
    def __init__(self, spec: Driver, context: Context) -> None:
        self.spec = spec
        self.context = context
        self.ordered = node_order(load_inventory(spec.inventory), spec.seed or context.target)

    def _each(self, template: str, nodes: list[dict], weight: int, step: int) -> dict:
        def one(node: dict) -> dict:
            values = {"weight": weight, "step": step, "version": self.context.version,
                      "rollout": self.context.rollout, "target": self.context.target, "node": node["name"],
                      "host": node["host"]}
            try:
                record = run_command(render(template, values), values, self.spec.timeout, self.spec.retries,
                                     self.spec.retry_delay)
                return {"node": node["name"], "ok": True, "attempts": len(record["attempts"])}
            except DriverError as exc:
                return {"node": node["name"], "ok": False, "error": exc.message}

        with ThreadPoolExecutor(max_workers=self.spec.concurrency, thread_name_prefix="x0ctl-node") as pool:
            results = list(pool.map(one, nodes))
        failed = [r["node"] for r in results if not r["ok"]]
        record = {"nodes": results, "ok": not failed}
        if failed:
            error = DriverError(f"{len(failed)} of {len(results)} node(s) failed: {', '.join(failed[:10])}")
            error.record = record
            raise error
        return record

    def set_weight(self, weight: int, step: int, previous: int | None = None) -> dict:
        wanted = nodes_for(weight, self.ordered)
        # after a crash (previous None) every node of the set is re-applied: upgrades are idempotent
        already = {n["name"] for n in nodes_for(previous or 0, self.ordered)} if previous is not None else set()
        record = self._each(self.spec.upgrade, [n for n in wanted if n["name"] not in already], weight, step)
        record["canary_nodes"] = [n["name"] for n in wanted]
        return record

    def promote(self, step: int) -> dict | None:
        if not self.spec.promote:
            return None
        return run_command(render(self.spec.promote, {"weight": 100, "step": step, "version": self.context.version,
                                                      "rollout": self.context.rollout,
                                                      "target": self.context.target}),
                           {"weight": 100, "step": step}, self.spec.timeout, self.spec.retries, self.spec.retry_delay)

    def rollback(self, step: int, reached: int) -> dict:
        return self._each(self.spec.downgrade, nodes_for(max(reached, 1), self.ordered), 0, step)


class ArgoDriver:
    """Drives an Argo Rollouts canary from outside. The Rollout's steps carry the weights (Argo has no
    command that sets one): x0ctl's weight W is the `setWeight: W` step followed by an indefinite
    `pause: {}`, and entering it means promoting past the pauses before it and waiting until the
    Rollout is paused right after that setWeight."""

    def __init__(self, spec: Driver, context: Context) -> None:
        self.spec = spec
        self.context = context
        self.name = spec.rollout
        self.namespace = ["-n", spec.namespace] if spec.namespace else []
        self.kubectl = spec.kubectl or "kubectl"
        self.poll = max(0.05, min(2.0, spec.timeout / 20))

    def _kubectl(self, *args: str) -> str:
        command = [self.kubectl, *args]
        attempts = 0
        while True:
            attempts += 1
            try:
                done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=self.spec.timeout,
                                      stdin=subprocess.DEVNULL)
                if done.returncode == 0:
                    return done.stdout
                status = f"exit {done.returncode}: {(done.stderr or done.stdout or '').strip()[-OUTPUT_TAIL:]}"
            except subprocess.TimeoutExpired:
                status = f"timed out after {self.spec.timeout:g} s"
            except OSError as exc:
                status = exc.strerror or type(exc).__name__
            if attempts > self.spec.retries:
                raise DriverError(f"{shlex.join(command)} failed after {attempts} attempt(s) ({status})")
            time.sleep(self.spec.retry_delay)

    def state(self) -> dict:
        """The Rollout object (`kubectl get rollout NAME -o json`)."""
        text = self._kubectl("get", "rollout", self.name, *self.namespace, "-o", "json")
        try:
            rollout = json.loads(text)
        except ValueError:
            raise DriverError(f"kubectl get rollout {self.name}: the output is not JSON") from None
        if not isinstance(rollout, dict) or rollout.get("kind") != "Rollout":
            raise DriverError(f"kubectl get rollout {self.name}: not a Rollout object")
        return rollout

    def _plugin(self, verb: str, *flags: str) -> str:
        return self._kubectl("argo", "rollouts", verb, self.name, *flags, *self.namespace)

    def _pauses(self, rollout: dict) -> list[tuple[int, int]]:
        """(weight, index of the indefinite pause right after its setWeight) for each such pair."""
        steps = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary", {}).get("steps") or []
        pairs = []
        for index in range(1, len(steps)):
            before, step = steps[index - 1], steps[index]
            if (isinstance(before, dict) and isinstance(step, dict) and "setWeight" in before
                    and step.get("pause") is not None and not (step["pause"] or {}).get("duration")):
                pairs.append((int(before["setWeight"]), index))
        return pairs

    @staticmethod
    def _where(rollout: dict) -> str:
        status = rollout.get("status") or {}
        return (f"phase {status.get('phase', '?')}, currentStepIndex {status.get('currentStepIndex', '?')}"
                + (f", message {status['message']!r}" if status.get("message") else ""))

    def _check_not_aborted(self, rollout: dict) -> None:
        status = rollout.get("status") or {}
        if status.get("abort") or status.get("phase") == "Degraded":
            raise DriverError(f"rollout {self.name} is aborted or degraded ({self._where(rollout)})")

    def _wait(self, reached, what: str) -> dict:
        deadline = time.monotonic() + self.spec.timeout
        while True:
            rollout = self.state()
            if reached(rollout):
                return rollout
            self._check_not_aborted(rollout)
            if time.monotonic() >= deadline:
                raise DriverError(f"timed out after {self.spec.timeout:g} s waiting for rollout {self.name} to "
                                  f"{what} ({self._where(rollout)})")
            time.sleep(self.poll)

    def set_weight(self, weight: int, step: int, previous: int | None = None) -> dict:
        if weight >= 100:
            return self.promote(step)
        rollout = self.state()
        pairs = self._pauses(rollout)
        target = next((index for pair_weight, index in pairs if pair_weight == weight), None)
        if target is None:
            raise DriverError(f"rollout {self.name} has no `setWeight: {weight}` step followed by an indefinite "
                              f"`pause: {{}}` (its pause steps: {[w for w, _ in pairs] or 'none'})")
        promotions = 0

        def arrived(current: dict) -> bool:
            status = current.get("status") or {}
            index = status.get("currentStepIndex")
            if index is None or index < target or status.get("phase") != "Paused":
                return False
            if index > target:
                raise DriverError(f"rollout {self.name} is already past `setWeight: {weight}` ({self._where(current)})")
            weights = (status.get("canary") or {}).get("weights")
            return weights is None or int((weights.get("canary") or {}).get("weight", -1)) == weight

        while True:
            self._check_not_aborted(rollout)
            if arrived(rollout):
                return {"rollout": self.name, "weight": weight, "step_index": target, "promotions": promotions}
            status = rollout.get("status") or {}
            index = status.get("currentStepIndex")
            if status.get("phase") == "Paused" and index is not None and index < target:
                self._plugin("promote")  # past one indefinite pause
                promotions += 1
                rollout = self._wait(lambda current, was=index: (current.get("status") or {}).get("currentStepIndex", 0) > was,
                                     f"move past step {index}")
                continue
            rollout = self._wait(lambda current: arrived(current) or (
                (current.get("status") or {}).get("phase") == "Paused"
                and (current.get("status") or {}).get("currentStepIndex", target) < target),
                f"pause at step {target} (setWeight {weight})")

    def promote(self, step: int) -> dict:
        rollout = self.state()
        status = rollout.get("status") or {}
        steps = len(self._steps(rollout))
        if status.get("phase") != "Healthy" or status.get("currentStepIndex", steps) < steps:
            self._check_not_aborted(rollout)
            self._plugin("promote", "--full")
            rollout = self._wait(lambda current: (current.get("status") or {}).get("phase") == "Healthy",
                                 "become Healthy after promote --full")
        return {"rollout": self.name, "weight": 100, "phase": "Healthy"}

    @staticmethod
    def _steps(rollout: dict) -> list:
        return ((rollout.get("spec") or {}).get("strategy") or {}).get("canary", {}).get("steps") or []

    def rollback(self, step: int, reached: int) -> dict:
        rollout = self.state()
        if not (rollout.get("status") or {}).get("abort"):
            self._plugin("abort")
            rollout = self._wait(lambda current: bool((current.get("status") or {}).get("abort")), "abort")
        return {"rollout": self.name, "aborted": True, "phase": (rollout.get("status") or {}).get("phase")}


def make_driver(spec: Driver, context: Context):
    if spec.kind == "argo":
        return ArgoDriver(spec, context)
    return NodesDriver(spec, context) if spec.kind == "nodes" else CommandDriver(spec, context)
