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
from x0ctl.handshake.protocol import Identity, Initiator, PeerPin, Responder, ResponderPolicy
from x0ctl.handshake.reasons import PEER, FailureReason, HandshakeFailure
from x0ctl.handshake.stats import (
    DEFAULT_MAX_P95_MS,
    DEFAULT_MIN_SUCCESS_RATE,
    FALLBACK_TTL_SECONDS,
    Tally,
    slo_checks,
)
from x0ctl.handshake.suites import CLASSICAL_CODE, Suite, classical_suite
from x0ctl.errors import UsageError

_clock = time.perf_counter
SELFTEST_SOURCE = b"selftest"
COOKIE_OUTCOME = "cookie"  # a busy responder answered with a cookie and did no public-key work
FLOOD_HELLOS = 200


@dataclass
class Pair:
    """A responder that allows exactly one initiator, and that initiator pinned to the responder."""

    suite: Suite
    policy: ResponderPolicy
    client: Identity
    pin: PeerPin

    @classmethod
    def create(cls, suite: Suite) -> Pair:
        server, client = Identity.generate(suite), Identity.generate(suite)
        return cls(suite, ResponderPolicy(suite, server, PeerPin([client.public_key])), client,
                   PeerPin([server.public_key]))

    def initiator(self, **overrides) -> Initiator:
        options = {"pin": self.pin, **overrides}
        identity = options.pop("identity", self.client)
        return Initiator(self.suite, identity, **options)

    def responder(self, **options) -> Responder:
        return Responder(self.policy, source=SELFTEST_SOURCE, **options)


def handshake_once(pair: Pair) -> tuple[Initiator, Responder]:
    """One full handshake; raises HandshakeFailure with the first side's rejection reason."""
    client, server = pair.initiator(), pair.responder()
    frame = client.start()
    while frame is not None:
        frame = client.receive(server.receive(frame))
    return client, server


def run_exchange(pair: Pair, tamper: Callable[[int, bytes], bytes] | None = None,
                 initiator: Initiator | None = None,
                 responder: Responder | None = None) -> tuple[FailureReason | None, str]:
    """A handshake whose frames pass through `tamper(step, frame)` (0 hello, 1 server hello, 2 finish,
    3 result): an on-path attacker. Returns (the first rejection's reason, or None; detail)."""
    client, server = initiator or pair.initiator(), responder or pair.responder()
    frame = client.start()
    try:
        for step in range(4):
            frame = tamper(step, frame) if tamper else frame
            frame = server.receive(frame) if step % 2 == 0 else client.receive(frame)
            if frame is None:
                break
    except HandshakeFailure as failure:
        return failure.reason, failure.detail
    return None, "accepted"


def _edit_server_hello(frame: bytes, **changes) -> bytes:
    _, payload = wire.decode_frame(frame, 1 << 20)
    hello = wire.ServerHello.parse(payload)
    fields = {name: getattr(hello, name) for name in ("suite", "nonce", "ciphertext", "sealed")}
    fields.update(changes)
    return wire.encode_frame(wire.SERVER_HELLO, wire.ServerHello(**fields).encode())


def _flip(data: bytes, index: int = 0) -> bytes:
    return data[:index] + bytes((data[index] ^ 0x01,)) + data[index + 1:]


def _flip_server_field(frame: bytes, name: str, index: int) -> bytes:
    hello = wire.ServerHello.parse(wire.decode_frame(frame)[1])
    return _edit_server_hello(frame, **{name: _flip(getattr(hello, name), index)})


def _at(step: int, change: Callable[[bytes], bytes]) -> Callable[[int, bytes], bytes]:
    return lambda current, frame: change(frame) if current == step else frame


class _CorruptingSigner:
    """A peer holding a real key whose signatures are wrong (a faulty or malicious insider): only
    the signature check can catch it, since the AEAD and finished MACs are computed honestly."""

    def __init__(self, key) -> None:
        self._key = key

    def public_key(self) -> bytes:
        return self._key.public_key()

    def sign(self, message: bytes, context: bytes = b"") -> bytes:
        return _flip(self._key.sign(message, context), 7)


def _corrupted(identity: Identity) -> Identity:
    return Identity(identity.algorithm, _CorruptingSigner(identity.key), identity.public_key, identity.fingerprint)


def _attack_faulty_server_signature(pair: Pair):
    pair.policy = ResponderPolicy(pair.suite, _corrupted(pair.policy.identity), pair.policy.allowed_peers)
    return run_exchange(pair)


def _attack_faulty_client_signature(pair: Pair):
    return run_exchange(pair, initiator=pair.initiator(identity=_corrupted(pair.client)))


