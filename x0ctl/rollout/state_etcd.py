"""Rollout state in etcd: journals, per-target leased locks and rollout records, shared by every machine.

The client is etcd3gw (OpenStack's client for etcd's v3 HTTP/JSON gateway): it is maintained, pure
Python over `requests`, and installs everywhere x0ctl does; python-etcd3 (gRPC) no longer imports
with current protobuf releases. What etcd3gw leaves out (several endpoints, user/password auth)
is done here on its session, over the same gateway.

Keys under the prefix (default /x0ctl):

    PREFIX/heads/ID                the rollout record: {id, target, events}; its mod revision is the
                                   journal's revision, compared and swapped by every append
    PREFIX/journals/ID/0000000042  one event per key, numbered from 1 with no gaps
    PREFIX/locks/TARGET            {rollout, user, host, pid, since, ttl}, bound to the holder's lease

See docs/rollout-etcd.md for the consistency model.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from x0ctl.errors import IOFailure, UsageError
from x0ctl.rollout.journal import _ID
from x0ctl.rollout.state_common import LeaseLost, StateStoreError, WriteUnconfirmed, actor

DEFAULT_LEASE_TTL = 30.0  # seconds: a dead owner's rollout shows as orphaned after at most this long
DEFAULT_PREFIX = "/x0ctl"
APPEND_ATTEMPTS = 200  # compare-and-swap retries when other writers append first (bounded)
IMPORT_BATCH = 64  # events per transaction when migrating (etcd allows 128 operations by default)
_ENDPOINT = re.compile(r"^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$")
_PREFIX = re.compile(r"^(/[A-Za-z0-9._-]+)+$")


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
            from x0ctl.textfile import read_private_bytes

            try:  # a secret others can read is refused, as ssh refuses such a key
                text = read_private_bytes(self.password_file, "etcd password file").decode("utf-8")
            except UnicodeDecodeError:
                raise UsageError(f"etcd password file {self.password_file}: not UTF-8 text") from None
            lines = text.splitlines()
            if not lines or not lines[0]:
                raise UsageError(f"etcd password file {self.password_file} is empty")
            return lines[0]
        value = os.environ.get(self.password_env)
        if not value:
            raise UsageError(f"--etcd-user {self.user!r} needs a password: --etcd-password-file FILE or "
                             f"{self.password_env}")
        return value


def parse_url(url: str) -> tuple[list[tuple[str, int]], str, bool]:
    """etcd[s]://HOST:PORT[,HOST:PORT...][/PREFIX] -> (endpoints, prefix, tls); never echoes userinfo."""
    scheme, _, rest = url.partition("://")
    tls = scheme == "etcds"
    if "?" in rest or "#" in rest:
        raise UsageError("--state: an etcd URL takes no query or fragment (TLS and auth have their own options)")
    hosts, slash, path = rest.partition("/")
    if "@" in hosts:
        raise UsageError("--state: put no user or password in the etcd URL; use --etcd-user and "
                         "--etcd-password-file (or X0CTL_ETCD_PASSWORD)")
    endpoints = []
    for item in hosts.split(","):
        match = _ENDPOINT.match(item.strip())
        if not match or not 0 < int(match.group(3)) < 65536:
            raise UsageError(f"--state: {item.strip()!r} is not HOST:PORT (etcd://HOST:PORT[,HOST:PORT...][/PREFIX])")
        endpoints.append((match.group(1) or match.group(2), int(match.group(3))))
    prefix = "/" + path.strip("/") if slash and path.strip("/") else DEFAULT_PREFIX
    if not _PREFIX.match(prefix):
        raise UsageError(f"--state: prefix {prefix!r} may hold only letters, digits, '.', '_', '-' and '/'")
    return endpoints, prefix, tls


def _problem(exc: Exception) -> str:
    """One short line for an etcd3gw/requests failure (their texts run to hundreds of characters)."""
    from etcd3gw import exceptions

    text = str(getattr(exc, "detail_text", None) or exc)
    if isinstance(exc, exceptions.ConnectionTimeoutError) or "timed out" in text.lower():
        return "timed out"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "TLS certificate verification failed"
    if "SSL" in text or "TLSV1" in text.upper():
        return "TLS handshake failed"
    if "refused" in text.lower():
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    try:
        detail = json.loads(text)
        return str(detail.get("message") or detail.get("error") or "error")[:200]
    except (ValueError, AttributeError):
        pass
    if isinstance(exc, exceptions.ConnectionFailedError):
        return "unreachable"
    if text.strip() and len(text.strip()) < 200 and "\n" not in text.strip():
        return text.strip()
    return f"{type(exc).__name__}"


