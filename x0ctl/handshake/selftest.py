"""In-process self-test: initiator/responder pairs through the full protocol, and every attack.

Each handshake runs both state machines in this process, passing real encoded frames between
them (so the parser is exercised exactly as on the wire). Latency is the wall time of one whole
handshake, both sides' work included.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from x0ctl.handshake import wire
from x0ctl.handshake.protocol import Identity, Initiator, PeerPin, ReplayCache, Responder, ResponderPolicy
from x0ctl.handshake.reasons import FailureReason, HandshakeFailure
from x0ctl.handshake.stats import (
    DEFAULT_MAX_P95_MS,
    DEFAULT_MIN_SUCCESS_RATE,
    FALLBACK_TTL_SECONDS,
    Tally,
    slo_checks,
)
from x0ctl.handshake.suites import CLASSICAL_CODE, Suite, classical_suite

_clock = time.perf_counter


@dataclass
class Pair:
    """A responder policy and a client identity pinned to it: what every self-test handshake uses."""

    suite: Suite
    policy: ResponderPolicy
    client: Identity
    pin: PeerPin

    @classmethod
    def create(cls, suite: Suite, *, epoch: int = 0, replay_capacity: int | None = None) -> Pair:
        server = Identity.generate(suite)
        cache = ReplayCache(capacity=replay_capacity) if replay_capacity else ReplayCache()
        return cls(suite, ResponderPolicy(suite, server, cache, epoch=epoch), Identity.generate(suite),
                   PeerPin([server.public_key]))

    def initiator(self, **overrides) -> Initiator:
        options = {"pin": self.pin, "epoch": self.policy.epoch, **overrides}
        return Initiator(self.suite, self.client, **options)


def handshake_once(pair: Pair) -> tuple[Initiator, Responder]:
    """One full handshake; raises HandshakeFailure with the first side's rejection reason."""
    client, server = pair.initiator(), Responder(pair.policy)
    frame = client.start()
    while frame is not None:
        frame = client.receive(server.receive(frame))
    return client, server


def run_exchange(pair: Pair, tamper: Callable[[int, bytes], bytes] | None = None,
                 initiator: Initiator | None = None) -> tuple[FailureReason | None, str]:
    """A handshake whose frames pass through `tamper(step, frame)` (0 hello, 1 server hello, 2 finish,
    3 result): an on-path attacker. Returns (rejection reason or None, detail)."""
    client, server = initiator or pair.initiator(), Responder(pair.policy)
    frames = [client.start()]
    try:
        for step in range(4):
            frame = tamper(step, frames[-1]) if tamper else frames[-1]
            reply = server.receive(frame) if step % 2 == 0 else client.receive(frame)
            if reply is None:
                break
            frames.append(reply)
    except HandshakeFailure as failure:
        return failure.reason, failure.detail
    return None, "accepted"


# --- attacks ------------------------------------------------------------------------------------

def _edit_server_hello(frame: bytes, **changes) -> bytes:
    _, payload = wire.decode_frame(frame, 1 << 20)
    hello = wire.ServerHello.parse(payload)
    fields = {name: getattr(hello, name) for name in ("suite", "nonce", "identity", "ciphertext", "signature",
                                                      "finished")}
    fields.update(changes)
    return wire.encode_frame(wire.SERVER_HELLO, wire.ServerHello(**fields).encode())


def _flip(data: bytes, index: int = 0) -> bytes:
    return data[:index] + bytes((data[index] ^ 0x01,)) + data[index + 1:]


def _flip_server_field(frame: bytes, name: str, index: int) -> bytes:
    hello = wire.ServerHello.parse(wire.decode_frame(frame)[1])
    return _edit_server_hello(frame, **{name: _flip(getattr(hello, name), index)})


def _at(step: int, change: Callable[[bytes], bytes]) -> Callable[[int, bytes], bytes]:
    return lambda current, frame: change(frame) if current == step else frame


def _attack_replayed_hello(pair: Pair):
    captured: list[bytes] = []
    first = run_exchange(pair, lambda step, frame: captured.append(frame) or frame if step == 0 else frame)
    if first[0] is not None:
        return first[0], f"the original handshake failed: {first[1]}"
    try:
        Responder(pair.policy).receive(captured[0])
    except HandshakeFailure as failure:
        return failure.reason, failure.detail
    return None, "replayed CLIENT_HELLO accepted"


