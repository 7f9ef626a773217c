"""Running one vector's checks on one backend, counting each as passed, failed or skipped.

A check the backend cannot perform (`UnsupportedOperation`, or an algorithm it lacks) is skipped
with the reason, never passed. Any other exception from a primitive is a *failure* of that check:
the vector is valid input (the parsers validated every field), so a backend that raises on it is
broken.
"""

from __future__ import annotations

import hashlib

from x0ctl.kat.mldsa import message_representative, pre_hash_message
from x0ctl.kat.report import KatResult, describe_difference, describe_digest_difference
from x0ctl.kat.vectors import (
    DECAPS,
    DECAPS_REJECT,
    DK_CHECK,
    EK_CHECK,
    ENCAPS_DET,
    EXTERNAL_MU,
    INTERNAL,
    KEYGEN_PK,
    KEYGEN_SK,
    PRE_HASH,
    REJECT_CORRUPTED,
    REJECT_WRONG_CONTEXT,
    SIGN_DET,
    SIGN_HEDGED,
    VERIFY,
    KemVector,
    SigVector,
    Vector,
    XWingVector,
)
from x0ctl.pqc.base import Backend, PQCError, UnsupportedAlgorithm, UnsupportedOperation

_ZERO_RND = bytes(32)


class BackendHarness:
    """One backend's schemes, resolved once per run, and the operations it turned out to lack."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.name = backend.name
        self._schemes: dict[str, object] = {}
        self._missing: dict[str, str] = {}
        # (algorithm, check, vector variant) -> reason, learnt from the first UnsupportedOperation:
        # later vectors skip at once instead of raising and catching the same exception thousands
        # of times. The variant matters: liboqs verifies pure ML-DSA but not over an external mu.
        self.unsupported: dict[tuple, str] = {}

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
    """Per-vector state shared by its checks: the key generated from the seed, the public key."""

    __slots__ = ("_key", "_key_error", "_public", "scheme", "vector")

    def __init__(self, vector: Vector, scheme) -> None:
        self.vector = vector
        self.scheme = scheme
        self._key = None
        self._key_error: str | None = None
        self._public = None

    def key(self):
        """The private key from the vector's seed; a failure is reported by every check needing it."""
        if self._key is None and self._key_error is None:
            try:
                self._key = self.scheme.from_seed(self.vector.seed)
            except Exception as exc:  # noqa: BLE001 - a primitive failing on a valid KAT seed is a failure
                self._key_error = f"key generation from the seed failed: {type(exc).__name__}: {exc}"
        if self._key_error is not None:
            raise _CheckFailed(self._key_error)
        return self._key

    def public_key(self):
        """ML-DSA: the vector's public key loaded into the backend (None when it does not load)."""
        if self._public is None:
            try:
                self._public = self.scheme.public_key(self.vector.public_key)
            except PQCError:
                self._public = False
        return self._public or None


class _CheckFailed(Exception):
    """Internal: a check's precondition failed (e.g. key generation); the message is the detail."""


def _compare(expected: bytes, actual: bytes, what: str = "") -> str | None:
    if expected == actual:
        return None
    return f"{what}{describe_difference(expected, actual)}"


def _key_verdict(accepted: bool, expected: bool, what: str, why: str = "") -> str | None:
    if accepted == expected:
        return None
    return f"accepted an invalid {what}" if accepted else f"rejected a valid {what}{why}"


def _keygen_pk(trial: _Trial) -> str | None:
    return _compare(trial.vector.public_key, trial.key().public_key(), "public key: ")


def _expanded_key(trial: _Trial) -> str | None:
    actual = trial.scheme.expanded_private_key(trial.key())
    vector = trial.vector
    if vector.expanded_key is not None:
        return _compare(vector.expanded_key, actual, "expanded private key: ")
    if hashlib.sha3_256(actual).digest() == vector.expanded_key_sha3:
        return None
    return "expanded private key: " + describe_digest_difference(vector.expanded_key_sha3, actual)


def _kem_decapsulate(trial: _Trial, ciphertext: bytes) -> bytes:
    vector = trial.vector
    if vector.seed is None:  # ACVP: the expanded dk is the key
        return trial.scheme.decapsulate_expanded(vector.expanded_key, ciphertext)
    return trial.key().decapsulate(ciphertext)


def _kem_decaps(trial: _Trial) -> str | None:
    return _compare(trial.vector.shared_secret, _kem_decapsulate(trial, trial.vector.ciphertext), "shared secret: ")


def _kem_decaps_reject(trial: _Trial) -> str | None:
    actual = _kem_decapsulate(trial, trial.vector.rejection_ciphertext)
    return _compare(trial.vector.rejection_secret, actual, "implicit-rejection secret: ")


def _kem_encaps(trial: _Trial) -> str | None:
    vector = trial.vector
    ciphertext, secret = trial.scheme.encapsulate_deterministic(vector.public_key, vector.encaps_message)
    return (_compare(vector.encaps_ciphertext, ciphertext, "ciphertext: ")
            or _compare(vector.encaps_secret, secret, "shared secret: "))


def _kem_ek_check(trial: _Trial) -> str | None:
    try:
        trial.scheme.encapsulate(trial.vector.public_key)
        accepted, why = True, ""
    except PQCError as exc:
        accepted, why = False, f" ({exc})"
    return _key_verdict(accepted, trial.vector.key_valid, "encapsulation key", why)


