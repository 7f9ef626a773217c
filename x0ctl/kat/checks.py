"""Running one vector's checks on one backend, counting each as passed, failed or skipped.

A check the backend cannot perform (`UnsupportedOperation`, or an algorithm it lacks) is skipped
with the reason, never passed. Any other exception from a primitive is a *failure* of that check:
the vector is valid input, so a backend that raises on it is broken. Malformed vector data is
the operator's problem, not the backend's: it raises `VectorDataError` and stops the run.
"""

from __future__ import annotations

import binascii
import hashlib

from x0ctl.kat.report import KatResult, describe_difference, describe_digest_difference
from x0ctl.kat.vectors import (
    DECAPS,
    DECAPS_REJECT,
    EK_CHECK,
    ENCAPS_DET,
    KEYGEN_PK,
    KEYGEN_SK,
    REJECT_CORRUPTED,
    REJECT_WRONG_CONTEXT,
    SIGN_DET,
    VERIFY,
    KemVector,
    SigVector,
    Vector,
    VectorDataError,
    XWingVector,
)
from x0ctl.pqc.base import Backend, PQCError, UnsupportedAlgorithm, UnsupportedOperation


def field_bytes(vector: Vector, name: str) -> bytes:
    """Decode one hex field of a vector; malformed hex names the vector and the field."""
    value = getattr(vector, name)
    if value is None:
        raise VectorDataError(f"vector {vector.vector_id}: field {name!r} is missing")
    try:
        if name == "seed" and isinstance(value, tuple):  # ML-KEM: d and z, kept apart by the formats
            return b"".join(binascii.unhexlify(part) for part in value)
        return binascii.unhexlify(value)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise VectorDataError(f"vector {vector.vector_id}: field {name!r} is not valid hex ({exc})") from None


_unhexlify = binascii.unhexlify


class DecodedFields:
    """A vector's fields decoded on first use, once for all of its checks."""

    __slots__ = ("_cache", "vector")

    def __init__(self, vector: Vector) -> None:
        self.vector = vector
        self._cache: dict[str, bytes] = {}

    def __getitem__(self, name: str) -> bytes:
        # Keyed by the hex object itself: an .rsp vector's ct serves as both the ciphertext to
        # decapsulate and the expected encapsulation output, and is decoded once.
        raw = getattr(self.vector, name)
        value = self._cache.get(id(raw))
        if value is None:
            try:
                value = _unhexlify(raw)
            except (binascii.Error, TypeError, ValueError):  # a (d, z) seed, a missing field or bad hex
                value = field_bytes(self.vector, name)
            self._cache[id(raw)] = value
        return value


class BackendHarness:
    """One backend's schemes, resolved once per run, and the operations it turned out to lack."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.name = backend.name
        self._schemes: dict[str, object] = {}
        self._missing: dict[str, str] = {}
        # (algorithm, check) -> reason, learnt from the first UnsupportedOperation: later vectors
        # skip at once instead of raising and catching the same exception thousands of times.
        self.unsupported: dict[tuple[str, str], str] = {}

    def scheme(self, algorithm: str):
        """The KEM/signature scheme or XWing object, or None when the backend lacks it."""
        if algorithm in self._schemes:
            return self._schemes[algorithm]
        if algorithm in self._missing:
            return None
        try:
            if algorithm.startswith("ML-KEM"):
                scheme = self.backend.kem(algorithm)
            elif algorithm.startswith("ML-DSA"):
                scheme = self.backend.sig(algorithm)
            else:
                from x0ctl.pqc.xwing import XWing

                scheme = XWing(self.backend)
        except UnsupportedAlgorithm as exc:
            self._missing[algorithm] = str(exc) if algorithm.startswith("ML-") else f"X-Wing is unavailable: {exc}"
            return None
        self._schemes[algorithm] = scheme
        return scheme

    def missing_reason(self, algorithm: str) -> str:
        return self._missing[algorithm]


class _Trial:
    """Per-vector state shared by its checks: the key generated from the seed, decoded once."""

    __slots__ = ("_key", "_key_error", "_public", "fields", "scheme", "vector")

    def __init__(self, fields: DecodedFields, scheme) -> None:
        self.vector = fields.vector
        self.fields = fields
        self.scheme = scheme
        self._key = None
        self._key_error: str | None = None
        self._public = None

    def key(self):
        """The private key from the vector's seed; a failure is reported by every check needing it."""
        if self._key is None and self._key_error is None:
            seed = self.fields["seed"]
            try:
                self._key = self.scheme.from_seed(seed)
            except Exception as exc:  # noqa: BLE001 - a primitive failing on a valid KAT seed is a failure
                self._key_error = f"key generation from the seed failed: {type(exc).__name__}: {exc}"
        if self._key_error is not None:
            raise _CheckFailed(self._key_error)
        return self._key

    def public_key(self):
        """ML-DSA: the vector's public key loaded into the backend (None when it does not load)."""
        if self._public is None:
            try:
                self._public = self.scheme.public_key(self.fields["public_key"])
            except PQCError:
                self._public = False
        return self._public or None


