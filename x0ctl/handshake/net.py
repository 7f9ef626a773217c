"""The handshake over TCP: a threaded responder server and the probing initiator.

One handshake per connection, served by a pool of worker threads (grown on demand). The server
bounds everything a peer controls: concurrent connections (in total, and per source address:
extra ones get ALERT busy and are closed; with every slot taken, a source below its fair share
takes one from the source holding the most), frame size (checked from the header, before reading
the payload), time (a short deadline for the first frame, a minimum transfer rate for the later
ones, a per-read timeout and an overall deadline per handshake), and public-key work: past
`cookie_rate` cookie-less handshakes per second, or with half the connection slots taken, a hello
without a valid cookie is answered with a stateless COOKIE (no KEM, no signature) and only the
repeated hello that carries it gets a handshake.
Every local failure is counted with its full reason and answered with the coarse reply the
protocol allows; a refusal the peer reports is counted with origin="peer", never as our own.
"""

from __future__ import annotations

import contextlib
import ipaddress
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from x0ctl.errors import UsageError
from x0ctl.handshake import wire
from x0ctl.handshake.protocol import Identity, Initiator, PeerPin, Responder, ResponderPolicy, alert_for
from x0ctl.handshake.reasons import LOCAL, FailureReason, HandshakeFailure
from x0ctl.handshake.stats import Tally
from x0ctl.handshake.suites import Suite

DEFAULT_READ_TIMEOUT = 5.0
DEFAULT_HANDSHAKE_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_COOKIE_RATE = 100.0  # cookie-less handshakes per second before hellos need a cookie
DEFAULT_MAX_PER_SOURCE = 8  # connections one source address may hold (an eighth of the default 64)
DEFAULT_FIRST_FRAME_TIMEOUT = 1.0  # seconds from accept to a complete CLIENT_HELLO
DEFAULT_MIN_RATE = 8192.0  # bytes/s a later frame must arrive at (after the first-frame grace)
_clock = time.perf_counter


def parse_address(text: str, *, default_port: int | None = None) -> tuple[str, int]:
    """HOST:PORT or [IPv6]:PORT -> (host, port); UsageError for anything else, decided on the text
    alone: an unclosed bracket or a bare IPv6 address never reaches the resolver as a "name"."""
    value = text.strip()
    if value.startswith("["):
        host, closed, rest = value[1:].partition("]")
        sep, port_text = (":", rest[1:]) if rest.startswith(":") else ("", rest)
        if not closed or (sep and not port_text) or (rest and not sep) or not _is_ipv6(host):
            raise UsageError(f"{text!r} is not HOST:PORT (an IPv6 address is written [ADDRESS]:PORT)")
    elif _is_ipv6(value):  # a bare IPv6 address (an inventory's `host: ::1`): the default port applies
        host, sep, port_text = value, "", ""
    else:
        host, sep, port_text = value.rpartition(":") if ":" in value else (value, "", "")
        if "[" in value or "]" in value or ":" in host:
            raise UsageError(f"{text!r} is not HOST:PORT (an IPv6 address is written [ADDRESS]:PORT)")
    if not sep:
        if default_port is None:
            raise UsageError(f"{text!r} is not HOST:PORT")
        port_text = str(default_port)
    if not host or any(c.isspace() or not c.isprintable() for c in host) \
            or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"{text!r} is not HOST:PORT (port 0..65535)")
    return host, int(port_text)


