"""X-Wing, the mesh's hybrid KEM (draft-connolly-cfrg-xwing-kem): ML-KEM-768 + X25519.

The shared secret is SHA3-256(ss_M || ss_X || ct_X || pk_X || label): it stays secret while
either ML-KEM-768 or X25519 holds. ML-KEM comes from the selected backend; X25519 always comes
from pyca/cryptography (liboqs has no X25519), which both backends therefore share.

Sizes: seed 32, public key 1216 (pk_M 1184 || pk_X 32), ciphertext 1120 (ct_M 1088 || ct_X 32),
shared secret 32.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from x0ctl.pqc.base import Backend, Encapsulation, KemPrivateKey, PQCError, check_length

LABEL = b"\\.//^\\"  # the draft's XWingLabel, 0x5c2e2f2f5e5c
NAME = "X-Wing"
SEED_SIZE = 32
PUBLIC_KEY_SIZE = 1216
CIPHERTEXT_SIZE = 1120
SHARED_SECRET_SIZE = 32
_PK_M, _CT_M = 1184, 1088


def _combine(ss_m: bytes, ss_x: bytes, ct_x: bytes, pk_x: bytes) -> bytes:
    return hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + LABEL).digest()


class XWingPrivateKey(KemPrivateKey):
    __slots__ = ("algorithm", "_seed", "_ml_kem", "_x25519", "_pk_x", "_public")

    def __init__(self, seed: bytes, ml_kem: KemPrivateKey, x25519: X25519PrivateKey) -> None:
        self.algorithm = NAME
        self._seed = seed
        self._ml_kem = ml_kem
        self._x25519 = x25519
        self._pk_x = x25519.public_key().public_bytes_raw()
        self._public = ml_kem.public_key() + self._pk_x

    def public_key(self) -> bytes:
        return self._public

    def seed(self) -> bytes:
        return self._seed

    def decapsulate(self, ciphertext: bytes) -> bytes:
        check_length("X-Wing ciphertext", ciphertext, CIPHERTEXT_SIZE)
        ct_m, ct_x = bytes(ciphertext[:_CT_M]), bytes(ciphertext[_CT_M:])
        ss_m = self._ml_kem.decapsulate(ct_m)
        ss_x = self._x25519.exchange(X25519PublicKey.from_public_bytes(ct_x))
        return _combine(ss_m, ss_x, ct_x, self._pk_x)


class XWing:
    """The X-Wing KEM on top of one backend's ML-KEM-768."""

    name = NAME
    seed_size = SEED_SIZE
    public_key_size = PUBLIC_KEY_SIZE
    ciphertext_size = CIPHERTEXT_SIZE
    shared_secret_size = SHARED_SECRET_SIZE

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._ml_kem = backend.kem("ML-KEM-768")

    def generate(self) -> XWingPrivateKey:
        return self.from_seed(os.urandom(SEED_SIZE))

    def from_seed(self, seed: bytes) -> XWingPrivateKey:
        check_length("X-Wing seed", seed, SEED_SIZE)
        expanded = hashlib.shake_256(bytes(seed)).digest(96)
        ml_kem = self._ml_kem.from_seed(expanded[:64])
        x25519 = X25519PrivateKey.from_private_bytes(expanded[64:96])
        return XWingPrivateKey(bytes(seed), ml_kem, x25519)

    def encapsulate(self, public_key: bytes) -> Encapsulation:
        return self._encapsulate(public_key, None)

    def encapsulate_deterministic(self, public_key: bytes, eseed: bytes) -> Encapsulation:
        """EncapsulateDerand of the draft (eseed: 64 bytes, ML-KEM m || X25519 ephemeral)."""
        check_length("X-Wing eseed", eseed, 64)
        return self._encapsulate(public_key, bytes(eseed))

    def _encapsulate(self, public_key: bytes, eseed: bytes | None) -> Encapsulation:
        check_length("X-Wing public key", public_key, PUBLIC_KEY_SIZE)
        pk_m, pk_x = bytes(public_key[:_PK_M]), bytes(public_key[_PK_M:])
        ephemeral = X25519PrivateKey.from_private_bytes(eseed[32:]) if eseed else X25519PrivateKey.generate()
        ct_x = ephemeral.public_key().public_bytes_raw()
        try:
            ss_x = ephemeral.exchange(X25519PublicKey.from_public_bytes(pk_x))
        except ValueError:  # an all-zero shared secret: a low-order X25519 point
            raise PQCError("invalid X-Wing public key: X25519 part is a low-order point") from None
        if eseed:
            ct_m, ss_m = self._ml_kem.encapsulate_deterministic(pk_m, eseed[:32])
        else:
            ct_m, ss_m = self._ml_kem.encapsulate(pk_m)
        return Encapsulation(ct_m + ct_x, _combine(ss_m, ss_x, ct_x, pk_x))