def _attack_stripped_suites(pair: Pair):
    def strip(frame: bytes) -> bytes:
        _, payload = wire.decode_frame(frame)
        hello = wire.ClientHello.parse(payload)
        attacker_share = classical_suite().generate_kem_key().public_key()
        stripped = wire.ClientHello((CLASSICAL_CODE,), hello.nonce, hello.epoch, hello.timestamp_ms, attacker_share,
                                    hello.identity)
        return wire.encode_frame(wire.CLIENT_HELLO, stripped.encode())
    return run_exchange(pair, _at(0, strip))


def _attack_substituted_key(pair: Pair):
    attacker = Identity.generate(pair.suite)
    return run_exchange(pair, _at(1, lambda frame: _edit_server_hello(frame, identity=attacker.public_key)))


def _attack_oversized(pair: Pair):
    def inflate(frame: bytes) -> bytes:
        size = pair.policy.max_payload + 1
        return wire.HEADER.pack(wire.MAGIC, wire.PROTOCOL_VERSION, wire.CLIENT_HELLO, size) + bytes(size)
    return run_exchange(pair, _at(0, inflate))


def _attack_old_epoch(pair: Pair):
    return run_exchange(pair, initiator=pair.initiator(epoch=pair.policy.epoch - 1))


def _attack_stale_timestamp(pair: Pair):
    return run_exchange(pair, initiator=pair.initiator(clock=lambda: time.time() - 3600))


@dataclass(frozen=True)
class Attack:
    name: str
    description: str
    expected: FailureReason
    run: Callable[[Pair], tuple[FailureReason | None, str]]
    needs_post_quantum: bool = False  # a downgrade needs something to downgrade from


ATTACKS: tuple[Attack, ...] = (
    Attack("tampered_ciphertext", "one bit of the X-Wing ciphertext flipped in SERVER_HELLO",
           FailureReason.KEY_CONFIRMATION,
           lambda pair: run_exchange(pair, _at(1, lambda frame: _flip_server_field(frame, "ciphertext", 5)))),
    Attack("tampered_server_signature", "one bit of the responder's transcript signature flipped",
           FailureReason.BAD_SIGNATURE,
           lambda pair: run_exchange(pair, _at(1, lambda frame: _flip_server_field(frame, "signature", 7)))),
    Attack("tampered_client_signature", "one bit of the initiator's transcript signature flipped",
           FailureReason.BAD_SIGNATURE,
           lambda pair: run_exchange(pair, _at(2, lambda f: _flip(f, wire.HEADER_SIZE + 9)))),
    Attack("tampered_finished", "one bit of the responder's finished MAC flipped", FailureReason.KEY_CONFIRMATION,
           lambda pair: run_exchange(pair, _at(1, lambda f: _flip(f, len(f) - 1)))),
    Attack("replayed_hello", "a captured CLIENT_HELLO sent again", FailureReason.REPLAY, _attack_replayed_hello),
    Attack("old_epoch", "a CLIENT_HELLO from an epoch before the current one", FailureReason.REPLAY, _attack_old_epoch),
    Attack("stale_timestamp", "a CLIENT_HELLO timestamped an hour ago", FailureReason.REPLAY, _attack_stale_timestamp),
    Attack("stripped_suites", "the hybrid suite stripped from CLIENT_HELLO, classical share injected",
           FailureReason.DOWNGRADE, _attack_stripped_suites, True),
    Attack("suite_substitution", "SERVER_HELLO rewritten to choose the classical suite", FailureReason.DOWNGRADE,
           lambda pair: run_exchange(pair, _at(1, lambda f: _edit_server_hello(f, suite=CLASSICAL_CODE))), True),
    Attack("substituted_public_key", "the responder's identity key replaced by an attacker's key",
           FailureReason.UNKNOWN_PEER, _attack_substituted_key),
    Attack("truncated_message", "CLIENT_HELLO cut short by 100 bytes", FailureReason.MALFORMED,
           lambda pair: run_exchange(pair, _at(0, lambda f: f[:-100]))),
    Attack("oversized_message", "a frame announcing a payload above the size limit", FailureReason.OVERSIZED,
           _attack_oversized),
    Attack("unsupported_version", "CLIENT_HELLO with another protocol version", FailureReason.UNSUPPORTED_VERSION,
           lambda pair: run_exchange(pair, _at(0, lambda f: f[:4] + b"\x09" + f[5:]))),
    Attack("garbage", "random bytes instead of a frame", FailureReason.MALFORMED,
           lambda pair: run_exchange(pair, _at(0, lambda f: bytes(range(256)) * 4))),
)