class _CheckFailed(Exception):
    """Internal: a check's precondition failed (e.g. key generation); the message is the detail."""


def _compare(expected: bytes, actual: bytes, what: str = "") -> str | None:
    if expected == actual:
        return None
    return f"{what}{describe_difference(expected, actual)}"


# --- ML-KEM ------------------------------------------------------------------------------------


def _kem_keygen_pk(trial: _Trial) -> str | None:
    return _compare(trial.fields["public_key"], trial.key().public_key(), "public key: ")


def _expanded_key(trial: _Trial) -> str | None:
    actual = trial.scheme.expanded_private_key(trial.key())
    vector = trial.vector
    if vector.expanded_key is not None:
        return _compare(trial.fields["expanded_key"], actual, "expanded private key: ")
    digest = trial.fields["expanded_key_sha3"]
    if hashlib.sha3_256(actual).digest() == digest:
        return None
    return "expanded private key: " + describe_digest_difference(digest, actual)


def _kem_decaps(trial: _Trial) -> str | None:
    actual = trial.key().decapsulate(trial.fields["ciphertext"])
    return _compare(trial.fields["shared_secret"], actual, "shared secret: ")


def _kem_decaps_reject(trial: _Trial) -> str | None:
    actual = trial.key().decapsulate(trial.fields["rejection_ciphertext"])
    return _compare(trial.fields["rejection_secret"], actual, "implicit-rejection secret: ")


def _kem_encaps(trial: _Trial) -> str | None:
    ciphertext, secret = trial.scheme.encapsulate_deterministic(
        trial.fields["public_key"], trial.fields["encaps_message"])
    return (_compare(trial.fields["encaps_ciphertext"], ciphertext, "ciphertext: ")
            or _compare(trial.fields["encaps_secret"], secret, "shared secret: "))


def _kem_ek_check(trial: _Trial) -> str | None:
    try:
        trial.scheme.encapsulate(trial.fields["public_key"])
        accepted, why = True, ""
    except PQCError as exc:
        accepted, why = False, f" ({exc})"
    if accepted == trial.vector.key_valid:
        return None
    return "accepted an invalid encapsulation key" if accepted else f"rejected a valid encapsulation key{why}"


# --- ML-DSA ------------------------------------------------------------------------------------


def _sig_keygen_pk(trial: _Trial) -> str | None:
    return _compare(trial.fields["public_key"], trial.key().public_key(), "public key: ")


def _verify(trial: _Trial, signature: bytes, context: bytes) -> bool:
    public = trial.public_key()
    if public is None:  # the backend refuses the public key itself: nothing can verify under it
        return False
    return bool(public.verify(trial.fields["message"], signature, context))


def _sig_verify(trial: _Trial) -> str | None:
    valid = _verify(trial, trial.fields["signature"], trial.fields["context"])
    expected = trial.vector.expected_valid
    if valid == expected:
        return None
    if expected:
        return "a valid signature was rejected" + ("" if trial.public_key() else " (the public key did not load)")
    return "an invalid signature was accepted"