def _attack_forged_result(pair: Pair):
    """The responder refuses the initiator (not on its allow-list); an on-path attacker rewrites the
    authenticated refusal into `ok`. The initiator must not believe it."""
    stranger = Identity.generate(pair.suite)
    client, server = pair.initiator(identity=stranger), pair.responder()
    finish = client.receive(server.receive(client.start()))
    try:
        server.receive(finish)
    except HandshakeFailure as refusal:
        code, mac = wire.parse_result(wire.decode_frame(refusal.reply)[1])
        forged = wire.encode_result(0, mac)
    else:
        return None, "the responder accepted an initiator that is not on its allow-list"
    try:
        client.receive(forged)
    except HandshakeFailure as failure:
        return failure.reason, failure.detail
    return None, "the initiator reported success on a forged RESULT"


def _attack_forged_alert(pair: Pair):
    """An initiator sends an ALERT claiming it rejected the responder: the responder must count it as
    peer-reported, never as its own rejection."""
    client, server = pair.initiator(), pair.responder()
    server.receive(client.start())
    try:
        server.receive(wire.encode_alert(FailureReason.REJECTED.wire_code))
    except HandshakeFailure as failure:
        if failure.origin == PEER and not failure.authenticated:
            return f"{PEER}:{failure.reason.value}", failure.detail
        return failure.reason, f"counted as a {failure.origin} rejection"
    return None, "the ALERT was ignored"


def _attack_replayed_handshake(pair: Pair):
    captured: list[bytes] = []

    def capture(step: int, frame: bytes) -> bytes:
        captured.append(frame)
        return frame
    first = run_exchange(pair, capture)
    if first[0] is not None:
        return first[0], f"the original handshake failed: {first[1]}"
    replay = pair.responder()
    try:
        replay.receive(captured[0])  # answered, statelessly: a fresh encapsulation nobody can open
        replay.receive(captured[2])
    except HandshakeFailure as failure:
        return failure.reason, failure.detail
    return None, "replayed CLIENT_HELLO + CLIENT_FINISH accepted"


def _attack_stripped_suites(pair: Pair):
    def strip(frame: bytes) -> bytes:
        hello = wire.ClientHello.parse(wire.decode_frame(frame)[1])
        attacker_share = classical_suite().generate_kem_key().public_key()
        stripped = wire.ClientHello((CLASSICAL_CODE,), hello.nonce, attacker_share, hello.intended_peer)
        return wire.encode_frame(wire.CLIENT_HELLO, stripped.encode())
    return run_exchange(pair, _at(0, strip))


def _attack_unpinned_responder(pair: Pair):
    others = [Identity.generate(pair.suite).public_key for _ in range(2)]
    return run_exchange(pair, initiator=pair.initiator(pin=PeerPin(others)))


def _attack_wrong_intended_peer(pair: Pair):
    return run_exchange(pair, initiator=pair.initiator(pin=PeerPin([Identity.generate(pair.suite).public_key])))


def _attack_no_pin(pair: Pair):
    for build, who in ((lambda: Initiator(pair.suite, pair.client, pin=None), "Initiator"),
                       (lambda: ResponderPolicy(pair.suite, pair.policy.identity, None), "ResponderPolicy")):
        try:
            build()
        except UsageError:
            continue
        return None, f"{who} without a pin was accepted"
    stranger = Identity.generate(pair.suite)  # an arbitrary key against the closed default
    return run_exchange(pair, initiator=pair.initiator(identity=stranger))


def _attack_self_connection(pair: Pair):
    own = pair.policy.identity
    pair.policy = ResponderPolicy(pair.suite, own, PeerPin.any())
    return run_exchange(pair, initiator=pair.initiator(identity=own, pin=PeerPin.any()))


def _attack_cookieless_flood(pair: Pair):
    """A busy responder gets FLOOD_HELLOS hellos without a cookie from one key share: each must get
    a COOKIE frame, with no encapsulation, signature or handshake state."""
    hello = pair.initiator().start()
    began = _clock()
    for _ in range(FLOOD_HELLOS):
        responder = pair.responder(require_cookie=True)
        reply = responder.receive(hello)
        if wire.decode_frame(reply)[0] != wire.COOKIE or responder.phases["encapsulate"] or responder._keys:
            return None, "a cookie-less hello to a busy responder got the full handshake"
    per_hello = (_clock() - began) / FLOOD_HELLOS
    return COOKIE_OUTCOME, f"{FLOOD_HELLOS} hellos answered with a cookie, {per_hello * 1e6:.1f} us each"


def _attack_oversized(pair: Pair):
    def inflate(frame: bytes) -> bytes:
        size = pair.policy.max_payload + 1
        return wire.HEADER.pack(wire.MAGIC, wire.PROTOCOL_VERSION, wire.CLIENT_HELLO, size) + bytes(size)
    return run_exchange(pair, _at(0, inflate))


@dataclass(frozen=True)
class Attack:
    name: str
    description: str
    expected: str  # a failure reason, "peer:<reason>" for a peer-reported one, or "cookie"
    run: Callable[[Pair], tuple[FailureReason | str | None, str]]
    needs_post_quantum: bool = False  # a downgrade needs something to downgrade from