def run_attacks(suite: Suite) -> list[dict]:
    """Every attack against a fresh pair (epoch 1, so an older epoch exists); each must be rejected
    with its expected reason."""
    results = []
    for attack in ATTACKS:
        if attack.needs_post_quantum and not suite.post_quantum:
            results.append({"attack": attack.name, "description": attack.description, "expected": attack.expected.value,
                            "got": None, "ok": None, "detail": "not applicable: the classical suite is already the "
                            "downgraded one"})
            continue
        pair = Pair.create(suite, epoch=1)
        try:
            got, detail = attack.run(pair)
        except Exception as exc:  # noqa: BLE001 - an escaping exception is itself a failed check
            got, detail = None, f"exception escaped: {type(exc).__name__}"
        results.append({"attack": attack.name, "description": attack.description, "expected": attack.expected.value,
                        "got": got.value if got else "accepted", "ok": got is attack.expected, "detail": detail})
    return results


# --- the self-test --------------------------------------------------------------------------------

@dataclass
class SelftestReport:
    suite: Suite
    count: int
    concurrency: int
    tally: Tally
    seconds: float
    slo: dict
    fallback: bool
    negative: list[dict] | None = None
    metrics: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (all(check["ok"] for check in self.slo.values())
                and (self.negative is None or all(result["ok"] is not False for result in self.negative)))

    def to_dict(self) -> dict:
        return {
            "suite": self.suite.describe(),
            "count": self.count,
            "concurrency": self.concurrency,
            **self.tally.to_dict(),
            "handshakes_per_second": round(self.tally.successes / self.seconds, 1) if self.seconds else 0.0,
            "seconds": round(self.seconds, 3),
            "phases_ms": self.tally.phases_ms(),
            "slo": self.slo,
            "fallback": fallback_state(self.fallback),
            "negative": self.negative,
            "metrics": self.metrics,
            "ok": self.ok,
        }


def fallback_state(enabled: bool) -> dict:
    return {
        "enabled": enabled,
        "ttl_seconds": FALLBACK_TTL_SECONDS,
        "classical": "X25519 key exchange + Ed25519 signatures + HKDF-SHA256" if enabled else None,
    }


def run_selftest(suite: Suite, count: int, *, concurrency: int = 1, negative: bool = False, metrics=None,
                 fallback: bool = False, min_success_rate: float = DEFAULT_MIN_SUCCESS_RATE,
                 max_p95_ms: float = DEFAULT_MAX_P95_MS,
                 progress: Callable[[int, int], None] | None = None) -> SelftestReport:
    # Each worker has its own pair, so the replay cache and verifier cache behave as on a node.
    pairs = [Pair.create(suite) for _ in range(max(1, concurrency))]
    tally = Tally()
    step = max(1, count // 100)

    def one(index: int) -> None:
        pair = pairs[index % len(pairs)]
        began = _clock()
        try:
            client, server = handshake_once(pair)
        except HandshakeFailure as failure:
            tally.failure(failure.reason)
            if metrics is not None:
                metrics.failure(failure.reason)
        else:
            elapsed = _clock() - began
            tally.success(elapsed, client.phases, server.phases)
            if metrics is not None:
                metrics.success(elapsed)
        if progress is not None and index % step == 0:
            progress(index + 1, count)

    began = _clock()
    if concurrency <= 1:
        for index in range(count):
            one(index)
    else:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="x0ctl-handshake") as pool:
            for _ in pool.map(one, range(count)):
                pass
    seconds = _clock() - began
    if progress is not None:
        progress(count, count)
    slo = slo_checks(tally, min_success_rate, max_p95_ms)
    slo["fallback"] = {"target": "disabled (fallback rate SLO is 0)", "actual": "enabled" if fallback else "disabled",
                       "ok": not fallback}
    if metrics is not None:
        metrics.set_fallback(fallback)
    return SelftestReport(suite, count, concurrency, tally, seconds, slo, fallback,
                          run_attacks(suite) if negative else None)
