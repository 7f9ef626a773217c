"""The Go mesh agent's UDP handshake (agent/internal/crypto/pqc, agent/internal/mesh/node.go), as an initiator.

Frames (first byte of each datagram): 0x10 init, 0x11 response, 0x01 data, 0x00 raw. Init and
response share one layout after that byte:

    u16 big-endian node-id length || node id || payload || ML-DSA-65 public key (1952) || signature (3309)

with payload = the sender's static ML-KEM-768 encapsulation key (1184 B) in an init, the ML-KEM-768
ciphertext (1088 B) in a response. Each signature is ML-DSA-65, empty context, over
SHA-256(node id || payload). The session key is HKDF-SHA256(shared secret, no salt, info
`x0tta6bl4-pqc-tunnel-v1`), 32 bytes for AES-256-GCM. There is no nonce, timestamp or epoch in
either frame, no key confirmation and no classical (X25519) half.

`probe_agent` plays a node that initiates: it sends an init under a fresh identity, checks the
response against the pinned key (or, without a pin, trusts the first key for the run), decapsulates
and derives the session key, and measures the round trip. With `audit` it also tests what the
protocol leaves open: a byte-identical replay of an init, a second key under the same node id, and
(as a sanity check of the agent) an init with a broken signature.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from x0ctl.errors import IOFailure, UsageError
from x0ctl.mesh.keyid import mesh_key_id
from x0ctl.pqc.fingerprint import PREFIX as FINGERPRINT_PREFIX
from x0ctl.pqc.fingerprint import fingerprint
from x0ctl.textfile import read_bytes

INIT, RESPONSE, DATA, RAW = 0x10, 0x11, 0x01, 0x00
KEM = "ML-KEM-768"
SIG = "ML-DSA-65"
KEM_PUBLIC_KEY_BYTES = 1184
KEM_CIPHERTEXT_BYTES = 1088
SIG_PUBLIC_KEY_BYTES = 1952
SIGNATURE_BYTES = 3309
HKDF_INFO = b"x0tta6bl4-pqc-tunnel-v1"
SESSION_KEY_BYTES = 32
DEFAULT_PORT = 5000
# An IPv4 datagram larger than this (1500-byte MTU less IP and UDP headers) is fragmented.
UNFRAGMENTED_UDP_PAYLOAD = 1472
MIN_FINGERPRINT_PREFIX = 32
MAX_DATAGRAM = 65535


class FrameError(ValueError):
    """A datagram that is not a well-formed frame of the expected kind."""


@dataclass(frozen=True)
class Frame:
    kind: int
    node_id: bytes
    payload: bytes
    public_key: bytes
    signature: bytes


def transcript(node_id: bytes, payload: bytes) -> bytes:
    """What each side signs: SHA-256(node id || KEM public key) for an init, || ciphertext for a response."""
    return hashlib.sha256(node_id + payload).digest()


def encode_frame(kind: int, node_id: bytes, payload: bytes, public_key: bytes, signature: bytes) -> bytes:
    if len(node_id) > 0xFFFF:
        raise UsageError("node id longer than 65535 bytes")
    return bytes([kind]) + struct.pack(">H", len(node_id)) + node_id + payload + public_key + signature


def decode_frame(datagram: bytes, kind: int) -> Frame:
    """Split a frame of `kind` (INIT or RESPONSE); extra bytes after the signature are ignored, as the agent does."""
    if not datagram or datagram[0] != kind:
        raise FrameError(f"expected frame 0x{kind:02x}, got {'nothing' if not datagram else f'0x{datagram[0]:02x}'}")
    payload_size = KEM_PUBLIC_KEY_BYTES if kind == INIT else KEM_CIPHERTEXT_BYTES
    body = datagram[1:]
    if len(body) < 2:
        raise FrameError("frame shorter than its node-id length")
    (id_length,) = struct.unpack(">H", body[:2])
    needed = 2 + id_length + payload_size + SIG_PUBLIC_KEY_BYTES + SIGNATURE_BYTES
    if len(body) < needed:
        raise FrameError(f"frame truncated: {len(body)} bytes, need {needed}")
    offset = 2 + id_length
    node_id = body[2:offset]
    payload = body[offset:offset + payload_size]
    offset += payload_size
    public_key = body[offset:offset + SIG_PUBLIC_KEY_BYTES]
    offset += SIG_PUBLIC_KEY_BYTES
    return Frame(kind, node_id, payload, public_key, body[offset:offset + SIGNATURE_BYTES])


def session_key(shared_secret: bytes) -> bytes:
    """HKDF-SHA256, no salt, info x0tta6bl4-pqc-tunnel-v1, 32 bytes (the agent's AES-256-GCM key)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=SESSION_KEY_BYTES, salt=None, info=HKDF_INFO).derive(shared_secret)



@dataclass(frozen=True)
class AgentPin:
    """--peer-key / --peer-fingerprint: the ML-DSA-65 keys the agent may answer with."""

    public_keys: tuple[bytes, ...] = ()
    fingerprint_prefixes: tuple[str, ...] = ()

    def allows(self, public_key: bytes) -> bool:
        if public_key in self.public_keys:
            return True
        printed = fingerprint(SIG, public_key).removeprefix(FINGERPRINT_PREFIX)
        return any(printed.startswith(prefix) for prefix in self.fingerprint_prefixes)


def parse_fingerprint(text: str) -> str:
    value = text.strip().lower().removeprefix(FINGERPRINT_PREFIX)
    if not MIN_FINGERPRINT_PREFIX <= len(value) <= 64 or any(c not in "0123456789abcdef" for c in value):
        raise UsageError(f"{text!r} is not a key fingerprint: expected sha256:<64 hex> or at least "
                         f"{MIN_FINGERPRINT_PREFIX} hex digits of one (the agent's 16-hex key id is too short to pin)")
    return value


def load_peer_key(path: str | Path) -> bytes:
    """The agent's ML-DSA-65 public key: SubjectPublicKeyInfo PEM, raw 1952 bytes, or hex (as GET /mesh/pqc/pubkeys)."""
    data = read_bytes(path, "peer key")
    if data.lstrip().startswith(b"-----BEGIN"):
        from cryptography.hazmat.primitives.asymmetric import mldsa
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        try:
            key = load_pem_public_key(data)
        except (ValueError, TypeError):
            raise UsageError(f"peer key {path} is not a PEM public key") from None
        except Exception:  # noqa: BLE001 - an algorithm this OpenSSL does not know raises its own types
            raise UsageError(f"peer key {path} is not a PEM public key this OpenSSL can read") from None
        if not isinstance(key, mldsa.MLDSA65PublicKey):
            raise UsageError(f"peer key {path} is not an {SIG} public key")
        return key.public_bytes_raw()
    if len(data) == SIG_PUBLIC_KEY_BYTES:
        return data
    text = data.strip()
    if len(text) == 2 * SIG_PUBLIC_KEY_BYTES:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            pass
    raise UsageError(f"peer key {path} is neither PEM, raw {SIG_PUBLIC_KEY_BYTES} bytes nor their hex")


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # fail | info
    detail: str

    def to_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "detail": self.detail}


