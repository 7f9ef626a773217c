"""Drivers act on the mesh: set a weight, promote, roll back. Every action is idempotent by contract.

- command: shell command templates ({weight} {step} {version} {rollout} {target}, shell-quoted),
  each with a timeout and retries. The same values are in the environment as X0CTL_ROLLOUT_*.
- nodes:   an inventory of nodes; weight w% runs the new version on a stable, hash-chosen w% of
  them (the order is fixed by sha256(seed/node), so the 10% set stays inside the 50% set), with
  per-node upgrade/downgrade commands under a concurrency limit and a result per node.
"""

from __future__ import annotations

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


def make_driver(spec: Driver, context: Context):
    return NodesDriver(spec, context) if spec.kind == "nodes" else CommandDriver(spec, context)
