"""Key files other tools can read: PKCS#8 (seed form) private keys, SubjectPublicKeyInfo public keys.

- ML-DSA-65: exactly what pyca/cryptography emits (`private_bytes(PEM, PKCS8)` of a key built
  from its 32-byte seed: the IETF LAMPS `seed` CHOICE), so `load_pem_private_key` reads it.
- ML-KEM-768 (the mesh agent's KEM key): what pyca/cryptography emits for a seed key (the seed
  CHOICE); keys imported from the mesh, which only has the FIPS expanded form, are stored in the
  same PKCS#8 structure with the IETF LAMPS `expandedKey` CHOICE (a bare OCTET STRING), for
  ML-KEM-768 and ML-DSA-65 alike.
- X-Wing: cryptography 50 has no X-Wing serialisation, so x0ctl writes the X-Wing draft's form:
  algorithm id-XWing 1.3.6.1.4.1.62253.25722 with absent parameters; the PKCS#8 privateKey
  OCTET STRING is the raw 32-byte seed and the SPKI BIT STRING is the raw 1216-byte public key
  (no inner ASN.1), as BouncyCastle and other X-Wing implementations expect.
"""

from __future__ import annotations

import base64
import textwrap

from x0ctl.errors import CheckFailed

ML_DSA_65 = "ML-DSA-65"
ML_KEM_768 = "ML-KEM-768"
X_WING = "X-Wing"
# kem/sig: x0ctl's own protocols (every keystore has exactly one active key of each).
# mesh-kem/mesh-sig: the mesh agent's slot, never shared with x0ctl's protocols; optional.
ALGORITHM_FOR_PURPOSE = {"kem": X_WING, "sig": ML_DSA_65, "mesh-kem": ML_KEM_768, "mesh-sig": ML_DSA_65}
PURPOSES = tuple(ALGORITHM_FOR_PURPOSE)
REQUIRED_PURPOSES = ("kem", "sig")
MESH_PURPOSES = ("mesh-kem", "mesh-sig")
SEED = "seed"
EXPANDED = "expanded"
EXPANDED_SIZES = {ML_KEM_768: 2400, ML_DSA_65: 4032}  # FIPS 203 dk, FIPS 204 sk
PUBLIC_SIZES = {ML_KEM_768: 1184, ML_DSA_65: 1952}
_LAMPS_OID_DER = {ML_KEM_768: bytes.fromhex("0609608648016503040402"),  # 2.16.840.1.101.3.4.4.2
                  ML_DSA_65: bytes.fromhex("0609608648016503040312")}  # 2.16.840.1.101.3.4.3.18

_XWING_OID_DER = bytes.fromhex("060b2b0601040183e62d81c87a")  # 1.3.6.1.4.1.62253.25722
_XWING_ALG_ID = b"\x30\x0d" + _XWING_OID_DER
_XWING_PKCS8_PREFIX = b"\x30\x34\x02\x01\x00" + _XWING_ALG_ID + b"\x04\x20"
_XWING_SPKI_PREFIX = b"\x30\x82\x04\xd4" + _XWING_ALG_ID + b"\x03\x82\x04\xc1\x00"


class KeyFileError(CheckFailed):
    """A key file that does not parse as the expected algorithm (the message names the file)."""


def _pem(label: str, der: bytes) -> bytes:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode("ascii")


def _unpem(label: str, data: bytes, what: str) -> bytes:
    text = data.decode("ascii", errors="replace").strip()
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    if not text.startswith(begin) or not text.endswith(end):
        raise KeyFileError(f"{what}: not a PEM {label}")
    try:
        return base64.b64decode("".join(text[len(begin):-len(end)].split()), validate=True)
    except ValueError:
        raise KeyFileError(f"{what}: PEM body is not base64") from None


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def _expanded_pkcs8(algorithm: str, expanded: bytes) -> bytes:
    """PKCS#8 with the LAMPS `expandedKey` CHOICE: version 0, the algorithm's OID, OCTET STRING(OCTET STRING dk)."""
    return _der(0x30, b"\x02\x01\x00" + _der(0x30, _LAMPS_OID_DER[algorithm]) + _der(0x04, _der(0x04, bytes(expanded))))


def expanded_private_pem(algorithm: str, expanded: bytes) -> bytes:
    """A private key file holding only the FIPS expanded key (keys imported from the mesh)."""
    if algorithm not in EXPANDED_SIZES or len(expanded) != EXPANDED_SIZES[algorithm]:
        raise KeyFileError(f"not an expanded {algorithm} private key")
    return _pem("PRIVATE KEY", _expanded_pkcs8(algorithm, expanded))


def expanded_from_private_pem(algorithm: str, data: bytes) -> bytes | None:
    """The expanded key when the file is in the expandedKey form, else None (a seed file or another content)."""
    if algorithm not in EXPANDED_SIZES or b"-----BEGIN PRIVATE KEY-----" not in data:
        return None
    try:
        der = _unpem("PRIVATE KEY", data, "private key")
    except KeyFileError:
        return None
    prefix = _expanded_pkcs8(algorithm, bytes(EXPANDED_SIZES[algorithm]))[: -EXPANDED_SIZES[algorithm]]
    if len(der) != len(prefix) + EXPANDED_SIZES[algorithm] or not der.startswith(prefix):
        return None
    return der[len(prefix):]