@dataclass
class Attempt:
    outcome: str  # ok | timeout | unreachable | malformed | bad_signature | key_mismatch | key_changed
    seconds: float | None = None
    detail: str = ""

    def to_dict(self) -> dict:
        return {"outcome": self.outcome, "ms": None if self.seconds is None else round(self.seconds * 1000, 3),
                "detail": self.detail}


@dataclass
class AgentProbeReport:
    target: str
    node_id: str
    pinned: bool
    attempts: list[Attempt] = field(default_factory=list)
    responder_id: str | None = None
    responder_key_id: str | None = None
    responder_fingerprint: str | None = None
    session_keys_derived: int = 0
    datagram_bytes: dict[str, int | None] = field(default_factory=lambda: {"init": None, "response": None})
    audit: bool = False
    findings: list[Finding] = field(default_factory=list)

    @property
    def successes(self) -> int:
        return sum(a.outcome == "ok" for a in self.attempts)

    @property
    def reachable(self) -> bool:
        return any(a.outcome not in ("timeout", "unreachable") for a in self.attempts)

    @property
    def ok(self) -> bool:
        return self.successes == len(self.attempts) and not any(f.severity == "fail" for f in self.findings)

    def latency_ms(self) -> dict:
        values = sorted(a.seconds * 1000 for a in self.attempts if a.outcome == "ok" and a.seconds is not None)
        if not values:
            return {"p50": None, "p95": None, "max": None}

        def rank(q: float) -> float:  # nearest-rank percentile
            return round(values[max(0, math.ceil(q * len(values)) - 1)], 3)

        return {"p50": rank(0.5), "p95": rank(0.95), "max": round(values[-1], 3)}

    def to_dict(self) -> dict:
        outcomes: dict[str, int] = {}
        for attempt in self.attempts:
            outcomes[attempt.outcome] = outcomes.get(attempt.outcome, 0) + 1
        return {
            "protocol": "mesh-agent-udp", "target": self.target, "node_id": self.node_id,
            "kem": KEM, "signature": SIG, "context": "", "kdf": f"HKDF-SHA256 info={HKDF_INFO.decode()}",
            "pinned": self.pinned,
            "responder": {"node_id": self.responder_id, "key_id": self.responder_key_id,
                          "fingerprint": self.responder_fingerprint},
            "count": len(self.attempts), "successes": self.successes, "outcomes": outcomes,
            "latency_ms": self.latency_ms(), "session_keys_derived": self.session_keys_derived,
            "datagram_bytes": dict(self.datagram_bytes), "audit": self.audit,
            "findings": [f.to_dict() for f in self.findings], "ok": self.ok,
            "attempts": [a.to_dict() for a in self.attempts],
        }


