"""A UDP responder speaking the Go mesh agent's handshake, for the probe's tests (127.0.0.1 only).

Written from the frame format documented in ../shared/mesh-interop.md (and the agent's source),
with pyca/cryptography's ML-KEM-768 and ML-DSA-65, independently of x0ctl.mesh.agent_udp:

    0x10 init:     u16be id length || node id || ML-KEM-768 key (1184) || ML-DSA-65 key (1952) || sig (3309)
    0x11 response: u16be id length || node id || ML-KEM-768 ciphertext (1088) || ML-DSA-65 key || sig

Signatures: ML-DSA-65, empty context, over SHA-256(node id || KEM key / ciphertext). Session key:
HKDF-SHA256(shared secret, no salt, info "x0tta6bl4-pqc-tunnel-v1", 32 bytes).

Like the agent it answers any init whose signature verifies (trust on first use, nothing pinned,
no replay check). `reject_replays` and `pin_first_key` make the hardened variant the audit must
tell apart; `corrupt_signature` answers with a broken signature, `truncate` with a short frame, `skip_verification` answers inits whose signature is broken.
"""

from __future__ import annotations

import hashlib
import socket
import threading

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEM_KEY, KEM_CT, DSA_KEY, DSA_SIG = 1184, 1088, 1952, 3309


class AgentResponder:
    def __init__(self, node_id: str = "agent-1", *, reject_replays: bool = False, pin_first_key: bool = False,
                 corrupt_signature: bool = False, truncate: bool = False, skip_verification: bool = False) -> None:
        self.node_id = node_id.encode()
        self.key = mldsa.MLDSA65PrivateKey.generate()
        self.public_key = self.key.public_key().public_bytes_raw()
        self.reject_replays = reject_replays
        self.pin_first_key = pin_first_key
        self.corrupt_signature = corrupt_signature
        self.truncate = truncate
        self.skip_verification = skip_verification
        self.session_keys: list[bytes] = []
        self.inits_seen: set[bytes] = set()
        self.pinned: dict[bytes, bytes] = {}
        self.refused = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> AgentResponder:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                datagram, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            reply = self._answer(datagram)
            if reply is None:
                self.refused += 1
            else:
                self.sock.sendto(reply, peer)

    def _answer(self, datagram: bytes) -> bytes | None:
        if len(datagram) < 3 or datagram[0] != 0x10:
            return None
        length = int.from_bytes(datagram[1:3], "big")
        rest = datagram[3:]
        if len(rest) < length + KEM_KEY + DSA_KEY + DSA_SIG:
            return None
        peer_id, rest = rest[:length], rest[length:]
        kem_key, peer_dsa, signature = rest[:KEM_KEY], rest[KEM_KEY:KEM_KEY + DSA_KEY], \
            rest[KEM_KEY + DSA_KEY:KEM_KEY + DSA_KEY + DSA_SIG]
        try:
            mldsa.MLDSA65PublicKey.from_public_bytes(peer_dsa).verify(signature,
                                                                      hashlib.sha256(peer_id + kem_key).digest())
        except (InvalidSignature, ValueError):
            if not self.skip_verification:
                return None
        if self.reject_replays:
            if datagram in self.inits_seen:
                return None
            self.inits_seen.add(datagram)
        if self.pin_first_key and self.pinned.setdefault(peer_id, peer_dsa) != peer_dsa:
            return None
        shared, ciphertext = mlkem.MLKEM768PublicKey.from_public_bytes(kem_key).encapsulate()
        self.session_keys.append(HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                                      info=b"x0tta6bl4-pqc-tunnel-v1").derive(shared))
        own_signature = bytearray(self.key.sign(hashlib.sha256(self.node_id + ciphertext).digest()))
        if self.corrupt_signature:
            own_signature[10] ^= 0x01
        response = (b"\x11" + len(self.node_id).to_bytes(2, "big") + self.node_id + ciphertext + self.public_key
                    + bytes(own_signature))
        return response[:-100] if self.truncate else response