def _sig_reject_corrupted(trial: _Trial) -> str | None:
    signature = bytearray(trial.fields["signature"])
    signature[len(signature) // 2] ^= 0x01  # one bit in the middle: inside the response vector z
    if _verify(trial, bytes(signature), trial.fields["context"]):
        return "a signature with one flipped bit was accepted"
    return None


def _sig_reject_wrong_context(trial: _Trial) -> str | None:
    context = trial.fields["context"]
    other = context[:-1] + bytes([context[-1] ^ 0x01]) if context else b"x0ctl-kat"
    if _verify(trial, trial.fields["signature"], other):
        return "the signature was accepted under a different context string"
    return None


def _sig_sign_det(trial: _Trial) -> str | None:
    actual = trial.key().sign_deterministic(trial.fields["message"], trial.fields["context"])
    return _compare(trial.fields["signature"], actual, "signature: ")


# --- X-Wing ------------------------------------------------------------------------------------


def _xwing_keygen_pk(trial: _Trial) -> str | None:
    return _compare(trial.fields["public_key"], trial.key().public_key(), "public key: ")


def _xwing_decaps(trial: _Trial) -> str | None:
    actual = trial.key().decapsulate(trial.fields["ciphertext"])
    return _compare(trial.fields["shared_secret"], actual, "shared secret: ")


def _xwing_encaps(trial: _Trial) -> str | None:
    ciphertext, secret = trial.scheme.encapsulate_deterministic(
        trial.fields["public_key"], trial.fields["eseed"])
    return (_compare(trial.fields["ciphertext"], ciphertext, "ciphertext: ")
            or _compare(trial.fields["shared_secret"], secret, "shared secret: "))


_CHECKS = {
    KemVector: {KEYGEN_PK: _kem_keygen_pk, KEYGEN_SK: _expanded_key, DECAPS: _kem_decaps,
                DECAPS_REJECT: _kem_decaps_reject, ENCAPS_DET: _kem_encaps, EK_CHECK: _kem_ek_check},
    SigVector: {KEYGEN_PK: _sig_keygen_pk, KEYGEN_SK: _expanded_key, VERIFY: _sig_verify,
                REJECT_CORRUPTED: _sig_reject_corrupted, REJECT_WRONG_CONTEXT: _sig_reject_wrong_context,
                SIGN_DET: _sig_sign_det},
    XWingVector: {KEYGEN_PK: _xwing_keygen_pk, DECAPS: _xwing_decaps, ENCAPS_DET: _xwing_encaps},
}


def run_vector(harness: BackendHarness, fields: DecodedFields, result: KatResult) -> None:
    """Run every check of `fields.vector` on one backend and count each one into `result`."""
    vector = fields.vector
    algorithm = vector.algorithm
    scheme = harness.scheme(algorithm)
    if scheme is None:
        result.skip(harness.missing_reason(algorithm), len(vector.checks))
        return
    table = _CHECKS[type(vector)]
    unsupported = harness.unsupported
    unrunnable = vector.unrunnable
    trial = _Trial(fields, scheme)
    for check in vector.checks:
        reason = unrunnable.get(check) if unrunnable else None
        if reason is None and unsupported:
            reason = unsupported.get((algorithm, check))
        if reason is not None:
            result.skip(reason)
            continue
        try:
            detail = table[check](trial)
        except UnsupportedOperation as exc:
            unsupported[(algorithm, check)] = str(exc)
            result.skip(str(exc))
            continue
        except VectorDataError:
            raise
        except _CheckFailed as exc:
            detail = str(exc)
        except Exception as exc:  # noqa: BLE001 - a primitive raising on valid KAT input is a failed check
            detail = f"{type(exc).__name__}: {exc}"
        if detail is None:
            result.passed += 1
        else:
            result.fail(vector.vector_id, check, detail)