def _is_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _recv_exact(sock: socket.socket, size: int, deadline: float, started: bool) -> bytes:
    chunks, remaining = [], size
    while remaining:
        left = deadline - time.monotonic()
        if left <= 0:
            raise HandshakeFailure(FailureReason.TIMEOUT, "handshake deadline passed")
        sock.settimeout(min(left, sock.gettimeout() or left))
        try:
            chunk = sock.recv(min(remaining, 65536))
        except TimeoutError:
            raise HandshakeFailure(FailureReason.TIMEOUT, "peer sent no data within the read timeout") from None
        except OSError as exc:
            raise HandshakeFailure(FailureReason.CONNECTION, f"receive failed: {exc.strerror or exc}") from None
        if not chunk:
            if not started and remaining == size and not chunks:
                raise HandshakeFailure(FailureReason.CONNECTION, "peer closed the connection")
            raise HandshakeFailure(FailureReason.MALFORMED, "peer closed the connection in the middle of a frame")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(sock: socket.socket, max_payload: int, deadline: float, read_timeout: float,
               pace: tuple[float, float] | None = None) -> bytes:
    """One whole frame (header + payload). The size limit is enforced before the payload is read.

    `pace` = (grace, bytes per second): the frame must be complete within `grace` seconds plus its
    size at that rate, counted from now; a peer trickling bytes cannot stretch it to `deadline`."""
    sock.settimeout(read_timeout)
    header_by = payload_by = deadline
    if pace is not None:
        grace, rate = pace
        paced_from = time.monotonic() + grace
        header_by = min(deadline, paced_from + wire.HEADER_SIZE / rate)
    header = _recv_exact(sock, wire.HEADER_SIZE, header_by, started=False)
    _, length = wire.check_header(header, max_payload)
    if pace is not None:
        payload_by = min(deadline, paced_from + (wire.HEADER_SIZE + length) / rate)
    return header + _recv_exact(sock, length, payload_by, started=True) if length else header


def _send(sock: socket.socket, frame: bytes) -> None:
    try:
        sock.sendall(frame)
    except OSError as exc:
        raise HandshakeFailure(FailureReason.CONNECTION, f"send failed: {exc.strerror or exc}") from None


def _send_and_linger(conn: socket.socket, frame: bytes) -> None:
    """Send a final frame, then read (bounded) what the peer still sends before closing: closing with
    unread input makes the kernel send a reset, which can destroy the frame in flight."""
    with contextlib.suppress(OSError):
        conn.sendall(frame)
        conn.shutdown(socket.SHUT_WR)
        linger_until = time.monotonic() + 1.0  # a trickling peer cannot hold the slot longer
        drained = 0
        while drained < 1 << 20 and time.monotonic() < linger_until:
            conn.settimeout(max(0.01, min(0.2, linger_until - time.monotonic())))
            chunk = conn.recv(65536)
            if not chunk:
                break
            drained += len(chunk)


@dataclass
class ServerSettings:
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    read_timeout: float = DEFAULT_READ_TIMEOUT
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT
    cookie_rate: float = DEFAULT_COOKIE_RATE  # 0: every hello needs a cookie
    max_per_source: int = DEFAULT_MAX_PER_SOURCE
    first_frame_timeout: float = DEFAULT_FIRST_FRAME_TIMEOUT
    min_rate: float = DEFAULT_MIN_RATE  # bytes/s for every frame after the first


@dataclass(eq=False)
class _Slot:
    """One admitted connection. `evicted` is set (under the server's lock) when a source below its
    fair share took the slot: the worker then counts `busy` and no longer owns a slot to release."""

    conn: socket.socket
    source: str
    admitted: float
    evicted: bool = False


