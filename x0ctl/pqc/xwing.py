"""X-Wing, the mesh's hybrid KEM (draft-connolly-cfrg-xwing-kem): ML-KEM-768 + X25519.

The shared secret is SHA3-256(ss_M || ss_X || ct_X || pk_X || label): it stays secret while
either ML-KEM-768 or X25519 holds. ML-KEM comes from the selected backend; X25519 always comes
from pyca/cryptography (liboqs has no X25519), which both backends therefore share.

Sizes: seed 32, public key 1216 (pk_M 1184 || pk_X 32), ciphertext 1120 (ct_M 1088 || ct_X 32),
shared secret 32.

Low-order X25519 points: the draft computes ss_X = X25519(k, u) with no all-zero check (sections
5.4 and 5.5), so a low-order ct_X (decapsulation) or pk_X (encapsulation) gives ss_X = 0^32 and
the combiner still yields a secret, the same one every conforming implementation derives.
OpenSSL refuses to return an all-zero X25519 output; this module supplies it for exactly the
u-coordinates that produce it. A protocol may be stricter: `XWing(backend,
reject_low_order=True)` raises PQCError instead (the handshake does; docs/backends.md).
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
_P = 2**255 - 19
# u-coordinates (RFC 7748 decoding: bit 255 masked, reduced mod p) whose X25519 output is all
# zero for every clamped scalar: the points of order 1, 2, 4 and 8 (cr.yp.to/ecdh.html).
LOW_ORDER_U = frozenset({
    0, 1, _P - 1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
})
_ZERO_SECRET = bytes(32)


def is_low_order(u: bytes) -> bool:
    """True when the X25519 point encoded by `u` has small order (the shared secret would be 0^32)."""
    return (int.from_bytes(u, "little") & ((1 << 255) - 1)) % _P in LOW_ORDER_U


def x25519(private: X25519PrivateKey, u: bytes, *, reject_low_order: bool, what: str) -> bytes:
    """X25519(k, u) per RFC 7748, all-zero output included unless `reject_low_order`."""
    try:
        return private.exchange(X25519PublicKey.from_public_bytes(u))
    except ValueError:  # OpenSSL refuses an all-zero result: only a low-order u produces one
        if reject_low_order or not is_low_order(u):
            raise PQCError(f"invalid {what}: X25519 part is a low-order point") from None
        return _ZERO_SECRET


def _combine(ss_m: bytes, ss_x: bytes, ct_x: bytes, pk_x: bytes) -> bytes:
    return hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + LABEL).digest()


class XWingPrivateKey(KemPrivateKey):
    __slots__ = ("algorithm", "_seed", "_ml_kem", "_x25519", "_pk_x", "_public", "_reject_low_order")

    def __init__(self, seed: bytes, ml_kem: KemPrivateKey, x25519_key: X25519PrivateKey, *,
                 reject_low_order: bool = False) -> None:
        self.algorithm = NAME
        self._seed = seed
        self._ml_kem = ml_kem
        self._x25519 = x25519_key
        self._pk_x = x25519_key.public_key().public_bytes_raw()
        self._public = ml_kem.public_key() + self._pk_x
        self._reject_low_order = reject_low_order

    def public_key(self) -> bytes:
        return self._public

    def seed(self) -> bytes:
        return self._seed

    def decapsulate(self, ciphertext: bytes) -> bytes:
        check_length("X-Wing ciphertext", ciphertext, CIPHERTEXT_SIZE)
        ct_m, ct_x = bytes(ciphertext[:_CT_M]), bytes(ciphertext[_CT_M:])
        ss_m = self._ml_kem.decapsulate(ct_m)
        ss_x = x25519(self._x25519, ct_x, reject_low_order=self._reject_low_order, what="X-Wing ciphertext")
        return _combine(ss_m, ss_x, ct_x, self._pk_x)


class XWing:
    """The X-Wing KEM on top of one backend's ML-KEM-768; see the module docstring for `reject_low_order`."""

    name = NAME
    seed_size = SEED_SIZE
    public_key_size = PUBLIC_KEY_SIZE
    ciphertext_size = CIPHERTEXT_SIZE
    shared_secret_size = SHARED_SECRET_SIZE

    def __init__(self, backend: Backend, *, reject_low_order: bool = False) -> None:
        self.backend = backend
        self.reject_low_order = reject_low_order
        self._ml_kem = backend.kem("ML-KEM-768")

    def generate(self) -> XWingPrivateKey:
        return self.from_seed(os.urandom(SEED_SIZE))

    def from_seed(self, seed: bytes) -> XWingPrivateKey:
        check_length("X-Wing seed", seed, SEED_SIZE)
        expanded = hashlib.shake_256(bytes(seed)).digest(96)
        ml_kem = self._ml_kem.from_seed(expanded[:64])
        x25519_key = X25519PrivateKey.from_private_bytes(expanded[64:96])
        return XWingPrivateKey(bytes(seed), ml_kem, x25519_key, reject_low_order=self.reject_low_order)

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
        ss_x = x25519(ephemeral, pk_x, reject_low_order=self.reject_low_order, what="X-Wing public key")
        if eseed:
            ct_m, ss_m = self._ml_kem.encapsulate_deterministic(pk_m, eseed[:32])
        else:
            ct_m, ss_m = self._ml_kem.encapsulate(pk_m)
        return Encapsulation(ct_m + ct_x, _combine(ss_m, ss_x, ct_x, pk_x))
