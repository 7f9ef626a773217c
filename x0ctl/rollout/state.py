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

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from x0ctl.errors import IOFailure, UsageError
from x0ctl.rollout.journal import StateDir, current_user

ETCD_SCHEMES = ("etcd://", "etcds://")
DEFAULT_LEASE_TTL = 30.0  # seconds: a dead owner's rollout shows as orphaned after at most this long


class StateStoreError(IOFailure):
    """The state store could not confirm a read or a write: the rollout must not take another step."""


class WriteUnconfirmed(StateStoreError):
    """A journal append whose outcome is unknown (unreachable store, timeout, no leader)."""


class LeaseLost(StateStoreError):
    """This process no longer holds the target's lease: another process may own the rollout now."""


def actor() -> dict:
    """Who and where, recorded with every action: the user, the host and the process."""
    return {"user": current_user(), "host": socket.gethostname(), "pid": os.getpid()}


@dataclass(frozen=True)
class EtcdOptions:
    """How to reach etcd: TLS material and credentials come from files or the environment, never a URL."""

    cacert: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    user: str | None = None
    password_file: Path | None = None
    password_env: str = "X0CTL_ETCD_PASSWORD"
    lease_ttl: float = DEFAULT_LEASE_TTL
    timeout: float = 5.0

    def password(self) -> str | None:
        """The password from its file (first line) or the environment; None without a user."""
        if self.user is None:
            if self.password_file is not None:
                raise UsageError("--etcd-password-file needs --etcd-user")
            return None
        if self.password_file is not None:
            from x0ctl.textfile import read_text

            text = read_text(self.password_file, "etcd password file")
            lines = text.splitlines()
            if not lines or not lines[0]:
                raise UsageError(f"etcd password file {self.password_file} is empty")
            return lines[0]
        value = os.environ.get(self.password_env)
        if not value:
            raise UsageError(f"--etcd-user {self.user!r} needs a password: --etcd-password-file FILE or "
                             f"{self.password_env}")
        return value


def is_etcd(spec: str | Path | None) -> bool:
    return isinstance(spec, str) and spec.startswith(ETCD_SCHEMES)


def open_state(spec: str | Path | None = None, etcd: EtcdOptions | None = None):
    """A StateDir for a directory (default: $XDG_STATE_HOME/x0ctl), an EtcdState for etcd:// URLs."""
    if is_etcd(spec):
        from x0ctl.rollout.state_etcd import EtcdState

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


def owner_of(store, target: str) -> dict | None:
    """The live holder of target's lock, or None when it is free or the store cannot tell."""
    owner = getattr(store, "owner", None)
    return owner(target) if owner is not None else None


def mark_orphaned(store, state):
    """A rollout the journal calls running, whose target nobody holds, is orphaned (shared stores only).

    Only a store that sees every machine's locks can say so; a local directory cannot tell a live
    process on another host from a dead one, so its rollouts are left as the journal says.
    """
    if getattr(store, "shared", False) and state.status == "running":
        owner = store.owner(state.target)
        # the lock's holder names the rollout it acts for ("ID", or "ID (pause by alice)")
        if owner is None or not str(owner.get("rollout", "")).startswith(state.rollout_id):
            state.status = "orphaned"
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
