"""The power-on self-test the production guard runs before a backend may touch a key.

It runs the first ML-KEM-768 and ML-DSA-65 NIST KAT records (`x0ctl.pqc.selftest_vectors`).
Positive checks alone would pass a stand-in implementation that accepts everything, so it
also requires implicit rejection of a modified ciphertext and rejection of a corrupted signature.
It lives in `x0ctl.pqc`, next to the guard, and imports nothing from `x0ctl.kat`.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from x0ctl.errors import EnvironmentProblem

if TYPE_CHECKING:  # pragma: no cover
    from x0ctl.pqc.base import Backend

KEM, SIG = "ML-KEM-768", "ML-DSA-65"
HINT = "this PQC implementation does not reproduce NIST's known answers; do not use it in production"


def power_on_self_test(backend: Backend) -> None:
    """Raise EnvironmentProblem naming the failed check; return silently when all pass."""
    kem_vector, sig_vector = _vectors()
    current = "loading the schemes"
    try:
        kem, sig = backend.kem(KEM), backend.sig(SIG)

        current = f"{KEM} key generation from seed ({kem_vector['id']})"
        key = kem.from_seed(kem_vector["d"] + kem_vector["z"])
        _expect(kem_vector["pk"], key.public_key())
        current = f"{KEM} decapsulation ({kem_vector['id']})"
        _expect(kem_vector["ss"], key.decapsulate(kem_vector["ct"]))
        current = f"{KEM} implicit rejection of a modified ciphertext ({kem_vector['id']})"
        _expect(kem_vector["ss_n"], key.decapsulate(kem_vector["ct_n"]))

        current = f"{SIG} key generation from seed ({sig_vector['id']})"
        public_key = sig_vector["pk"]
        _expect(public_key, sig.from_seed(sig_vector["xi"]).public_key())
        verifier = sig.public_key(public_key)
        message, context, signature = sig_vector["msg"], sig_vector["ctx"], sig_vector["sig"]
        current = f"{SIG} verification of a NIST signature ({sig_vector['id']})"
        if not verifier.verify(message, signature, context):
            raise _Mismatch("a valid signature was rejected")
        current = f"{SIG} rejection of a corrupted signature ({sig_vector['id']})"
        corrupted = bytearray(signature)
        corrupted[len(corrupted) // 2] ^= 0x01
        if verifier.verify(message, bytes(corrupted), context):
            raise _Mismatch("a signature with one flipped bit was accepted")
    except _Mismatch as exc:
        raise EnvironmentProblem(f"{backend.name} backend failed the power-on self-test: {current}: {exc}",
                                 hint=HINT) from None
    except EnvironmentProblem:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the primitive raised, the self-test failed
        raise EnvironmentProblem(
            f"{backend.name} backend failed the power-on self-test: {current}: {type(exc).__name__}: {exc}",
            hint=HINT) from None


def describe_difference(expected: bytes, actual: bytes) -> str:
    """What differs, in a line: lengths, first differing byte and SHA3-256 prefixes (never the data)."""
    if len(expected) != len(actual):
        where = f"length {len(actual)} instead of {len(expected)}"
    else:
        index = next(i for i, (a, b) in enumerate(zip(expected, actual)) if a != b)
        where = f"first difference at byte {index} of {len(expected)} (expected {expected[index]:02x}, got {actual[index]:02x})"
    return f"{where}; sha3-256 expected {sha3_prefix(expected)}, got {sha3_prefix(actual)}"


def sha3_prefix(data: bytes) -> str:
    return hashlib.sha3_256(data).hexdigest()[:16] + "…"


class _Mismatch(Exception):
    pass


def _expect(expected: bytes, actual: bytes) -> None:
    if expected != actual:
        raise _Mismatch(describe_difference(expected, actual))


def _decode(entry: dict) -> dict:
    return {key: value if key == "id" else base64.b64decode("".join(value) if isinstance(value, tuple) else value)
            for key, value in entry.items()}


def _vectors() -> tuple[dict, dict]:
    import x0ctl.pqc.selftest_vectors as selftest_vectors

    return _decode(selftest_vectors.ML_KEM_768), _decode(selftest_vectors.ML_DSA_65)