_R = FailureReason
ATTACKS: tuple[Attack, ...] = (
    Attack("tampered_ciphertext", "one bit of the X-Wing ciphertext flipped in SERVER_HELLO", _R.KEY_CONFIRMATION.value,
           lambda pair: run_exchange(pair, _at(1, lambda frame: _flip_server_field(frame, "ciphertext", 5)))),
    Attack("tampered_server_sealed", "one bit of the responder's sealed identity/signature/finished flipped",
           _R.KEY_CONFIRMATION.value,
           lambda pair: run_exchange(pair, _at(1, lambda frame: _flip_server_field(frame, "sealed", 40)))),
    Attack("tampered_client_sealed", "one bit of the initiator's sealed identity/signature/finished flipped",
           _R.KEY_CONFIRMATION.value, lambda pair: run_exchange(pair, _at(2, lambda f: _flip(f, len(f) - 40)))),
    Attack("faulty_server_signature", "a responder with the right key signs a wrong transcript", _R.BAD_SIGNATURE.value,
           _attack_faulty_server_signature),
    Attack("faulty_client_signature", "an initiator with the right key signs a wrong transcript", _R.BAD_SIGNATURE.value,
           _attack_faulty_client_signature),
    Attack("forged_result", "the responder's refusal rewritten to RESULT ok on the path", _R.KEY_CONFIRMATION.value,
           _attack_forged_result),
    Attack("forged_alert", "an initiator claims in an ALERT that it rejected the responder", f"{PEER}:rejected",
           _attack_forged_alert),
    Attack("replayed_handshake", "a captured CLIENT_HELLO and CLIENT_FINISH sent again", _R.KEY_CONFIRMATION.value,
           _attack_replayed_handshake),
    Attack("stripped_suites", "the hybrid suite stripped from CLIENT_HELLO, classical share injected",
           _R.DOWNGRADE.value, _attack_stripped_suites, True),
    Attack("suite_substitution", "SERVER_HELLO rewritten to choose the classical suite", _R.DOWNGRADE.value,
           lambda pair: run_exchange(pair, _at(1, lambda f: _edit_server_hello(f, suite=CLASSICAL_CODE))), True),
    Attack("unpinned_responder", "a responder whose key is none of the pinned ones", _R.UNKNOWN_PEER.value,
           _attack_unpinned_responder),
    Attack("wrong_intended_peer", "a hello meant for another responder identity", _R.UNKNOWN_PEER.value,
           _attack_wrong_intended_peer),
    Attack("no_pin", "no pin: refused at construction; an arbitrary identity against the closed default",
           _R.UNKNOWN_PEER.value, _attack_no_pin),
    Attack("self_connection", "an initiator holding the responder's own identity", _R.SELF_CONNECTION.value,
           _attack_self_connection),
    Attack("cookieless_flood", f"{FLOOD_HELLOS} hellos without a cookie to a busy responder", COOKIE_OUTCOME,
           _attack_cookieless_flood),
    Attack("truncated_message", "CLIENT_HELLO cut short by 100 bytes", _R.MALFORMED.value,
           lambda pair: run_exchange(pair, _at(0, lambda f: f[:-100]))),
    Attack("oversized_message", "a frame announcing a payload above the size limit", _R.OVERSIZED.value,
           _attack_oversized),
    Attack("unsupported_version", "a protocol version 1 CLIENT_HELLO", _R.UNSUPPORTED_VERSION.value,
           lambda pair: run_exchange(pair, _at(0, lambda f: f[:4] + b"\x01" + f[5:]))),
    Attack("garbage", "random bytes instead of a frame", _R.MALFORMED.value,
           lambda pair: run_exchange(pair, _at(0, lambda f: bytes(range(256)) * 4))),
)


def _outcome(got: FailureReason | str | None) -> str:
    if got is None:
        return "accepted"
    return got.value if isinstance(got, FailureReason) else got


def run_attacks(suite: Suite) -> list[dict]:
    """Every attack against a fresh pair; each must end with its expected outcome."""
    results = []
    for attack in ATTACKS:
        if attack.needs_post_quantum and not suite.post_quantum:
            results.append({"attack": attack.name, "description": attack.description, "expected": attack.expected,
                            "got": None, "ok": None, "detail": "not applicable: the classical suite is already the "
                            "downgraded one"})
            continue
        try:
            got, detail = attack.run(Pair.create(suite))
        except Exception as exc:  # noqa: BLE001 - an escaping exception is itself a failed check
            got, detail = None, f"exception escaped: {type(exc).__name__}"
        outcome = _outcome(got)
        results.append({"attack": attack.name, "description": attack.description, "expected": attack.expected,
                        "got": outcome, "ok": outcome == attack.expected, "detail": detail})
    return results


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
    # Each worker has its own pair, so the verifier cache behaves as on a node.
    pairs = [Pair.create(suite) for _ in range(max(1, concurrency))]
    tally = Tally()
    step = max(1, count // 100)

    def one(index: int) -> None:
        pair = pairs[index % len(pairs)]
        began = _clock()
        try:
            client, server = handshake_once(pair)
        except HandshakeFailure as failure:
            tally.failure(failure.reason, failure.origin)
            if metrics is not None:
                metrics.failure(failure.reason, failure.origin)
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
