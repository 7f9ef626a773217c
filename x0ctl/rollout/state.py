"""Where rollout state lives: a local directory (the default) or etcd, behind one small interface.

A state store gives the engine four things, and nothing else:

- `journal(id)`: an append-only list of events. `append(type, **fields)` returns the event once it
  is durable (local: fsynced under an fcntl lock; etcd: a compare-and-swap transaction on the
  journal's revision, confirmed by the cluster); `events()` reads them all in order.
- `lock(target)`: one rollout process per target (local: an fcntl lock; etcd: a key bound to a
  lease the holder keeps alive).
- `ids()`: every rollout, least recently updated first.
- `owner(target)`: who holds the target's lock right now, when the store can tell (etcd can for
  every machine; a local directory leaves it to the journal's own bookkeeping and says None).

`open_state("etcd://host:2379/prefix")` or `open_state("/var/lib/x0ctl")` picks the store.
"""

from __future__ import annotations

from pathlib import Path

from x0ctl.errors import IOFailure, UsageError
from x0ctl.rollout.journal import StateDir
from x0ctl.rollout.state_common import LeaseLost, StateStoreError, WriteUnconfirmed, actor
from x0ctl.rollout.state_etcd import EtcdOptions, EtcdState

__all__ = ["EtcdOptions", "EtcdState", "LeaseLost", "StateDir", "StateStoreError", "WriteUnconfirmed", "actor",
           "describe", "is_etcd", "mark_orphaned", "migrate", "open_state"]

ETCD_SCHEMES = ("etcd://", "etcds://")


def is_etcd(spec: str | Path | None) -> bool:
    return isinstance(spec, str) and spec.startswith(ETCD_SCHEMES)


def open_state(spec: str | Path | None = None, etcd: EtcdOptions | None = None):
    """A StateDir for a directory (default: $XDG_STATE_HOME/x0ctl), an EtcdState for etcd:// URLs."""
    if is_etcd(spec):
        return EtcdState(str(spec), etcd or EtcdOptions())
    if isinstance(spec, str) and "://" in spec:
        scheme = spec.split("://", 1)[0]
        raise UsageError(f"--state: unknown scheme {scheme!r}:// (a directory, or etcd://HOST:PORT[/PREFIX])")
    directory = StateDir(spec)
    if directory.root.exists() and not directory.root.is_dir():
        raise IOFailure(f"--state {directory.root} is not a directory")
    return directory


def describe(store) -> str:
    """The store as shown to people and in `list -o json` (never with credentials)."""
    return str(getattr(store, "url", None) or store.root)


def mark_orphaned(store, state):
    """A rollout the journal calls running, whose target nobody holds, is orphaned (shared stores only).

    Only a store that sees every machine's locks can say so; a local directory cannot tell a live
    process on another host from a dead one, so its rollouts are left as the journal says.
    """
    if getattr(store, "shared", False) and state.status == "running" and not state.orphaned:
        owner = store.owner(state.target)
        # the lock's holder names the rollout it acts for ("ID", or "ID (pause by alice)")
        if owner is None or not str(owner.get("rollout", "")).startswith(state.rollout_id):
            state.orphaned = "the etcd lease of the process running it lapsed: it died or lost etcd"
    return state


def migrate(source: str | Path, destination, *, rollout_ids: list[str] | None = None) -> dict:
    """Copy local journals into a shared store, verified event by event; see docs/rollout-etcd.md."""
    from x0ctl.rollout.journal import replay

    local = open_state(source)
    if getattr(local, "shared", False):
        raise UsageError("--from must be a local state directory")
    if not local.root.is_dir():
        raise UsageError(f"--from {local.root}: no such directory")
    if not getattr(destination, "shared", False):
        raise UsageError("--to must be an etcd://HOST:PORT[/PREFIX] URL")
    destination.ensure()
    wanted = rollout_ids or local.ids()
    known = set(local.ids())
    results = []
    for rollout_id in wanted:
        if rollout_id not in known:
            raise UsageError(f"no rollout {rollout_id!r} in {local.root}")
        events = local.journal(rollout_id).events()
        state = replay(rollout_id, events)
        item = {"id": rollout_id, "target": state.target, "status": state.status, "events": len(events)}
        if not state.finished and local.lock(state.target).held_elsewhere():
            results.append({**item, "result": "skipped", "reason": "a local process is running it"})
            continue
        outcome, reason = destination.import_journal(rollout_id, state.target, events)
        results.append({**item, "result": outcome, "reason": reason})
    copied = sum(1 for r in results if r["result"] == "copied")
    same = sum(1 for r in results if r["result"] == "identical")
    return {"from": str(local.root), "to": describe(destination), "rollouts": results, "copied": copied,
            "identical": same, "problems": len(results) - copied - same}