def _kem_dk_check(trial: _Trial) -> str | None:
    accepted = trial.scheme.check_decapsulation_key(trial.vector.expanded_key)
    return _key_verdict(accepted, trial.vector.key_valid, "decapsulation key")


def _verify_as_given(trial: _Trial, signature: bytes, context: bytes | None = None) -> bool:
    """Verify the vector's signature form; `context` overrides a pure vector's context."""
    public = trial.public_key()
    if public is None:  # the backend refuses the public key itself: nothing can verify under it
        return False
    vector = trial.vector
    form = vector.form
    if form == EXTERNAL_MU:
        return bool(public.verify_mu(vector.mu, signature))
    if form == INTERNAL:
        internal = vector.message
    elif form == PRE_HASH:
        internal = pre_hash_message(vector.hash_alg, vector.message, vector.context)
    else:
        return bool(public.verify(vector.message, signature, vector.context if context is None else context))
    return bool(public.verify_mu(message_representative(vector.public_key, internal), signature))


def _sig_verify(trial: _Trial) -> str | None:
    valid = _verify_as_given(trial, trial.vector.signature)
    expected = trial.vector.expected_valid
    if valid == expected:
        return None
    if expected:
        return "a valid signature was rejected" + ("" if trial.public_key() else " (the public key did not load)")
    return "an invalid signature was accepted"


def _sig_reject_corrupted(trial: _Trial) -> str | None:
    signature = bytearray(trial.vector.signature)
    signature[len(signature) // 2] ^= 0x01  # one bit in the middle: inside the response vector z
    if _verify_as_given(trial, bytes(signature)):
        return "a signature with one flipped bit was accepted"
    return None


def _sig_reject_wrong_context(trial: _Trial) -> str | None:
    context = trial.vector.context
    other = context[:-1] + bytes([context[-1] ^ 0x01]) if context else b"x0ctl-kat"
    if _verify_as_given(trial, trial.vector.signature, other):
        return "the signature was accepted under a different context string"
    return None


def _sig_sign(trial: _Trial) -> str | None:
    vector = trial.vector
    if vector.seed is None:  # ACVP sigGen: the expanded sk is the key
        actual = trial.scheme.sign_expanded(vector.expanded_key, vector.message, vector.context,
                                            vector.rnd or _ZERO_RND)
    elif vector.rnd is None:
        actual = trial.key().sign_deterministic(vector.message, vector.context)
    else:
        actual = trial.key().sign_with_rnd(vector.message, vector.context, vector.rnd)
    return _compare(vector.signature, actual, "signature: ")


def _xwing_keygen_sk(trial: _Trial) -> str | None:
    return _compare(trial.vector.private_key, trial.key().seed(), "decapsulation key: ")


def _xwing_decaps(trial: _Trial) -> str | None:
    return _compare(trial.vector.shared_secret, trial.key().decapsulate(trial.vector.ciphertext), "shared secret: ")


def _xwing_encaps(trial: _Trial) -> str | None:
    vector = trial.vector
    ciphertext, secret = trial.scheme.encapsulate_deterministic(vector.public_key, vector.eseed)
    return (_compare(vector.ciphertext, ciphertext, "ciphertext: ")
            or _compare(vector.shared_secret, secret, "shared secret: "))


_CHECKS = {
    KemVector: {KEYGEN_PK: _keygen_pk, KEYGEN_SK: _expanded_key, DECAPS: _kem_decaps,
                DECAPS_REJECT: _kem_decaps_reject, ENCAPS_DET: _kem_encaps, EK_CHECK: _kem_ek_check,
                DK_CHECK: _kem_dk_check},
    SigVector: {KEYGEN_PK: _keygen_pk, KEYGEN_SK: _expanded_key, VERIFY: _sig_verify,
                REJECT_CORRUPTED: _sig_reject_corrupted, REJECT_WRONG_CONTEXT: _sig_reject_wrong_context,
                SIGN_DET: _sig_sign, SIGN_HEDGED: _sig_sign},
    XWingVector: {KEYGEN_PK: _keygen_pk, KEYGEN_SK: _xwing_keygen_sk, DECAPS: _xwing_decaps,
                  ENCAPS_DET: _xwing_encaps},
}


def run_vector(harness: BackendHarness, vector: Vector, result: KatResult) -> None:
    """Run every check of `vector` on one backend and count each one into `result`."""
    algorithm = vector.algorithm
    scheme = harness.scheme(algorithm)
    if scheme is None:
        result.skip(harness.missing_reason(algorithm), len(vector.checks))
        return
    table = _CHECKS[type(vector)]
    unsupported = harness.unsupported
    unrunnable = vector.unrunnable
    variant = vector.variant
    trial = _Trial(vector, scheme)
    for check in vector.checks:
        reason = unrunnable.get(check) if unrunnable else None
        if reason is None and unsupported:
            reason = unsupported.get((algorithm, check, variant))
        if reason is not None:
            result.skip(reason)
            continue
        try:
            detail = table[check](trial)
        except UnsupportedOperation as exc:
            unsupported[(algorithm, check, variant)] = str(exc)
            result.skip(str(exc))
            continue
        except _CheckFailed as exc:
            detail = str(exc)
        except Exception as exc:  # noqa: BLE001 - a primitive raising on valid KAT input is a failed check
            detail = f"{type(exc).__name__}: {exc}"
        if detail is None:
            result.passed += 1
        else:
            result.fail(vector.vector_id, check, detail)