class WorkBudget:
    """A token bucket of cookie-less handshakes (rate per second, burst of one second's worth).
    Empty means busy: hellos then need a cookie before the server does any public-key work."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self._tokens = rate
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        if self.rate <= 0:
            return False
        with self._lock:
            now = self.clock()
            self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


class HandshakeServer:
    """Threaded responder: `bind()`, then `serve(stop_event)` until the event is set."""

    def __init__(self, policy: ResponderPolicy, host: str, port: int, settings: ServerSettings | None = None,
                 metrics=None, on_outcome: Callable[[FailureReason | None], None] | None = None,
                 label_peers: bool = False) -> None:
        self.policy = policy
        self.label_peers = label_peers  # metrics per authenticated peer: only when the allow-list bounds them
        self.host, self.port = host, port
        self.settings = settings or ServerSettings()
        self.metrics = metrics
        self.on_outcome = on_outcome
        self.tally = Tally()
        self.budget = WorkBudget(self.settings.cookie_rate)
        self.last_internal_error: str | None = None
        self._active = 0
        self._slots: dict[str, list[_Slot]] = {}  # per source, oldest first
        self._slots_held = 0
        self.evictions = 0
        self._workers: set[threading.Thread] = set()
        self._workers_lock = threading.Lock()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()  # connections for idle workers; None: exit
        self._idle = 0  # workers waiting on the queue (or about to)
        self._listener: socket.socket | None = None

    def bind(self) -> tuple[str, int]:
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise UsageError(f"cannot resolve listen address {self.host!r}: {exc.strerror}") from None
        family, _, _, _, address = infos[0]
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(address)
            listener.listen(min(self.settings.max_connections * 2, socket.SOMAXCONN))
        except OSError as exc:
            listener.close()
            from x0ctl.errors import IOFailure

            raise IOFailure(f"cannot listen on {format_address(self.host, self.port)}: {exc.strerror or exc}") from None
        self._listener = listener
        bound = listener.getsockname()
        self.host, self.port = bound[0], bound[1]
        return self.host, self.port

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    def serve(self, stop: threading.Event, poll_interval: float = 0.2) -> None:
        """Accept until `stop` is set, then close the listener and wait for in-flight handshakes."""
        listener = self._listener or self._bound()
        listener.settimeout(poll_interval)
        try:
            while not stop.is_set():
                try:
                    conn, peer_address = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    if stop.is_set():
                        break
                    continue
                source = peer_address[0]
                slot = self._admit(conn, source)
                if slot is None:
                    self._refuse_busy(conn)
                    continue
                self._dispatch(conn, slot)
        finally:
            listener.close()
            self.drain(self.settings.handshake_timeout)

    def _bound(self) -> socket.socket:
        self.bind()
        assert self._listener is not None
        return self._listener

    def _dispatch(self, conn: socket.socket, slot: _Slot) -> None:
        """Hand the connection to an idle worker, or to a new one: starting a thread per connection
        put its start-up (about 0.1-0.5 ms on a busy machine) into every handshake's latency."""
        with self._workers_lock:
            spawn = self._idle == 0
            if not spawn:
                self._idle -= 1
        if not spawn:
            self._queue.put((conn, slot))
            return
        worker = threading.Thread(target=self._work, args=(conn, slot), daemon=True, name="x0ctl-handshake-conn")
        with self._workers_lock:
            self._workers.add(worker)
        worker.start()

    def _work(self, conn: socket.socket, slot: _Slot) -> None:
        try:
            while True:
                self._serve_connection(conn, slot)
                with self._workers_lock:
                    self._idle += 1
                item = self._queue.get()
                if item is None:
                    return
                conn, slot = item
        finally:
            with self._workers_lock:
                self._workers.discard(threading.current_thread())

    def drain(self, timeout: float) -> int:
        """Wait up to `timeout` s for running handshakes (idle workers exit at once); returns how many
        were still running."""
        deadline = time.monotonic() + timeout
        with self._workers_lock:
            workers = list(self._workers)
        for _ in workers:
            self._queue.put(None)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        return sum(worker.is_alive() for worker in workers)

    def _record(self, reason: FailureReason | None, seconds: float = 0.0, phases=(), origin: str = LOCAL,
                peer: str = "") -> None:
        if reason is None:
            self.tally.success(seconds, *phases)
            if self.metrics is not None:
                self.metrics.success(seconds, peer if self.label_peers else "")
        else:
            self.tally.failure(reason, origin)
            if self.metrics is not None:
                self.metrics.failure(reason, origin)
        if self.on_outcome is not None:
            self.on_outcome(reason)

    def _admit(self, conn: socket.socket, source: str) -> _Slot | None:
        """A slot for `source`, or None (busy). None when the source already holds --max-per-source.
        With every slot taken, fair sharing: a source holding at least two fewer than the largest
        holder takes that holder's oldest slot (its connection is shut down and counted `busy`), so
        however many sources an attacker uses, a source with few connections still gets in."""
        with self._workers_lock:
            held = self._slots.setdefault(source, [])
            if len(held) >= self.settings.max_per_source:
                self._forget_if_empty(source)
                return None
            if self._slots_held >= self.settings.max_connections and not self._evict_for(len(held)):
                self._forget_if_empty(source)
                return None
            slot = _Slot(conn, source, time.monotonic())
            held.append(slot)
            self._slots_held += 1
            return slot

    def _evict_for(self, holding: int) -> bool:
        """Under the lock: free the oldest slot of the largest holder if it holds >= holding + 2."""
        largest = max(self._slots.values(), key=len)
        if len(largest) < holding + 2:
            return False
        victim = largest.pop(0)
        victim.evicted = True
        self._slots_held -= 1
        self.evictions += 1
        self._forget_if_empty(victim.source)
        with contextlib.suppress(OSError):
            victim.conn.shutdown(socket.SHUT_RDWR)  # wakes its worker's blocking read at once
        return True

    def _forget_if_empty(self, source: str) -> None:
        if not self._slots.get(source, True):
            del self._slots[source]

    def _release(self, slot: _Slot) -> None:
        with self._workers_lock:
            if slot.evicted:
                return
            self._slots[slot.source].remove(slot)
            self._slots_held -= 1
            self._forget_if_empty(slot.source)

    def _refuse_busy(self, conn: socket.socket) -> None:
        """In the accept loop: never wait on the peer (a non-blocking send of 11 bytes, then close)."""
        with contextlib.suppress(OSError):
            conn.setblocking(False)
            conn.send(wire.encode_alert(FailureReason.BUSY.wire_code))
        with contextlib.suppress(OSError):
            conn.close()
        self._record(FailureReason.BUSY)

    def _needs_cookie(self) -> bool:
        """Busy: more than half the connection slots in use, or the budget of full handshakes spent."""
        return self._active > self.settings.max_connections // 2 or not self.budget.take()

    def _serve_connection(self, conn: socket.socket, slot: _Slot) -> None:
        settings, policy, source = self.settings, self.policy, slot.source
        pace = (settings.first_frame_timeout, settings.min_rate) if settings.min_rate > 0 else None
        with self._workers_lock:
            self._active += 1
        try:
            with conn:
                with contextlib.suppress(OSError):
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                accepted = time.monotonic()
                deadline = accepted + settings.handshake_timeout
                session = None
                try:
                    first_frame_by = min(deadline, accepted + settings.first_frame_timeout)
                    frame = read_frame(conn, policy.max_payload, first_frame_by,
                                       min(settings.read_timeout, settings.first_frame_timeout))
                    began = _clock()
                    session = Responder(policy, source=source.encode(), require_cookie=self._needs_cookie())
                    while True:
                        _send(conn, session.receive(frame))
                        if session.done:
                            break
                        cookies_sent = session.cookies_sent
                        frame = read_frame(conn, policy.max_payload, deadline, settings.read_timeout, pace)
                        if cookies_sent and not session.phases["encapsulate"]:
                            began = _clock()  # latency counts from the hello that gets the handshake
                except HandshakeFailure as failure:
                    if slot.evicted:  # its slot went to a source below its fair share; the socket is shut
                        self._record(FailureReason.BUSY)
                        return
                    if session is not None and session.cookies_sent and failure.reason is FailureReason.CONNECTION:
                        self._record_cookie()  # the peer went away after its cookie: no handshake attempted
                        return
                    reply = failure.reply
                    if reply is None and not failure.remote:  # e.g. a timeout while waiting for a frame
                        reply = session.refusal(failure) if session is not None else alert_for(failure)
                    if reply is not None:
                        _send_and_linger(conn, reply)
                    self._record(failure.reason, origin=failure.origin)
                except Exception as exc:  # noqa: BLE001 - a bug must not kill the server; counted
                    with contextlib.suppress(OSError):
                        conn.sendall(wire.encode_alert(FailureReason.BACKEND_ERROR.wire_code))
                    self._record(FailureReason.BACKEND_ERROR)
                    self.last_internal_error = type(exc).__name__
                else:
                    self._record(None, _clock() - began, (session.phases,), peer=session.result.peer_fingerprint)
        finally:
            with self._workers_lock:
                self._active -= 1
            self._release(slot)

    def _record_cookie(self) -> None:
        self.tally.cookie()
        if self.metrics is not None:
            self.metrics.cookie()


