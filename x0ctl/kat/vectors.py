"""What one known-answer vector says, independent of the file format it came from.

Every parser (NIST .rsp, ACVP JSON, X-Wing JSON, HPKE-PQ JSON, the embedded subset) turns its
records into these three shapes; the runner knows nothing about formats. Byte fields are bytes,
decoded and length-checked by the parser: every field of a vector is validated, whether or not
the backend at hand uses it (a garbled expanded key must not pass on a backend that cannot load
expanded keys).
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field

from x0ctl.errors import UsageError

KEM_ALGORITHMS = ("ML-KEM-512", "ML-KEM-768", "ML-KEM-1024")
SIG_ALGORITHMS = ("ML-DSA-44", "ML-DSA-65", "ML-DSA-87")
XWING = "X-Wing"
ALGORITHMS = (*KEM_ALGORITHMS, *SIG_ALGORITHMS, XWING)

# The check names a vector can contribute; each run check counts once (passed, failed or skipped).
KEYGEN_PK = "keygen-pk"  # key generation from the seed reproduces the public key
KEYGEN_SK = "keygen-sk"  # ... and the expanded private key (where the backend exposes it)
DECAPS = "decaps-ss"  # decapsulation of the vector's ciphertext gives its shared secret
DECAPS_REJECT = "decaps-implicit-rejection"  # a modified ciphertext gives the FIPS 203 rejection secret
ENCAPS_DET = "encaps-deterministic"  # encapsulation with the vector's randomness gives its ct and ss
EK_CHECK = "ek-check"  # the FIPS 203 encapsulation-key check accepts/rejects as expected
DK_CHECK = "dk-check"  # the FIPS 203 decapsulation-key check accepts/rejects an expanded dk as expected
VERIFY = "verify"  # verification gives the expected verdict (valid for KAT signatures)
REJECT_CORRUPTED = "reject-corrupted-signature"  # one flipped signature bit must be rejected
REJECT_WRONG_CONTEXT = "reject-wrong-context"  # the right signature under another context must be rejected
SIGN_DET = "sign-deterministic"  # deterministic signing (rnd = 0^32) reproduces the signature
SIGN_HEDGED = "sign-hedged"  # hedged signing with the vector's rnd reproduces the signature

# How an ML-DSA vector's message is given (ACVP signatureInterface / preHash / externalMu).
PURE = "pure"  # external interface, pure ML-DSA: message M and context, as `sign` takes them
INTERNAL = "internal"  # internal interface: M' itself (not of the pure form 0x00 || len(ctx) || ctx || M)
EXTERNAL_MU = "external-mu"  # internal interface with mu = SHAKE256(tr || M', 64) given
PRE_HASH = "pre-hash"  # HashML-DSA: M, context and the hash function PH
# How an ML-KEM vector's private key is given.
SEEDED = "seed"  # d || z
EXPANDED = "expanded"  # the FIPS 203 expanded dk only


class VectorDataError(UsageError):
    """A vector file is malformed (bad hex, wrong length, missing field); the message names the file."""


def decode_hex(value: str | bytes, what: str, size: int | None = None) -> bytes:
    """Hex text as bytes; bad hex or a length other than `size` raises VectorDataError naming `what`."""
    try:
        data = binascii.unhexlify(value)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise VectorDataError(f"{what} is not valid hex ({exc})") from None
    if size is not None and len(data) != size:
        raise VectorDataError(f"{what} is {len(data)} bytes, expected {size}")
    return data


@dataclass(slots=True, eq=False)
class KemVector:
    """An ML-KEM known answer. `checks` lists what this vector tests, in the order they run."""

    vector_id: str
    algorithm: str
    checks: tuple[str, ...]
    seed: bytes | None = None  # d || z (64 bytes)
    public_key: bytes | None = None  # expected encapsulation key; also the key deterministic encaps uses
    expanded_key: bytes | None = None  # FIPS 203 dk: expected from keygen, or the key to decapsulate with
    expanded_key_sha3: bytes | None = None  # or only its SHA3-256 (the embedded subset stores that)
    ciphertext: bytes | None = None
    shared_secret: bytes | None = None
    rejection_ciphertext: bytes | None = None
    rejection_secret: bytes | None = None
    encaps_message: bytes | None = None  # m for ML-KEM.Encaps_internal
    encaps_ciphertext: bytes | None = None
    encaps_secret: bytes | None = None
    key_valid: bool | None = None  # expected verdict of the encapsulation- or decapsulation-key check
    unrunnable: dict[str, str] = field(default_factory=dict)  # check -> why no backend can run it

    @property
    def variant(self) -> str:
        return SEEDED if self.seed is not None else EXPANDED


@dataclass(slots=True, eq=False)
class SigVector:
    """An ML-DSA known answer; `form` says what `message` is (PURE: M with `context`; INTERNAL: M';
    EXTERNAL_MU: `mu` instead of a message; PRE_HASH: M, `context` and `hash_alg`)."""

    vector_id: str
    algorithm: str
    checks: tuple[str, ...]
    seed: bytes | None = None  # xi
    public_key: bytes | None = None
    expanded_key: bytes | None = None  # sk: expected from keygen, or the key to sign with
    expanded_key_sha3: bytes | None = None
    message: bytes | None = None
    context: bytes = b""
    signature: bytes | None = None
    expected_valid: bool = True
    form: str = PURE
    hash_alg: str | None = None
    mu: bytes | None = None
    rnd: bytes | None = None  # hedged signing randomness (deterministic: None, meaning 0^32)
    unrunnable: dict[str, str] = field(default_factory=dict)

    @property
    def variant(self) -> tuple:
        """What decides whether a backend can run a check: the form, and where the key comes from."""
        return self.form, self.seed is not None, self.rnd is not None


@dataclass(slots=True, eq=False)
class XWingVector:
    vector_id: str
    checks: tuple[str, ...]
    seed: bytes
    public_key: bytes
    ciphertext: bytes
    shared_secret: bytes
    eseed: bytes | None = None  # EncapsulateDerand randomness (ML-KEM m || X25519 ephemeral)
    private_key: bytes | None = None  # the draft's sk: GenerateKeyPairDerand returns the seed itself
    algorithm: str = XWING
    unrunnable: dict[str, str] = field(default_factory=dict)
    variant: str = SEEDED


Vector = KemVector | SigVector | XWingVector


@dataclass(slots=True, eq=False)
class VectorBatch:
    """Vectors of one algorithm from one source (a source may yield several batches)."""

    source: str
    algorithm: str
    vectors: list[Vector]


def kem_checks(*, keygen: bool, expanded: bool, decaps: bool, reject: bool, encaps: bool) -> tuple[str, ...]:
    wanted = ((keygen, KEYGEN_PK), (expanded, KEYGEN_SK), (decaps, DECAPS), (reject, DECAPS_REJECT),
              (encaps, ENCAPS_DET))
    return tuple(name for on, name in wanted if on)


def canonical_algorithm(name: str) -> str | None:
    """The known spelling of an algorithm name given in any case; None when unknown."""
    folded = name.strip().lower()
    for known in ALGORITHMS:
        if known.lower() == folded:
            return known
    return None


@dataclass
class LoadedSource:
    """One vector source after parsing: its batches (one per algorithm) and report metadata."""

    name: str
    meta: dict
    batches: dict[str, VectorBatch] = field(default_factory=dict)
    ignored: list[dict] = field(default_factory=list)

    def add(self, algorithm: str, vectors: list) -> None:
        if not vectors:
            return
        batch = self.batches.get(algorithm)
        if batch is None:
            self.batches[algorithm] = VectorBatch(self.name, algorithm, list(vectors))
        else:
            batch.vectors.extend(vectors)

    def ignore(self, what: str, count: int, reason: str) -> None:
        self.ignored.append({"source": self.name, "what": what, "count": count, "reason": reason})

    def count(self) -> int:
        return sum(len(batch.vectors) for batch in self.batches.values())
