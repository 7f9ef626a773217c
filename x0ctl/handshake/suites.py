"""Cipher suites: which KEM authenticates with which signature, and their wire sizes.

- `X0-XWING-MLDSA65-SHA256` (0x0001, the mesh's suite): X-Wing (ML-KEM-768 + X25519) from the
  selected PQC backend, ML-DSA-65 identities, HKDF-SHA256/HMAC-SHA256.
- `X0-X25519-ED25519-SHA256` (0x0002, classical fallback only): X25519 used as a KEM
  (ephemeral-static DH, secret = SHA3-256(dh || ct || pk || label)), Ed25519 identities.
  Offered and accepted only while X0TTA6BL4_DISABLE_PQC=true; both come from pyca/cryptography.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from x0ctl.handshake.reasons import FailureReason, HandshakeFailure
from x0ctl.pqc.base import Backend, PQCError

HYBRID_CODE = 0x0001
CLASSICAL_CODE = 0x0002
SUITE_NAMES = {HYBRID_CODE: "X0-XWING-MLDSA65-SHA256", CLASSICAL_CODE: "X0-X25519-ED25519-SHA256"}
_CLASSICAL_LABEL = b"x0ctl x25519 kem"
_VERIFIER_CACHE_SIZE = 256


@dataclass(frozen=True)
class SuiteSizes:
    key_share: int
    ciphertext: int
    identity: int
    signature: int


class Suite:
    """One suite bound to its implementations. Shared by threads: holds no per-handshake state."""

    code: int
    name: str
    post_quantum: bool
    kem_name: str
    identity_algorithm: str
    sizes: SuiteSizes
    backend_name: str | None = None

    def __init__(self) -> None:
        self._verifiers: dict[bytes, object] = {}
        self._verifier_lock = threading.Lock()

    def generate_kem_key(self):
        """An ephemeral KEM private key: `.public_key()` and `.decapsulate(ciphertext)`."""
        raise NotImplementedError

    def encapsulate(self, public_key: bytes) -> tuple[bytes, bytes]:
        raise NotImplementedError

    def generate_identity(self):
        raise NotImplementedError

    def _parse_verifier(self, public_key: bytes):
        raise NotImplementedError

    def verifier(self, public_key: bytes):
        """The parsed verification key for raw public-key bytes, cached: peers repeat."""
        found = self._verifiers.get(public_key)
        if found is None:
            try:
                found = self._parse_verifier(public_key)
            except (PQCError, ValueError) as exc:
                raise HandshakeFailure(FailureReason.MALFORMED, f"invalid {self.identity_algorithm} identity key: "
                                       f"{getattr(exc, 'message', 'rejected by the backend')}") from None
            with self._verifier_lock:
                if len(self._verifiers) >= _VERIFIER_CACHE_SIZE:
                    self._verifiers.pop(next(iter(self._verifiers)))
                self._verifiers[public_key] = found
        return found

    def describe(self) -> dict:
        return {"code": f"0x{self.code:04x}", "name": self.name, "post_quantum": self.post_quantum,
                "kem": self.kem_name, "identity": self.identity_algorithm, "kdf": "HKDF-SHA256",
                "mac": "HMAC-SHA256", "backend": self.backend_name}

    def __repr__(self) -> str:
        return f"<Suite {self.name}>"


class HybridSuite(Suite):
    code = HYBRID_CODE
    name = SUITE_NAMES[HYBRID_CODE]
    post_quantum = True
    kem_name = "X-Wing (ML-KEM-768 + X25519)"
    identity_algorithm = "ML-DSA-65"

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        from x0ctl.pqc.xwing import XWing

        self.backend_name = backend.name
        self.xwing = XWing(backend, reject_low_order=True)  # the handshake's policy: docs/backends.md
        self.signatures = backend.sig("ML-DSA-65")
        self.sizes = SuiteSizes(self.xwing.public_key_size, self.xwing.ciphertext_size,
                                self.signatures.sizes.public_key, self.signatures.sizes.signature)

    def generate_kem_key(self):
        return self.xwing.generate()

    def encapsulate(self, public_key: bytes) -> tuple[bytes, bytes]:
        return self.xwing.encapsulate(public_key)

    def generate_identity(self):
        return self.signatures.generate()

    def identity_from_seed(self, seed: bytes):
        return self.signatures.from_seed(seed)

    def _parse_verifier(self, public_key: bytes):
        return self.signatures.public_key(public_key)


class _X25519KemKey:
    __slots__ = ("_key", "_public")

    def __init__(self) -> None:
        self._key = X25519PrivateKey.generate()
        self._public = self._key.public_key().public_bytes_raw()

    def public_key(self) -> bytes:
        return self._public

    def decapsulate(self, ciphertext: bytes) -> bytes:
        try:
            shared = self._key.exchange(X25519PublicKey.from_public_bytes(ciphertext))
        except ValueError:
            raise PQCError("invalid X25519 ciphertext: low-order point") from None
        return _classical_secret(shared, ciphertext, self._public)


def _classical_secret(shared: bytes, ciphertext: bytes, public_key: bytes) -> bytes:
    return hashlib.sha3_256(shared + ciphertext + public_key + _CLASSICAL_LABEL).digest()


class _Ed25519Identity:
    """Ed25519 has no context string: the context is length-prefixed onto the message instead."""

    __slots__ = ("algorithm", "_key", "_public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.algorithm = "Ed25519"
        self._key = key
        self._public = key.public_key().public_bytes_raw()

    def public_key(self) -> bytes:
        return self._public

    def sign(self, message: bytes, context: bytes = b"") -> bytes:
        return self._key.sign(bytes((len(context),)) + context + message)

    def __repr__(self) -> str:
        return "<Ed25519 identity>"


class _Ed25519Verifier:
    __slots__ = ("_key",)

    def __init__(self, public_key: bytes) -> None:
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    def verify(self, message: bytes, signature: bytes, context: bytes = b"") -> bool:
        try:
            self._key.verify(signature, bytes((len(context),)) + context + message)
        except InvalidSignature:
            return False
        return True


class ClassicalSuite(Suite):
    code = CLASSICAL_CODE
    name = SUITE_NAMES[CLASSICAL_CODE]
    post_quantum = False
    kem_name = "X25519 (DH as a KEM)"
    identity_algorithm = "Ed25519"
    sizes = SuiteSizes(32, 32, 32, 64)

    def generate_kem_key(self):
        return _X25519KemKey()

    def encapsulate(self, public_key: bytes) -> tuple[bytes, bytes]:
        ephemeral = X25519PrivateKey.generate()
        ciphertext = ephemeral.public_key().public_bytes_raw()
        try:
            shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public_key))
        except ValueError:
            raise PQCError("invalid X25519 key share: low-order point") from None
        return ciphertext, _classical_secret(shared, ciphertext, public_key)

    def generate_identity(self):
        return _Ed25519Identity(Ed25519PrivateKey.generate())

    def _parse_verifier(self, public_key: bytes):
        return _Ed25519Verifier(public_key)


def hybrid_suite(backend: Backend) -> HybridSuite:
    """The mesh's suite on `backend`, one instance per backend (its verifier cache is shared)."""
    with _suite_lock:
        suite = _hybrid_suites.get(backend.name)
        if suite is None:
            suite = _hybrid_suites[backend.name] = HybridSuite(backend)
        return suite


def classical_suite() -> ClassicalSuite:
    global _classical
    with _suite_lock:
        if _classical is None:
            _classical = ClassicalSuite()
        return _classical


_suite_lock = threading.Lock()
_hybrid_suites: dict[str, HybridSuite] = {}
_classical: ClassicalSuite | None = None