@dataclass
class ProbeReport:
    """The outcome of `count` probes of one responder; `verdict()` says whether it passed."""

    target: str
    suite: Suite
    tally: Tally
    pinned: bool
    peer_fingerprints: list[str] = field(default_factory=list)
    last_error: dict[str, str] = field(default_factory=dict)
    slo: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.slo) and all(check["ok"] for check in self.slo.values())

    @property
    def unreachable(self) -> bool:
        """Nothing got through: every attempt failed locally to connect or in time (exit 4, not 1)."""
        failures = self.tally.failures
        return (not self.tally.successes and not self.tally.peer_reported and bool(failures)
                and set(failures) <= {FailureReason.CONNECTION.value, FailureReason.TIMEOUT.value})

    def to_dict(self) -> dict:
        return {"target": self.target, "suite": self.suite.describe(), "pinned": self.pinned,
                "peer_fingerprints": self.peer_fingerprints, **self.tally.to_dict(),
                "phases_ms": self.tally.phases_ms(), "errors": self.last_error, "slo": self.slo, "ok": self.ok,
                "metrics": self.metrics}


def probe_once(host: str, port: int, initiator: Initiator, *, timeout: float, max_payload: int,
               source: str | None = None) -> float:
    """One handshake over a fresh TCP connection; returns its latency or raises HandshakeFailure.
    Returns only after the responder's authenticated acceptance (a RESULT ok under this handshake's
    result key)."""
    deadline = time.monotonic() + timeout
    began = _clock()
    try:
        conn = socket.create_connection((host, port), timeout=timeout,
                                        source_address=(source, 0) if source else None)
    except TimeoutError:
        raise HandshakeFailure(FailureReason.TIMEOUT, "connect timed out") from None
    except OSError as exc:
        raise HandshakeFailure(FailureReason.CONNECTION, f"connect failed: {exc.strerror or exc}") from None
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        frame = initiator.start()
        while frame is not None:
            _send(conn, frame)
            try:
                reply = read_frame(conn, max_payload, deadline, timeout)
            except HandshakeFailure as failure:
                if failure.reason is FailureReason.CONNECTION:
                    raise HandshakeFailure(FailureReason.CONNECTION, "responder closed the connection") from None
                raise
            try:
                frame = initiator.receive(reply)
            except HandshakeFailure as failure:
                if failure.reply is not None:  # a coarse ALERT, so the responder sees the refusal
                    with contextlib.suppress(OSError):
                        conn.sendall(failure.reply)
                raise
    return _clock() - began


