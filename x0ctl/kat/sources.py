"""Where vectors come from: the subset shipped in x0ctl, and the full cryptography-vectors files.

The embedded subset (x0ctl/kat/embedded.py, written by scripts/make-kat-subset.py) holds a few
vectors per parameter set, so that `verify kat` and the production power-on self-test work on any
node. Expanded private keys are stored only as their SHA3-256 (they are outputs, never inputs),
which keeps it small. The cryptography-vectors package, when importable, adds NIST's full files.
"""

from __future__ import annotations

import json
import sys

from x0ctl.errors import EnvironmentProblem
import x0ctl.kat.embedded as embedded
from x0ctl.kat.embedded import embedded_entries, embedded_index
from x0ctl.kat.vectors import (
    ALGORITHMS,
    DECAPS,
    DECAPS_REJECT,
    ENCAPS_DET,
    KEM_ALGORITHMS,
    KEYGEN_PK,
    KEYGEN_SK,
    REJECT_CORRUPTED,
    REJECT_WRONG_CONTEXT,
    SIG_ALGORITHMS,
    SIGN_DET,
    VERIFY,
    XWING,
    KemVector,
    LoadedSource,
    SigVector,
    VectorDataError,
    XWingVector,
)

EMBEDDED = "embedded"
CRYPTOGRAPHY_VECTORS = "cryptography-vectors"
SOURCE_NAMES = (EMBEDDED, CRYPTOGRAPHY_VECTORS)

# The NIST KAT files inside the cryptography-vectors package, per algorithm.
CV_FILES = {
    "ML-KEM-512": "asymmetric/MLKEM/kat_MLKEM_512.rsp",
    "ML-KEM-768": "asymmetric/MLKEM/kat_MLKEM_768.rsp",
    "ML-KEM-1024": "asymmetric/MLKEM/kat_MLKEM_1024.rsp",
    "ML-DSA-44": "asymmetric/MLDSA/kat_MLDSA_44_det_pure.rsp",
    "ML-DSA-65": "asymmetric/MLDSA/kat_MLDSA_65_det_pure.rsp",
    "ML-DSA-87": "asymmetric/MLDSA/kat_MLDSA_87_det_pure.rsp",
}
CV_HPKE_FILE = "HPKE/hpke-pq-test-vectors.json"  # X-Wing (kem_id 0x647a) and ML-KEM entries


def embedded_vector(algorithm: str, entry: dict):
    """An embedded-subset entry as a vector; the id is the vector's origin (file#count)."""
    vector_id = entry["id"]
    if algorithm in KEM_ALGORITHMS:
        return KemVector(
            vector_id=vector_id, algorithm=algorithm,
            checks=(KEYGEN_PK, KEYGEN_SK, DECAPS, DECAPS_REJECT, ENCAPS_DET),
            seed=entry["d"] + entry["z"], public_key=entry["pk"], expanded_key_sha3=entry["sk_sha3_256"],
            ciphertext=entry["ct"], shared_secret=entry["ss"], rejection_ciphertext=entry["ct_n"],
            rejection_secret=entry["ss_n"], encaps_message=entry["msg"], encaps_ciphertext=entry["ct"],
            encaps_secret=entry["ss"])
    if algorithm in SIG_ALGORITHMS:
        return SigVector(
            vector_id=vector_id, algorithm=algorithm,
            checks=(KEYGEN_PK, KEYGEN_SK, VERIFY, REJECT_CORRUPTED, REJECT_WRONG_CONTEXT, SIGN_DET),
            seed=entry["xi"], public_key=entry["pk"], expanded_key_sha3=entry["sk_sha3_256"],
            message=entry["msg"], context=entry["ctx"], signature=entry["sig"])
    return XWingVector(
        vector_id=vector_id, checks=(KEYGEN_PK, DECAPS, ENCAPS_DET) if entry.get("eseed") else (KEYGEN_PK, DECAPS),
        seed=entry["seed"], public_key=entry["pk"], ciphertext=entry["ct"], shared_secret=entry["ss"],
        eseed=entry.get("eseed"))


def load_embedded(wanted: frozenset[str]) -> LoadedSource:
    index = embedded_index()
    source = LoadedSource(EMBEDDED, {"name": EMBEDDED, "path": str(embedded.DATA_DIR),
                                     "generated_from": index.get("generated_from")})
    for algorithm in ALGORITHMS:
        if algorithm in wanted:
            try:
                source.add(algorithm, [embedded_vector(algorithm, entry) for entry in embedded_entries(algorithm)])
            except KeyError as exc:
                raise EnvironmentProblem(f"the embedded KAT subset for {algorithm} lacks field {exc}") from None
    return source


