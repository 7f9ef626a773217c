"""What one known-answer vector says, independent of the file format it came from.

Every parser (NIST .rsp, ACVP JSON, X-Wing JSON, HPKE-PQ JSON, the embedded subset) turns its
records into these three shapes; the runner knows nothing about formats. Byte fields hold the
vector's *hex text* (str, bytes or a memoryview into the file) and are decoded only when a check
needs them: a full run touches ~40 MB of hex, and most of it (e.g. expanded keys on a backend
that cannot export them) is never needed.
"""

from __future__ import annotations

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
DK_CHECK = "dk-check"  # the FIPS 203 decapsulation-key check (needs an expanded dk: always skipped)
VERIFY = "verify"  # verification gives the expected verdict (valid for KAT signatures)
REJECT_CORRUPTED = "reject-corrupted-signature"  # one flipped signature bit must be rejected
REJECT_WRONG_CONTEXT = "reject-wrong-context"  # the right signature under another context must be rejected
SIGN_DET = "sign-deterministic"  # deterministic signing (rnd = 0^32) reproduces the signature
SIGN_HEDGED = "sign-hedged"  # hedged signing with the vector's rnd reproduces the signature

Hex = str | bytes | memoryview


class VectorDataError(UsageError):
    """A vector file is malformed (bad hex, wrong length, missing field); the message names the file."""


@dataclass(slots=True, eq=False)
class KemVector:
    """An ML-KEM known answer. `checks` lists what this vector tests, in the order they run."""

    vector_id: str
    algorithm: str
    checks: tuple[str, ...]
    seed: tuple[Hex, ...] | None = None  # d and z (or one 64-byte d||z); decoded and joined on use
    public_key: Hex | None = None  # expected encapsulation key; also the key deterministic encaps uses
    expanded_key: Hex | None = None  # expected FIPS 203 dk
    expanded_key_sha3: Hex | None = None  # or only its SHA3-256 (the embedded subset stores that)
    ciphertext: Hex | None = None
    shared_secret: Hex | None = None
    rejection_ciphertext: Hex | None = None
    rejection_secret: Hex | None = None
    encaps_message: Hex | None = None  # m for ML-KEM.Encaps_internal
    encaps_ciphertext: Hex | None = None
    encaps_secret: Hex | None = None
    key_valid: bool | None = None  # expected verdict of the encapsulation-key check
    unrunnable: dict[str, str] = field(default_factory=dict)  # check -> why no backend can run it


@dataclass(slots=True, eq=False)
class SigVector:
    """An ML-DSA known answer, in pure (external) form: message and context as `sign` takes them."""

    vector_id: str
    algorithm: str
    checks: tuple[str, ...]
    seed: Hex | None = None  # xi
    public_key: Hex | None = None
    expanded_key: Hex | None = None
    expanded_key_sha3: Hex | None = None
    message: Hex | None = None
    context: Hex = ""
    signature: Hex | None = None
    expected_valid: bool = True
    unrunnable: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class XWingVector:
    vector_id: str
    checks: tuple[str, ...]
    seed: Hex
    public_key: Hex
    ciphertext: Hex
    shared_secret: Hex
    eseed: Hex | None = None  # EncapsulateDerand randomness (ML-KEM m || X25519 ephemeral)
    algorithm: str = XWING
    unrunnable: dict[str, str] = field(default_factory=dict)


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