def private_pem(algorithm: str, seed: bytes) -> bytes:
    if algorithm == ML_KEM_768:
        from cryptography.hazmat.primitives.asymmetric import mlkem
        from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

        key = mlkem.MLKEM768PrivateKey.from_seed_bytes(seed)
        return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    if algorithm == ML_DSA_65:
        from cryptography.hazmat.primitives.asymmetric import mldsa
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            NoEncryption,
            PrivateFormat,
        )

        key = mldsa.MLDSA65PrivateKey.from_seed_bytes(seed)
        return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    if algorithm == X_WING:
        return _pem("PRIVATE KEY", _XWING_PKCS8_PREFIX + bytes(seed))
    raise KeyFileError(f"unknown key algorithm {algorithm!r}")


def public_pem(algorithm: str, public_key: bytes) -> bytes:
    if algorithm == ML_KEM_768:
        from cryptography.hazmat.primitives.asymmetric import mlkem
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        key = mlkem.MLKEM768PublicKey.from_public_bytes(public_key)
        return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    if algorithm == ML_DSA_65:
        from cryptography.hazmat.primitives.asymmetric import mldsa
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        key = mldsa.MLDSA65PublicKey.from_public_bytes(public_key)
        return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    if algorithm == X_WING:
        return _pem("PUBLIC KEY", _XWING_SPKI_PREFIX + bytes(public_key))
    raise KeyFileError(f"unknown key algorithm {algorithm!r}")


def _load_fips(algorithm: str, data: bytes, what: str, *, private: bool):
    """Parse an ML-DSA-65 or ML-KEM-768 PEM with cryptography; any other content is a KeyFileError.

    A file of another algorithm (an X-Wing key swapped in, say) is a damaged keystore, not a bug:
    cryptography reports it as UnsupportedAlgorithm, which must surface as a verify problem.
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem
    from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

    form = "PKCS#8 private key" if private else "SubjectPublicKeyInfo public key"
    try:
        key = load_pem_private_key(data, password=None) if private else load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError(f"{what}: not a readable {algorithm} {form}") from None
    classes = {ML_DSA_65: (mldsa.MLDSA65PrivateKey, mldsa.MLDSA65PublicKey),
               ML_KEM_768: (mlkem.MLKEM768PrivateKey, mlkem.MLKEM768PublicKey)}[algorithm]
    if not isinstance(key, classes[0] if private else classes[1]):
        raise KeyFileError(f"{what}: not an {algorithm} {form}")
    return key


def seed_from_private_pem(algorithm: str, data: bytes, what: str) -> bytes:
    """The seed inside a private key file; KeyFileError (never the key bytes) when it does not parse."""
    if algorithm in (ML_DSA_65, ML_KEM_768):
        return _load_fips(algorithm, data, what, private=True).private_bytes_raw()
    if algorithm == X_WING:
        der = _unpem("PRIVATE KEY", data, what)
        if len(der) != len(_XWING_PKCS8_PREFIX) + 32 or not der.startswith(_XWING_PKCS8_PREFIX):
            raise KeyFileError(f"{what}: not an X-Wing PKCS#8 private key (id-XWing, 32-byte seed)")
        return der[len(_XWING_PKCS8_PREFIX):]
    raise KeyFileError(f"{what}: unknown key algorithm {algorithm!r}")


def raw_from_public_pem(algorithm: str, data: bytes, what: str) -> bytes:
    if algorithm in (ML_DSA_65, ML_KEM_768):
        return _load_fips(algorithm, data, what, private=False).public_bytes_raw()
    if algorithm == X_WING:
        der = _unpem("PUBLIC KEY", data, what)
        if len(der) != len(_XWING_SPKI_PREFIX) + 1216 or not der.startswith(_XWING_SPKI_PREFIX):
            raise KeyFileError(f"{what}: not an X-Wing SubjectPublicKeyInfo (id-XWing, 1216-byte key)")
        return der[len(_XWING_SPKI_PREFIX):]
    raise KeyFileError(f"{what}: unknown key algorithm {algorithm!r}")


def expanded_matches_public(algorithm: str, expanded: bytes, public_key: bytes) -> bool:
    """Whether an expanded private key embeds this public key (no secret arithmetic, hashes only).

    ML-KEM-768 dk = dk_PKE || ek || SHA3-256(ek) || z (FIPS 203 alg. 16); ML-DSA-65
    sk = rho || K || tr || ..., with rho the public key's first 32 bytes and tr = SHAKE256(pk, 64)
    (FIPS 204 alg. 6). A dk or sk with another key's public part fails here.
    """
    import hashlib

    if len(expanded) != EXPANDED_SIZES.get(algorithm) or len(public_key) != PUBLIC_SIZES.get(algorithm):
        return False
    if algorithm == ML_KEM_768:
        start = 384 * 3
        return (expanded[start:start + 1184] == public_key
                and expanded[start + 1184:start + 1216] == hashlib.sha3_256(public_key).digest())
    return expanded[:32] == public_key[:32] and expanded[64:128] == hashlib.shake_256(public_key).digest(64)