def _retriable(exc: Exception, problem: str) -> bool:
    """Failures after which a request may or may not have been applied, and may succeed elsewhere or later."""
    from etcd3gw import exceptions

    if isinstance(exc, exceptions.ConnectionFailedError | exceptions.ConnectionTimeoutError):
        return not problem.startswith("TLS")
    return any(word in problem for word in ("leader", "timed out", "unavailable", "too many requests", "stopped"))


class Unreachable(StateStoreError):
    """No endpoint answered (or each answered 'try again'): whether a write was applied is unknown."""


class EtcdConnection:
    """etcd3gw clients for each endpoint, tried in order; user/password tokens refreshed when they lapse."""

    def __init__(self, endpoints: list[tuple[str, int]], tls: bool, options: EtcdOptions, url: str) -> None:
        self.endpoints = endpoints
        self.options = options
        self.url = url
        self.tls = tls or any(p is not None for p in (options.cacert, options.cert, options.key))
        if (options.cert is None) != (options.key is None):
            raise UsageError("--etcd-cert and --etcd-key go together")
        for what, path in (("--etcd-cacert", options.cacert), ("--etcd-cert", options.cert),
                           ("--etcd-key", options.key)):
            if path is not None and not Path(path).is_file():
                raise IOFailure(f"{what} {path}: no such file")
        self._password = options.password()
        self._clients: list = []
        self._current = 0
        self._token_lock = threading.Lock()

    def _client(self, index: int):
        import etcd3gw

        while len(self._clients) <= index:
            host, port = self.endpoints[len(self._clients)]
            client = etcd3gw.client(
                host=host, port=port, protocol="https" if self.tls else "http",
                ca_cert=str(self.options.cacert) if self.options.cacert else None,
                cert_cert=str(self.options.cert) if self.options.cert else None,
                cert_key=str(self.options.key) if self.options.key else None,
                timeout=self.options.timeout, api_path="/v3/")
            client.session.trust_env = False  # a proxy from the environment must not see etcd's traffic
            self._clients.append(client)
        return self._clients[index]

    def _authenticate(self, client) -> None:
        if self.options.user is None:
            return
        answer = client.post(client.get_url("/auth/authenticate"),
                             json={"name": self.options.user, "password": self._password})
        client.session.headers["Authorization"] = answer["token"]

    def call(self, operation, *, what: str):
        """operation(client) on the first endpoint that answers; StateStoreError naming the problem."""
        from etcd3gw import exceptions

        problems = []
        for offset in range(len(self.endpoints)):
            index = (self._current + offset) % len(self.endpoints)
            client = self._client(index)
            for attempt in range(2):
                try:
                    if self.options.user is not None and "Authorization" not in client.session.headers:
                        with self._token_lock:
                            self._authenticate(client)
                    result = operation(client)
                    self._current = index
                    return result
                except exceptions.Etcd3Exception as exc:
                    problem = _problem(exc)
                    if attempt == 0 and self.options.user is not None and "token" in problem:
                        client.session.headers.pop("Authorization", None)  # lapsed token: once more
                        continue
                    if not _retriable(exc, problem):
                        raise StateStoreError(f"etcd at {self.url} refused {what}: {problem}") from None
                    problems.append((self.endpoints[index], problem))
                    break
                except (ValueError, KeyError, TypeError, OSError) as exc:  # not an etcd gateway's answer
                    raise StateStoreError(f"{self.url} did not answer {what} as etcd's v3 gateway does "
                                          f"({type(exc).__name__}): is it etcd 3.4 or later?") from None
        summary = "; ".join(f"{host}:{port} {problem}" for (host, port), problem in problems)
        raise Unreachable(f"etcd unreachable for {what} ({summary})") from None

    def close(self) -> None:
        for client in self._clients:
            client.session.close()


