"""Key files other tools can read: PKCS#8 (seed form) private keys, SubjectPublicKeyInfo public keys.

- ML-DSA-65: exactly what pyca/cryptography emits (`private_bytes(PEM, PKCS8)` of a key built
  from its 32-byte seed: the IETF LAMPS `seed` CHOICE), so `load_pem_private_key` reads it.
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
X_WING = "X-Wing"
ALGORITHM_FOR_PURPOSE = {"kem": X_WING, "sig": ML_DSA_65}
PURPOSES = tuple(ALGORITHM_FOR_PURPOSE)

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


def private_pem(algorithm: str, seed: bytes) -> bytes:
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
    if algorithm == ML_DSA_65:
        from cryptography.hazmat.primitives.asymmetric import mldsa
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        key = mldsa.MLDSA65PublicKey.from_public_bytes(public_key)
        return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    if algorithm == X_WING:
        return _pem("PUBLIC KEY", _XWING_SPKI_PREFIX + bytes(public_key))
    raise KeyFileError(f"unknown key algorithm {algorithm!r}")


def _load_ml_dsa(data: bytes, what: str, *, private: bool):
    """Parse an ML-DSA-65 PEM with cryptography; any other content is a KeyFileError.

    A file of another algorithm (an X-Wing key swapped in, say) is a damaged keystore, not a bug:
    cryptography reports it as UnsupportedAlgorithm, which must surface as a verify problem.
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import mldsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

    form = "PKCS#8 private key" if private else "SubjectPublicKeyInfo public key"
    try:
        key = load_pem_private_key(data, password=None) if private else load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError(f"{what}: not a readable ML-DSA-65 {form}") from None
    expected = mldsa.MLDSA65PrivateKey if private else mldsa.MLDSA65PublicKey
    if not isinstance(key, expected):
        raise KeyFileError(f"{what}: not an ML-DSA-65 {form}")
    return key


def seed_from_private_pem(algorithm: str, data: bytes, what: str) -> bytes:
    """The seed inside a private key file; KeyFileError (never the key bytes) when it does not parse."""
    if algorithm == ML_DSA_65:
        return _load_ml_dsa(data, what, private=True).private_bytes_raw()
    if algorithm == X_WING:
        der = _unpem("PRIVATE KEY", data, what)
        if len(der) != len(_XWING_PKCS8_PREFIX) + 32 or not der.startswith(_XWING_PKCS8_PREFIX):
            raise KeyFileError(f"{what}: not an X-Wing PKCS#8 private key (id-XWing, 32-byte seed)")
        return der[len(_XWING_PKCS8_PREFIX):]
    raise KeyFileError(f"{what}: unknown key algorithm {algorithm!r}")


def raw_from_public_pem(algorithm: str, data: bytes, what: str) -> bytes:
    if algorithm == ML_DSA_65:
        return _load_ml_dsa(data, what, private=False).public_bytes_raw()
    if algorithm == X_WING:
        der = _unpem("PUBLIC KEY", data, what)
        if len(der) != len(_XWING_SPKI_PREFIX) + 1216 or not der.startswith(_XWING_SPKI_PREFIX):
            raise KeyFileError(f"{what}: not an X-Wing SubjectPublicKeyInfo (id-XWing, 1216-byte key)")
        return der[len(_XWING_SPKI_PREFIX):]
    raise KeyFileError(f"{what}: unknown key algorithm {algorithm!r}")