def _distribution_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cryptography_version() -> str | None:
    # Usually imported already by the time vectors are loaded; importlib.metadata costs ~15 ms.
    module = sys.modules.get("cryptography")
    return getattr(module, "__version__", None) or _distribution_version("cryptography")


def cryptography_vectors_status() -> dict:
    """Is the package importable, which version, does it match cryptography, which files it has."""
    cryptography_version = _cryptography_version()
    hint = f"pip install 'cryptography-vectors=={cryptography_version}'" if cryptography_version else "pip install cryptography-vectors"
    try:
        import cryptography_vectors
    except ImportError:
        return {"name": CRYPTOGRAPHY_VECTORS, "available": False, "required": False, "version": None,
                "cryptography_version": cryptography_version, "matches_cryptography": None, "path": None,
                "files": {}, "hint": hint,
                "detail": f"not installed: only the embedded subset runs; for the full NIST files: {hint}"}
    from importlib import resources

    version = getattr(cryptography_vectors, "__version__", None) or _distribution_version("cryptography-vectors")
    root = resources.files("cryptography_vectors")
    files = {path: root.joinpath(path).is_file() for path in (*CV_FILES.values(), CV_HPKE_FILE)}
    matches = version is not None and version == cryptography_version
    present = sum(files.values())
    detail = (f"{version} ({'matches' if matches else 'differs from'} cryptography {cryptography_version}); "
              f"{present} of {len(files)} vector files present")
    status = {"name": CRYPTOGRAPHY_VECTORS, "available": present > 0, "required": False, "version": version,
              "cryptography_version": cryptography_version, "matches_cryptography": matches, "path": str(root),
              "files": files, "detail": detail}
    if not matches:
        status["hint"] = hint
    return status


def load_cryptography_vectors(wanted: frozenset[str], *, required: bool) -> LoadedSource | None:
    """The full NIST files; None when the package is absent and was not asked for by name."""
    status = cryptography_vectors_status()
    if not status["available"]:
        if required:
            raise EnvironmentProblem(f"vector source {CRYPTOGRAPHY_VECTORS} is not available: {status['detail']}",
                                     hint=status.get("hint"))
        return None
    meta = {key: status[key] for key in ("name", "version", "cryptography_version", "matches_cryptography", "path")}
    meta["missing_files"] = sorted(path for path, present in status["files"].items() if not present)
    from importlib import resources

    from x0ctl.kat.formats import parse_hpke_json, parse_rsp

    source = LoadedSource(CRYPTOGRAPHY_VECTORS, meta)
    root = resources.files("cryptography_vectors")
    for algorithm, path in CV_FILES.items():
        if algorithm in wanted and status["files"][path]:
            with root.joinpath(path).open("rb") as lines:  # streamed: never the whole 16 MB file at once
                parse_rsp(lines, path.rsplit("/", 1)[-1], source, wanted)
    if status["files"][CV_HPKE_FILE] and wanted & {XWING, *KEM_ALGORITHMS}:
        try:
            doc = json.loads(root.joinpath(CV_HPKE_FILE).read_bytes())
        except ValueError as exc:
            raise VectorDataError(f"{CV_HPKE_FILE} in cryptography-vectors is not valid JSON: {exc}") from None
        parse_hpke_json(doc, CV_HPKE_FILE.rsplit("/", 1)[-1], source, wanted)
    return source


def discover_sources() -> list[dict]:
    """The vector sources on this node, for `x0ctl doctor`; never raises for a missing source."""
    try:
        index = embedded_index()
        counts = {algorithm: entry["count"] for algorithm, entry in index["algorithms"].items()}
        missing = [algorithm for algorithm in ALGORITHMS if not counts.get(algorithm)]
        subset = {"name": EMBEDDED, "available": not missing, "required": True, "path": str(embedded.DATA_DIR),
                    "vectors": counts, "total": sum(counts.values()), "generated_from": index.get("generated_from"),
                    "detail": f"{sum(counts.values())} vectors shipped with x0ctl ("
                              + ", ".join(f"{algorithm} {count}" for algorithm, count in counts.items()) + ")"
                              + (f"; none for {', '.join(missing)}" if missing else "")}
    except EnvironmentProblem as exc:
        subset = {"name": EMBEDDED, "available": False, "required": True, "path": None, "vectors": {},
                    "total": 0, "detail": str(exc)}
    return [subset, cryptography_vectors_status()]