class _Initiator:
    """One node identity: static ML-KEM-768 and ML-DSA-65 keys from x0ctl.pqc, like the agent's."""

    def __init__(self, backend, node_id: str) -> None:
        self.node_id = node_id.encode("utf-8")
        self.kem_scheme = backend.kem(KEM)
        self.sig_scheme = backend.sig(SIG)
        self.kem_key = self.kem_scheme.generate()
        self.sig_key = self.sig_scheme.generate()

    def init_frame(self) -> bytes:
        public = self.kem_key.public_key()
        signature = self.sig_key.sign(transcript(self.node_id, public), b"")
        return encode_frame(INIT, self.node_id, public, self.sig_key.public_key(), signature)


@dataclass
class _Answer:
    frame: Frame | None
    seconds: float
    outcome: str
    detail: str = ""
    size: int | None = None  # bytes of the response datagram


def _exchange(sock: socket.socket, datagram: bytes, timeout: float) -> _Answer:
    """Send one init and wait for a response frame; other datagrams are skipped until the deadline."""
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    try:
        sock.send(datagram)
    except OSError as exc:
        return _Answer(None, 0.0, "unreachable", exc.strerror or type(exc).__name__)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return _Answer(None, time.perf_counter() - started, "timeout", f"no response within {timeout:g} s")
        sock.settimeout(left)
        try:
            reply = sock.recv(MAX_DATAGRAM)
        except TimeoutError:
            continue
        except ConnectionRefusedError:
            return _Answer(None, time.perf_counter() - started, "unreachable", "port unreachable (nothing listens)")
        except OSError as exc:
            return _Answer(None, time.perf_counter() - started, "unreachable", exc.strerror or type(exc).__name__)
        elapsed = time.perf_counter() - started
        if not reply or reply[0] != RESPONSE:
            continue
        try:
            return _Answer(decode_frame(reply, RESPONSE), elapsed, "ok", size=len(reply))
        except FrameError as exc:
            return _Answer(None, elapsed, "malformed", str(exc))