def _b64(data: str | bytes) -> str:
    import base64

    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def _unb64(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


def _plus_one(key: str) -> str:
    return key[:-1] + chr(ord(key[-1]) + 1)


def _range_kvs(response: dict) -> list[dict]:
    return response.get("response_range", {}).get("kvs", [])


class EtcdState:
    """The etcd state store (the same interface as journal.StateDir)."""

    shared = True

    def __init__(self, url: str, options: EtcdOptions) -> None:
        endpoints, self.prefix, tls = parse_url(url)
        self.url = f"{'etcds' if tls else 'etcd'}://{','.join(f'{h}:{p}' for h, p in endpoints)}{self.prefix}"
        self.root = self.url
        self.options = options
        self.lease_ttl = max(2, math.ceil(options.lease_ttl))
        self.connection = EtcdConnection(endpoints, tls, options, self.url)
        self.held: EtcdLock | None = None  # the target lock this process holds: it fences our appends
        # an append whose outcome is unknown is retried for this long, then the rollout stops
        self.write_deadline = min(10.0, self.lease_ttl / 2)

    def call(self, operation, what: str):
        return self.connection.call(operation, what=what)

    def head_key(self, rollout_id: str) -> str:
        return f"{self.prefix}/heads/{rollout_id}"

    def journal_prefix(self, rollout_id: str) -> str:
        return f"{self.prefix}/journals/{rollout_id}/"

    def lock_key(self, target: str) -> str:
        return f"{self.prefix}/locks/{target}"

    def ensure(self) -> None:
        """Reach etcd (and authenticate) before anything is done: unreachable is exit 4, one line."""
        key = f"{self.prefix}/heads/"
        self.call(lambda c: c.get(key, range_end=_plus_one(key), keys_only=True, limit=1), "a read")

    def journal(self, rollout_id: str) -> EtcdJournal:
        if not _ID.match(rollout_id):
            raise UsageError(f"{rollout_id!r} is not a rollout id")
        return EtcdJournal(self, rollout_id)

    def ids(self) -> list[str]:
        key = f"{self.prefix}/heads/"
        found = self.call(lambda c: c.get(key, metadata=True, range_end=_plus_one(key), sort_order="ascend",
                                          sort_target="mod", keys_only=True), "the rollout list")
        return [meta["key"].decode()[len(key):] for _, meta in found]

    def lock(self, target: str) -> EtcdLock:
        return EtcdLock(self, target)

    def owner(self, target: str) -> dict | None:
        key = self.lock_key(target)
        found = self.call(lambda c: c.get(key), f"the lock of {target!r}")
        if not found:
            return None
        try:
            return json.loads(found[0])
        except ValueError:
            return {"rollout": "unknown"}

    def import_journal(self, rollout_id: str, target: str, events: list[dict]) -> tuple[str, str | None]:
        """Write a whole journal copied from elsewhere, then read it back and compare (migrate)."""
        journal = self.journal(rollout_id)
        existing = journal.events(missing_ok=True)
        plain = [{k: v for k, v in e.items() if k != "seq"} for e in existing]
        if existing:
            if plain == events:
                return "identical", None
            return "conflict", f"etcd already holds a different journal with this id ({len(existing)} events)"
        revision, count = 0, 0
        for start in range(0, len(events), IMPORT_BATCH):
            batch = events[start:start + IMPORT_BATCH]
            puts = [{"request_put": {"key": _b64(journal.event_key(count + i + 1)),
                                     "value": _b64(_encode({**event, "seq": count + i + 1}))}}
                    for i, event in enumerate(batch)]
            head = _encode({"id": rollout_id, "target": target, "events": count + len(batch)})
            txn = {"compare": [{"key": _b64(self.head_key(rollout_id)), "target": "MOD", "result": "EQUAL",
                                "mod_revision": revision}],
                   "success": [{"request_put": {"key": _b64(self.head_key(rollout_id)), "value": _b64(head)}},
                               *puts],
                   "failure": []}
            answer = self.call(lambda c, t=txn: c.transaction(t), f"the journal write of {rollout_id}")
            if not answer.get("succeeded"):
                return "conflict", "another writer created this journal while it was being copied"
            revision = int(answer["header"]["revision"])
            count += len(batch)
        copied = [{k: v for k, v in e.items() if k != "seq"} for e in journal.events()]
        if copied != events:
            raise StateStoreError(f"rollout {rollout_id}: the copy in etcd differs from the local journal")
        return "copied", None

    def close(self) -> None:
        if self.held is not None:
            self.held.release()
        self.connection.close()


def _encode(value: dict) -> bytes:
    return json.dumps(value, default=str, separators=(",", ":")).encode()


class EtcdJournal:
    """One rollout's events; every append is a transaction that succeeds only on the revision it read."""

    def __init__(self, store: EtcdState, rollout_id: str) -> None:
        self.store = store
        self.rollout_id = rollout_id
        self.head_key = store.head_key(rollout_id)
        self.prefix = store.journal_prefix(rollout_id)
        self._head: tuple[int, int, str] | None = None  # (mod revision, events, target) last seen
        self._appending = threading.Lock()  # a background thread (a heartbeat) may append too

    @property
    def path(self) -> str:
        return f"{self.store.url}{self.prefix.removeprefix(self.store.prefix)}"

    def event_key(self, seq: int) -> str:
        return f"{self.prefix}{seq:010d}"

    def _read_head(self) -> tuple[int, int, str]:
        found = self.store.call(lambda c: c.get(self.head_key, metadata=True), f"the journal of {self.rollout_id}")
        if not found:
            return 0, 0, ""
        value, meta = found[0]
        record = json.loads(value)
        return int(meta["mod_revision"]), int(record["events"]), record.get("target", "")

    def append(self, event_type: str, **fields) -> dict:
        """The event, once etcd confirmed it; WriteUnconfirmed when it cannot be, LeaseLost when fenced off."""
        with self._appending:
            return self._append(event_type, fields)

    def _append(self, event_type: str, fields: dict) -> dict:
        event = {"ts": round(time.time(), 3), "type": event_type, **fields}
        deadline = time.monotonic() + self.store.write_deadline
        unknown: list[tuple[int, bytes]] = []  # attempts whose outcome we never heard
        last_problem = None
        for _ in range(APPEND_ATTEMPTS):
            try:
                if self._head is None:
                    self._head = self._read_head()
                revision, count, target = self._head
                for seq, sent in unknown:
                    if seq <= count and self._slot(seq) == sent:
                        self._head = None
                        return {**event, "seq": seq}
                if not target and event_type == "created":
                    target = str(fields.get("plan", {}).get("target", ""))
                stored = {**event, "seq": count + 1}
                data = _encode(stored)
                outcome = self._transact(revision, count, target, data)
            except LeaseLost:
                raise
            except StateStoreError as exc:
                if not isinstance(exc, Unreachable) or time.monotonic() >= deadline:
                    raise WriteUnconfirmed(f"rollout {self.rollout_id}: the journal write ({event_type}) could "
                                           f"not be confirmed: {exc.message}") from None
                self._head = None
                last_problem = exc.message
                time.sleep(0.2)
                continue
            if outcome == "unknown":
                unknown.append((count + 1, data))
                self._head = None
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
                continue
            if outcome == "ok":
                return stored
        raise WriteUnconfirmed(f"rollout {self.rollout_id}: the journal write ({event_type}) could not be "
                               f"confirmed: {last_problem or 'the outcome of the write is unknown'}")

    def _slot(self, seq: int) -> bytes | None:
        found = self.store.call(lambda c: c.get(self.event_key(seq)), f"the journal of {self.rollout_id}")
        return found[0] if found else None

    def _transact(self, revision: int, count: int, target: str, data: bytes) -> str:
        """ok | retry (another writer went first: head re-read) | unknown; LeaseLost when fenced off."""
        head_b64 = _b64(self.head_key)
        held = self.store.held if self.store.held is not None and self.store.held.lease_id is not None else None
        if held is not None and held.lost:
            raise self._lease_lost(held)
        compare = [{"key": head_b64, "target": "MOD", "result": "EQUAL", "mod_revision": revision}]
        if held is not None:
            compare.append({"key": _b64(held.key), "target": "LEASE", "result": "EQUAL", "lease": held.lease_id})
        head = _encode({"id": self.rollout_id, "target": target, "events": count + 1})
        txn = {"compare": compare,
               "success": [{"request_put": {"key": head_b64, "value": _b64(head)}},
                           {"request_put": {"key": _b64(self.event_key(count + 1)), "value": _b64(data)}}],
               "failure": [{"request_range": {"key": head_b64}},
                           *([{"request_range": {"key": _b64(held.key)}}] if held is not None else [])]}
        try:
            answer = self.store.call(lambda c: c.transaction(txn), f"the journal write of {self.rollout_id}")
        except Unreachable:
            return "unknown"
        if answer.get("succeeded"):
            self._head = (int(answer["header"]["revision"]), count + 1, target)
            return "ok"
        responses = answer.get("responses", [])
        if held is not None:
            lock = _range_kvs(responses[1]) if len(responses) > 1 else []
            if not lock or int(lock[0].get("lease", 0)) != held.lease_id:
                held.lost = True
                raise self._lease_lost(held)
        kvs = _range_kvs(responses[0]) if responses else []
        if kvs:
            record = json.loads(_unb64(kvs[0]["value"]))
            self._head = (int(kvs[0]["mod_revision"]), int(record["events"]), record.get("target", target))
        else:
            self._head = (0, 0, target)
        return "retry"

    def _lease_lost(self, held: EtcdLock) -> LeaseLost:
        return LeaseLost(f"rollout {self.rollout_id}: this process lost the lease on target {held.target!r} (it "
                         "expired, or another process took the rollout over); it takes no further step")

    def events(self, missing_ok: bool = False) -> list[dict]:
        """Every event in order, read at one revision (a linearizable read).

        A running rollout (this process holds a lease) waits out a leader election rather than stop
        on it; a one-off command fails at once.
        """
        deadline = time.monotonic() + (self.store.write_deadline if self.store.held is not None else 0)
        while True:
            try:
                found = self.store.call(lambda c: c.get(self.prefix, metadata=True, range_end=_plus_one(self.prefix),
                                                        sort_order="ascend", sort_target="key"),
                                        f"the journal of {self.rollout_id}")
                break
            except Unreachable:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)
        if not found and not missing_ok:
            raise UsageError(f"no rollout {self.rollout_id!r} (looked in {self.store.url})")
        events = []
        for value, _meta in found:
            try:
                event = json.loads(value)
            except ValueError:
                continue
            if isinstance(event, dict) and "type" in event:
                events.append(event)
        return events


