"""Backend `openssl`: ML-KEM and ML-DSA from pyca/cryptography (OpenSSL/BoringSSL in its wheels).

Always available: cryptography is a hard dependency. Its API offers seed-form keys, hedged
signing with a context, verification over an external mu and implicit-rejection decapsulation.
It does not expose deterministic encapsulation or signing, nor expanded private keys (neither
exported nor loaded), so those KAT checks are skipped with the reason each method raises here.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem

from x0ctl.pqc.base import (
    KEM_SIZES,
    SIG_SIZES,
    Backend,
    Encapsulation,
    KemPrivateKey,
    KemScheme,
    PQCError,
    SigPrivateKey,
    SigPublicKey,
    SigScheme,
    UnsupportedOperation,
    check_context,
    check_length,
)

_KEM_CLASSES = {
    name: (getattr(mlkem, f"MLKEM{bits}PrivateKey", None), getattr(mlkem, f"MLKEM{bits}PublicKey", None))
    for name, bits in (("ML-KEM-512", 512), ("ML-KEM-768", 768), ("ML-KEM-1024", 1024))
}
_SIG_CLASSES = {
    name: (getattr(mldsa, f"MLDSA{level}PrivateKey", None), getattr(mldsa, f"MLDSA{level}PublicKey", None))
    for name, level in (("ML-DSA-44", 44), ("ML-DSA-65", 65), ("ML-DSA-87", 87))
}


class _KemPrivateKey(KemPrivateKey):
    __slots__ = ("algorithm", "_key", "_ct_len")

    def __init__(self, algorithm: str, key) -> None:
        self.algorithm = algorithm
        self._key = key
        self._ct_len = KEM_SIZES[algorithm].ciphertext

    def public_key(self) -> bytes:
        return self._key.public_key().public_bytes_raw()

    def seed(self) -> bytes:
        return self._key.private_bytes_raw()

    def decapsulate(self, ciphertext: bytes) -> bytes:
        check_length(f"{self.algorithm} ciphertext", ciphertext, self._ct_len)
        return self._key.decapsulate(bytes(ciphertext))


class _KemScheme(KemScheme):
    def __init__(self, name: str) -> None:
        self.name = name
        self.sizes = KEM_SIZES[name]
        self._private_cls, self._public_cls = _KEM_CLASSES[name]

    def generate(self) -> KemPrivateKey:
        return _KemPrivateKey(self.name, self._private_cls.generate())

    def from_seed(self, seed: bytes) -> KemPrivateKey:
        check_length(f"{self.name} seed", seed, self.sizes.seed)
        return _KemPrivateKey(self.name, self._private_cls.from_seed_bytes(bytes(seed)))

    def encapsulate(self, public_key: bytes) -> Encapsulation:
        check_length(f"{self.name} public key", public_key, self.sizes.public_key)
        try:
            key = self._public_cls.from_public_bytes(bytes(public_key))
        except ValueError as exc:  # FIPS 203 modulus check failed
            raise PQCError(f"invalid {self.name} public key: {exc}") from None
        shared_secret, ciphertext = key.encapsulate()
        return Encapsulation(ciphertext, shared_secret)

    def encapsulate_deterministic(self, public_key: bytes, message: bytes) -> Encapsulation:
        raise UnsupportedOperation(f"pyca/cryptography offers no {self.name} encapsulation with caller-supplied m")

    def expanded_private_key(self, private_key: KemPrivateKey) -> bytes:
        raise UnsupportedOperation(f"pyca/cryptography does not export the {self.name} expanded dk")

    def decapsulate_expanded(self, expanded_key: bytes, ciphertext: bytes) -> bytes:
        raise UnsupportedOperation(f"pyca/cryptography loads {self.name} private keys only from a seed, not an expanded dk")

    def check_decapsulation_key(self, expanded_key: bytes) -> bool:
        raise UnsupportedOperation(f"pyca/cryptography loads {self.name} private keys only from a seed, not an expanded dk")


class _SigPrivateKey(SigPrivateKey):
    __slots__ = ("algorithm", "_key")

    def __init__(self, algorithm: str, key) -> None:
        self.algorithm = algorithm
        self._key = key

    def public_key(self) -> bytes:
        return self._key.public_key().public_bytes_raw()

    def seed(self) -> bytes:
        return self._key.private_bytes_raw()

    def sign(self, message: bytes, context: bytes = b"") -> bytes:
        check_context(context)
        return self._key.sign(bytes(message), bytes(context) if context else None)

    def sign_deterministic(self, message: bytes, context: bytes = b"") -> bytes:
        raise UnsupportedOperation(f"pyca/cryptography signs {self.algorithm} only hedged (no rnd = 0)")

    def sign_with_rnd(self, message: bytes, context: bytes, rnd: bytes) -> bytes:
        raise UnsupportedOperation(f"pyca/cryptography signs {self.algorithm} only with its own randomness "
                                   "(no caller-supplied rnd)")


class _SigPublicKey(SigPublicKey):
    __slots__ = ("algorithm", "_key", "_sig_len")

    def __init__(self, algorithm: str, key) -> None:
        self.algorithm = algorithm
        self._key = key
        self._sig_len = SIG_SIZES[algorithm].signature

    def public_bytes(self) -> bytes:
        return self._key.public_bytes_raw()

    def verify(self, message: bytes, signature: bytes, context: bytes = b"") -> bool:
        if len(signature) != self._sig_len or len(context) > 255:
            return False
        try:
            self._key.verify(bytes(signature), bytes(message), bytes(context) if context else None)
        except InvalidSignature:
            return False
        return True

    def verify_mu(self, mu: bytes, signature: bytes) -> bool:
        if len(signature) != self._sig_len or len(mu) != 64:
            return False
        try:
            self._key.verify_mu(bytes(signature), bytes(mu))
        except InvalidSignature:
            return False
        return True


class _SigScheme(SigScheme):
    def __init__(self, name: str) -> None:
        self.name = name
        self.sizes = SIG_SIZES[name]
        self._private_cls, self._public_cls = _SIG_CLASSES[name]

    def generate(self) -> SigPrivateKey:
        return _SigPrivateKey(self.name, self._private_cls.generate())

    def from_seed(self, seed: bytes) -> SigPrivateKey:
        check_length(f"{self.name} seed", seed, self.sizes.seed)
        return _SigPrivateKey(self.name, self._private_cls.from_seed_bytes(bytes(seed)))

    def public_key(self, public_key: bytes) -> SigPublicKey:
        check_length(f"{self.name} public key", public_key, self.sizes.public_key)
        try:
            key = self._public_cls.from_public_bytes(bytes(public_key))
        except ValueError as exc:
            raise PQCError(f"invalid {self.name} public key: {exc}") from None
        return _SigPublicKey(self.name, key)

    def expanded_private_key(self, private_key: SigPrivateKey) -> bytes:
        raise UnsupportedOperation(f"pyca/cryptography does not export the {self.name} expanded sk")

    def sign_expanded(self, expanded_key: bytes, message: bytes, context: bytes, rnd: bytes) -> bytes:
        raise UnsupportedOperation(f"pyca/cryptography loads {self.name} private keys only from a seed, not an expanded sk")


class OpenSSLBackend(Backend):
    name = "openssl"
    description = "pyca/cryptography (OpenSSL bundled in its wheels)"

    def version(self) -> str:
        import cryptography
        from cryptography.hazmat.backends.openssl.backend import backend

        return f"cryptography {cryptography.__version__}, {backend.openssl_version_text()}"

    def kem_algorithms(self) -> tuple[str, ...]:
        return tuple(name for name, (cls, _) in _KEM_CLASSES.items() if cls is not None)

    def sig_algorithms(self) -> tuple[str, ...]:
        return tuple(name for name, (cls, _) in _SIG_CLASSES.items() if cls is not None)

    def _make_kem(self, name: str) -> KemScheme:
        return _KemScheme(name)

    def _make_sig(self, name: str) -> SigScheme:
        return _SigScheme(name)