def _accept(initiator: _Initiator, frame: Frame, pin: AgentPin | None, first_key: bytes | None) -> tuple[str, str]:
    """Check a response: the key (pinned, or the run's first), the signature; then decapsulate and derive."""
    if pin is not None and not pin.allows(frame.public_key):
        return "key_mismatch", f"answered with key {mesh_key_id(frame.public_key)}, not the pinned one"
    if pin is None and first_key is not None and frame.public_key != first_key:
        return "key_changed", f"answered with key {mesh_key_id(frame.public_key)} after {mesh_key_id(first_key)}"
    if not initiator.sig_scheme.verify(frame.public_key, transcript(frame.node_id, frame.payload), frame.signature,
                                       b""):
        return "bad_signature", "the response's ML-DSA-65 signature does not verify"
    # Derived and dropped: the protocol has no key confirmation to use it for, but the latency covers
    # everything an initiator does before it can send data.
    session_key(initiator.kem_key.decapsulate(frame.payload))
    return "ok", ""


def _socket(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise IOFailure(f"cannot resolve {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.connect(address)  # a connected socket only receives the agent's datagrams
    except OSError as exc:
        sock.close()
        raise IOFailure(f"cannot reach {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _structural_findings(report: AgentProbeReport) -> None:
    init_size = report.datagram_bytes["init"] or 0
    report.findings += [
        Finding("no_freshness", "info", "frames carry no nonce, timestamp or epoch: nothing lets the agent tell a "
                                        "replayed init from a new one"),
        Finding("no_key_confirmation", "info", "no message proves both sides derived the same session key"),
        Finding("no_classical_half", "info", "ML-KEM-768 only: no X25519 exchange (domain.md requires the hybrid)"),
    ]
    if init_size > UNFRAGMENTED_UDP_PAYLOAD:
        report.findings.append(Finding(
            "ip_fragmentation", "info",
            f"init datagram {init_size} bytes, response {report.datagram_bytes['response'] or '?'} bytes: above "
            f"{UNFRAGMENTED_UDP_PAYLOAD} they are IP-fragmented on a 1500-byte MTU (lost or dropped fragments "
            f"lose the handshake)"))


def _audit(report: AgentProbeReport, backend, sock: socket.socket, captured_init: bytes, node_id: str,
           timeout: float) -> None:
    report.findings.append(Finding(
        "unknown_peer_trusted", "fail",
        f"the agent completed a handshake with {node_id!r}, an identity it was never given (trust on first use)"))
    replay = _exchange(sock, captured_init, timeout)
    if replay.outcome == "ok":
        report.findings.append(Finding(
            "replayed_init_accepted", "fail",
            "a byte-identical copy of an already answered init got a new response: anyone who captured a node's "
            "init can make the agent replace that node's session key"))
    else:
        report.findings.append(Finding("replayed_init_refused", "info", f"the replayed init got no response "
                                                                        f"({replay.outcome})"))
    impostor = _Initiator(backend, node_id)
    other = _exchange(sock, impostor.init_frame(), timeout)
    if other.outcome == "ok":
        report.findings.append(Finding(
            "peer_key_not_pinned", "fail",
            f"the agent accepted another {SIG} key for {node_id!r} after the first: it pins nothing on first use"))
    else:
        report.findings.append(Finding("peer_key_pinned", "info", f"a second key for the same node id got no "
                                                                  f"response ({other.outcome})"))
    forged = bytearray(impostor.init_frame())
    forged[-1] ^= 0x01  # the last byte of the ML-DSA-65 signature
    answer = _exchange(sock, bytes(forged), timeout)
    if answer.outcome == "ok":
        report.findings.append(Finding("forged_init_accepted", "fail", "an init whose signature does not verify got "
                                                                       "a response: the agent does not check it"))
    else:
        report.findings.append(Finding("forged_init_refused", "info", f"an init with a broken signature got no "
                                                                      f"response ({answer.outcome})"))


def random_node_id() -> str:
    return f"x0ctl-probe-{os.urandom(6).hex()}"


def probe_agent(host: str, port: int, *, backend, count: int = 1, timeout: float = 2.0, pin: AgentPin | None = None,
                audit: bool = False, node_id: str | None = None) -> AgentProbeReport:
    """Run `count` handshakes against the agent at host:port as a fresh node; with `audit`, probe its weaknesses."""
    if count < 1:
        raise UsageError("--count must be at least 1")
    if not math.isfinite(timeout) or timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    node_id = node_id or random_node_id()
    if not node_id or len(node_id.encode("utf-8")) > 0xFFFF:
        raise UsageError("--node-id must be 1 to 65535 bytes")
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    report = AgentProbeReport(target=target, node_id=node_id, pinned=pin is not None, audit=audit)
    initiator = _Initiator(backend, node_id)
    first_key: bytes | None = None
    captured_init: bytes | None = None
    with _socket(host, port) as sock:
        for _ in range(count):
            datagram = initiator.init_frame()
            report.datagram_bytes["init"] = len(datagram)
            answer = _exchange(sock, datagram, timeout)
            if answer.frame is None:
                report.attempts.append(Attempt(answer.outcome, None, answer.detail))
                continue
            report.datagram_bytes["response"] = answer.size
            outcome, detail = _accept(initiator, answer.frame, pin, first_key)
            report.attempts.append(Attempt(outcome, answer.seconds if outcome == "ok" else None, detail))
            if outcome == "ok":
                report.session_keys_derived += 1
                captured_init = captured_init or datagram
                if first_key is None:
                    first_key = answer.frame.public_key
                    report.responder_id = answer.frame.node_id.decode("utf-8", "replace")
                    report.responder_key_id = mesh_key_id(first_key)
                    report.responder_fingerprint = fingerprint(SIG, first_key)
        if audit:
            _structural_findings(report)
            if captured_init is not None:
                _audit(report, backend, sock, captured_init, node_id, timeout)
    return report


def parse_target(text: str) -> tuple[str, int]:
    """HOST, HOST:PORT, [IPv6] or [IPv6]:PORT; the agent's port 5000 when none is given."""
    value = text.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ("" if not rest else None)
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    else:
        host, port_text = value, ""
    if not host or port_text is None or (port_text and not port_text.isdigit()):
        raise UsageError(f"{text!r} is not HOST[:PORT]")
    port = int(port_text) if port_text else DEFAULT_PORT
    if not 0 < port <= 65535:
        raise UsageError(f"{text!r}: port {port} is not a destination (1..65535)")
    return host, port


def probe_agent_at(target: str, *, backend: str = "auto", count: int = 1, timeout: float = 2.0,
                   peer_key: str | Path | None = None, peer_fingerprint: str | None = None, audit: bool = False,
                   node_id: str | None = None) -> AgentProbeReport:
    """`handshake probe --protocol mesh-agent-udp`: resolve the options, then `probe_agent`."""
    from x0ctl.pqc import get_backend

    host, port = parse_target(target)
    pin = None
    if peer_key is not None or peer_fingerprint is not None:
        keys = (load_peer_key(peer_key),) if peer_key is not None else ()
        prefixes = (parse_fingerprint(peer_fingerprint),) if peer_fingerprint is not None else ()
        if keys and prefixes and not fingerprint(SIG, keys[0]).removeprefix(FINGERPRINT_PREFIX).startswith(prefixes[0]):
            raise UsageError(f"--peer-key {peer_key} does not have fingerprint {peer_fingerprint}")
        pin = AgentPin(keys, () if keys else prefixes)
    return probe_agent(host, port, backend=get_backend(backend if backend != "all" else "auto"), count=count,
                       timeout=timeout, pin=pin, audit=audit, node_id=node_id)