def run_probe(host: str, port: int, suite: Suite, identity: Identity, *, pin: PeerPin, count: int = 1,
              timeout: float = DEFAULT_READ_TIMEOUT, max_payload: int = wire.DEFAULT_MAX_PAYLOAD,
              metrics=None, progress: Callable[[int, int], None] | None = None) -> ProbeReport:
    """`count` sequential handshakes of x0ctl's protocol, each on a fresh connection, all pinned
    to `pin` (PeerPin.any() only when the caller chose to accept any responder)."""
    report = ProbeReport(format_address(host, port), suite, Tally(), pinned=not pin.is_any)
    for index in range(count):
        initiator = Initiator(suite, identity, pin=pin, max_payload=max_payload)
        try:
            seconds = probe_once(host, port, initiator, timeout=timeout, max_payload=max_payload)
        except HandshakeFailure as failure:
            report.tally.failure(failure.reason, failure.origin)
            key = failure.reason.value if failure.origin == LOCAL else f"{failure.origin}:{failure.reason.value}"
            report.last_error[key] = failure.detail
            if metrics is not None:
                metrics.failure(failure.reason, failure.origin)
        else:
            report.tally.success(seconds, initiator.phases)
            if metrics is not None:
                metrics.success(seconds)
            peer = initiator.result.peer_fingerprint
            if peer not in report.peer_fingerprints:
                report.peer_fingerprints.append(peer)
        if progress is not None:
            progress(index + 1, count)
    return report