class EtcdLock:
    """A target's lock: a key bound to a lease this process keeps alive; it vanishes when the process dies."""

    def __init__(self, store: EtcdState, target: str) -> None:
        self.store = store
        self.target = target
        self.key = store.lock_key(target)
        self.lease_id: int | None = None
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self, holder: str) -> None:
        ttl = self.store.lease_ttl
        lease_id = self.store.call(lambda c: c.lease(ttl).id, "a lease grant")
        record = {"rollout": holder, **actor(), "since": round(time.time(), 3), "ttl": ttl}
        key_b64 = _b64(self.key)
        txn = {"compare": [{"key": key_b64, "target": "CREATE", "result": "EQUAL", "create_revision": 0}],
               "success": [{"request_put": {"key": key_b64, "value": _b64(_encode(record)), "lease": lease_id}}],
               "failure": [{"request_range": {"key": key_b64}}]}
        answer = self.store.call(lambda c: c.transaction(txn), f"the lock of {self.target!r}")
        if not answer.get("succeeded"):
            self._revoke(lease_id)
            kvs = _range_kvs(answer.get("responses", [{}])[0])
            try:
                owner = json.loads(_unb64(kvs[0]["value"])) if kvs else {}
            except ValueError:
                owner = {}
            raise IOFailure(f"target {self.target!r} is locked by {describe_owner(owner)}",
                            hint=f"its lease lapses {ttl}s after its owner stops; pause or abort it from any "
                                 "machine, or wait") from None
        self.lease_id = lease_id
        self.store.held = self
        self._thread = threading.Thread(target=self._keep_alive, name=f"x0ctl-lease-{self.target}", daemon=True)
        self._thread.start()

    def _keep_alive(self) -> None:
        """Refresh the lease three times per TTL; a lease found gone stays gone (appends are fenced on it)."""
        from etcd3gw import Lease

        connection = EtcdConnection(self.store.connection.endpoints, self.store.connection.tls,
                                    self.store.options, self.store.url)
        try:
            while not self._stop.wait(self.store.lease_ttl / 3):
                try:
                    ttl = connection.call(lambda c: Lease(self.lease_id, c).refresh(), what="a lease refresh")
                except StateStoreError:
                    continue  # etcd unreachable: our appends fail too, and the lease may yet survive
                if ttl <= 0:
                    self.lost = True
                    return
        finally:
            connection.close()

    def _revoke(self, lease_id: int) -> None:
        from etcd3gw import Lease

        try:
            self.store.call(lambda c: Lease(lease_id, c).revoke(), "a lease revoke")
        except StateStoreError:
            pass  # unreachable: the lease lapses by itself after its TTL

    def held_elsewhere(self) -> bool:
        owner = self.store.owner(self.target)
        return owner is not None and self.lease_id is None

    def release(self) -> None:
        if self.lease_id is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.store.options.timeout + 1)
        self._revoke(self.lease_id)  # deletes the lock key with it
        self.lease_id = None
        if self.store.held is self:
            self.store.held = None

    def __enter__(self) -> EtcdLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def describe_owner(owner: dict) -> str:
    """'rollout app-2025... (alice@ci-7 pid 4242)' - who holds a target, for messages."""
    if not owner:
        return "another process"
    where = f"{owner.get('user', '?')}@{owner.get('host', '?')} pid {owner.get('pid', '?')}"
    return f"{owner.get('rollout', 'another rollout')} ({where})"
