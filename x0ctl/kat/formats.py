"""Vector file formats: NIST .rsp, the X-Wing draft's JSON, HPKE-PQ JSON; reading a vector file.

ACVP JSON lives in `x0ctl.kat.acvp`, detecting an operator file's format in `x0ctl.kat.detect`.
Every parser adds to a `LoadedSource` one batch of vectors per algorithm asked for, plus
`ignored` notes for vectors of algorithms x0ctl does not test.
Malformed input raises `VectorDataError` (a UsageError) naming the file; a missing or unreadable
file raises IOFailure.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path

from x0ctl.errors import IOFailure, UsageError
from x0ctl.kat.vectors import (
    DECAPS,
    ENCAPS_DET,
    KEYGEN_PK,
    KEYGEN_SK,
    REJECT_CORRUPTED,
    REJECT_WRONG_CONTEXT,
    SIGN_DET,
    SIGN_HEDGED,
    VERIFY,
    XWING,
    KemVector,
    LoadedSource,
    SigVector,
    VectorDataError,
    XWingVector,
    decode_hex,
    kem_checks,
)
from x0ctl.pqc.base import KEM_SIZES, SIG_SIZES
from x0ctl.textfile import read_bytes

# Parameter set from the public-key length, the one field every format carries.
_KEM_BY_PK = {sizes.public_key: name for name, sizes in KEM_SIZES.items()}
_SIG_BY_PK = {sizes.public_key: name for name, sizes in SIG_SIZES.items()}
HPKE_KEM_IDS = {0x0040: "ML-KEM-512", 0x0041: "ML-KEM-768", 0x0042: "ML-KEM-1024", 0x647A: XWING}
XWING_SIZES = {"seed": 32, "pk": 1216, "ct": 1120, "ss": 32, "eseed": 64}
_XWING_FIELDS = frozenset({"seed", "sk", "pk", "eseed", "ct", "ss"})
FORMATS_HELP = "NIST .rsp (ML-KEM / ML-DSA), X-Wing JSON, HPKE-PQ JSON, or ACVP JSON (ML-KEM, ML-DSA)"


def rsp_records(lines: Iterable[bytes] | bytes, name: str) -> list[dict[bytes, bytes]]:
    """`name = value` records, each starting at `count`, values still hex text.

    `lines` is best an open binary file: iterating it splits lines in C without holding the
    whole file (the NIST files are ~40 MB of hex). A last line without a line end means the
    file was cut short (NIST files end with one): that is a file error, not a vector to run.
    """
    if isinstance(lines, (bytes, bytearray)):
        lines = io.BytesIO(lines)
    records: list[dict[bytes, bytes]] = []
    current: dict[bytes, bytes] | None = None
    line = b"\n"
    number = 0
    for number, line in enumerate(lines, 1):
        key, sep, value = line.partition(b" = ")
        if sep:
            value = value.rstrip()
        else:  # "key=value", "key =" (an empty value), or a line without a field
            key, sep, value = line.partition(b"=")
            if not sep:
                text = line.strip()
                # Blank lines, comments and [section] headers carry no vector data.
                if text and not text.startswith((b"#", b"[")):
                    raise VectorDataError(f"{name}: line {number} is not a 'name = value' line")
                continue
            key, value = key.strip(), value.strip()
        if key == b"count":
            current = {}
            records.append(current)
        elif current is None:
            raise VectorDataError(f"{name}: line {number}: field {key.decode(errors='replace')!r} before the first 'count'")
        if key in current:
            raise VectorDataError(f"{name}: line {number}: field {key.decode(errors='replace')!r} twice in one record")
        current[key] = value
    if not line.endswith(b"\n"):
        raise VectorDataError(f"{name}: line {number} ends without a line break: the file is truncated")
    return records


def _count(record: dict) -> str:
    return record[b"count"].decode(errors="replace")


def _decoder(record: dict, name: str):
    """decode(field, size=None): a field of this record as bytes; bad hex or length names the field."""
    where = f"{name}: record count={_count(record)}"

    def decode(key: bytes, size: int | None = None) -> bytes:
        return decode_hex(record[key], f"{where}: {key.decode()}", size)

    return decode


def _integer(record: dict, key: bytes, name: str) -> int | None:
    value = record.get(key)
    if value is None:
        return None
    if not value.isdigit():
        raise VectorDataError(f"{name}: record count={_count(record)}: {key.decode()} is not a number")
    return int(value)


def _check_fields(record: dict, required: tuple[bytes, ...], known: frozenset[bytes], name: str) -> None:
    missing = [field.decode() for field in required if field not in record]
    if missing:
        raise VectorDataError(f"{name}: record count={_count(record)} lacks {', '.join(missing)}")
    unknown = [field.decode(errors="replace") for field in record if field not in known]
    if unknown:
        raise VectorDataError(f"{name}: record count={_count(record)}: unknown field {', '.join(unknown)}")


def parse_rsp(lines: Iterable[bytes] | bytes, name: str, source: LoadedSource, wanted: frozenset[str]) -> None:
    """A NIST KAT .rsp file (an open binary file, or its bytes): ML-KEM or ML-DSA records."""
    records = rsp_records(lines, name)
    if not records:
        raise VectorDataError(f"{name}: no 'count = ...' records; not a NIST .rsp file")
    first = records[0]
    if b"d" in first and b"z" in first:  # FIPS 203 seed halves: ML-KEM
        _parse_rsp_kem(records, name, source, wanted)
    elif b"sm" in first or b"xi" in first:  # signed message or FIPS 204 seed: ML-DSA
        _parse_rsp_sig(records, name, source, wanted)
    else:
        fields = ", ".join(sorted(key.decode(errors="replace") for key in first))
        raise UsageError(f"{name}: unrecognised .rsp layout (fields: {fields}); expected ML-KEM or ML-DSA KAT records")


def _parameter_set(record: dict, by_public_key: dict[int, str], family: str, name: str) -> str:
    public_key = record.get(b"pk")
    algorithm = by_public_key.get(len(public_key) // 2) if public_key is not None else None
    if algorithm is None:
        what = "no pk" if public_key is None else f"a {len(public_key) / 2:g}-byte public key"
        raise VectorDataError(f"{name}: record count={_count(record)} has {what}: no {family} parameter set")
    return algorithm


_KEM_REQUIRED = (b"d", b"z", b"pk", b"ct", b"ss")
_KEM_FIELDS = frozenset({b"count", *_KEM_REQUIRED, b"msg", b"seed", b"sk", b"ct_n", b"ss_n"})
_DRBG_SEED = 48  # the `seed` of NIST's KAT generator (its DRBG input): checked, used by no check


def _parse_rsp_kem(records: list[dict], name: str, source: LoadedSource, wanted: frozenset[str]) -> None:
    by_algorithm: dict[str, list[KemVector]] = {}
    for record in records:
        algorithm = _parameter_set(record, _KEM_BY_PK, "ML-KEM", name)
        _check_fields(record, _KEM_REQUIRED, _KEM_FIELDS, name)
        if (b"ct_n" in record) != (b"ss_n" in record):
            raise VectorDataError(f"{name}: record count={_count(record)} has only one of ct_n and ss_n")
        sizes = KEM_SIZES[algorithm]
        decode = _decoder(record, name)
        optional = {key: decode(key, size) for key, size in ((b"msg", 32), (b"seed", _DRBG_SEED),
                                                              (b"sk", sizes.expanded_private_key),
                                                              (b"ct_n", sizes.ciphertext), (b"ss_n", 32))
                    if key in record}
        vector = KemVector(
            vector_id=f"{name}#count={_count(record)}", algorithm=algorithm,
            checks=kem_checks(keygen=True, expanded=b"sk" in optional, decaps=True, reject=b"ct_n" in optional,
                              encaps=b"msg" in optional),
            seed=decode(b"d", 32) + decode(b"z", 32), public_key=decode(b"pk", sizes.public_key),
            expanded_key=optional.get(b"sk"), ciphertext=decode(b"ct", sizes.ciphertext),
            shared_secret=decode(b"ss", 32), rejection_ciphertext=optional.get(b"ct_n"),
            rejection_secret=optional.get(b"ss_n"), encaps_message=optional.get(b"msg"))
        vector.encaps_ciphertext, vector.encaps_secret = vector.ciphertext, vector.shared_secret
        if algorithm in wanted:
            by_algorithm.setdefault(algorithm, []).append(vector)
    for algorithm, vectors in by_algorithm.items():
        source.add(algorithm, vectors)


_SIG_REQUIRED = (b"pk", b"msg", b"sm")
_SIG_FIELDS = frozenset({b"count", *_SIG_REQUIRED, b"xi", b"seed", b"sk", b"mlen", b"smlen", b"ctx", b"rnd"})


def _sig_checks(seeded: bool, expanded: bool, hedged: bool) -> tuple[str, ...]:
    checks = [KEYGEN_PK, KEYGEN_SK] if seeded and expanded else [KEYGEN_PK] if seeded else []
    checks += [VERIFY, REJECT_CORRUPTED, REJECT_WRONG_CONTEXT]
    if seeded or expanded:  # signing needs the key, from the seed or as the expanded sk
        checks.append(SIGN_HEDGED if hedged else SIGN_DET)
    return tuple(checks)


def _parse_rsp_sig(records: list[dict], name: str, source: LoadedSource, wanted: frozenset[str]) -> None:
    by_algorithm: dict[str, list[SigVector]] = {}
    for record in records:
        algorithm = _parameter_set(record, _SIG_BY_PK, "ML-DSA", name)
        _check_fields(record, _SIG_REQUIRED, _SIG_FIELDS, name)
        sizes = SIG_SIZES[algorithm]
        decode = _decoder(record, name)
        where = f"{name}: record count={_count(record)}"
        message, signed = decode(b"msg"), decode(b"sm")
        declared = _integer(record, b"mlen", name)
        if declared is not None and declared != len(message):
            raise VectorDataError(f"{where}: msg is {len(message)} bytes but mlen says {declared}")
        declared = _integer(record, b"smlen", name)
        if declared is not None and declared != len(signed):
            raise VectorDataError(f"{where}: sm is {len(signed)} bytes but smlen says {declared}")
        # NIST's sm is signature || message: the signature is what precedes the message.
        if len(signed) != sizes.signature + len(message) or not signed.endswith(message):
            raise VectorDataError(f"{where}: sm is not a {sizes.signature}-byte signature followed by msg")
        context = decode(b"ctx") if b"ctx" in record else b""
        if len(context) > 255:
            raise VectorDataError(f"{where}: ctx is {len(context)} bytes, more than FIPS 204's 255")
        if b"seed" in record:
            decode(b"seed", _DRBG_SEED)
        seed = decode(b"xi", 32) if b"xi" in record else None
        expanded = decode(b"sk", sizes.expanded_private_key) if b"sk" in record else None
        rnd = decode(b"rnd", 32) if b"rnd" in record else None
        vector = SigVector(
            vector_id=f"{name}#count={_count(record)}", algorithm=algorithm,
            checks=_sig_checks(seed is not None, expanded is not None, rnd is not None),
            seed=seed, public_key=decode(b"pk", sizes.public_key), expanded_key=expanded, message=message,
            context=context, signature=signed[:sizes.signature], rnd=rnd)
        if algorithm in wanted:
            by_algorithm.setdefault(algorithm, []).append(vector)
    for algorithm, vectors in by_algorithm.items():
        source.add(algorithm, vectors)


def _hex_field(entry: dict, key: str, name: str, index: int, size: int | None = None) -> bytes:
    value = entry.get(key)
    if not isinstance(value, str):
        raise VectorDataError(f"{name}: entry {index} lacks the hex field {key!r}")
    return decode_hex(value, f"{name}: entry {index}: {key}", size)


def parse_xwing_json(doc: list, name: str, source: LoadedSource, wanted: frozenset[str]) -> None:
    """The draft's test-vectors.json: a list of {seed, sk, pk, eseed, ct, ss}."""
    vectors = []
    for index, entry in enumerate(doc):
        if not isinstance(entry, dict):
            raise VectorDataError(f"{name}: entry {index} is not an object")
        unknown = sorted(set(entry) - _XWING_FIELDS)
        if unknown:
            raise VectorDataError(f"{name}: entry {index}: unknown field {', '.join(unknown)}")
        eseed = _hex_field(entry, "eseed", name, index, XWING_SIZES["eseed"]) if "eseed" in entry else None
        # The current draft's sk is the 32-byte seed itself (GenerateKeyPairDerand returns it).
        private_key = _hex_field(entry, "sk", name, index, XWING_SIZES["seed"]) if "sk" in entry else None
        checks = [KEYGEN_PK] + ([KEYGEN_SK] if private_key is not None else []) + [DECAPS]
        vectors.append(XWingVector(
            vector_id=f"{name}#{index}",
            checks=tuple(checks + ([ENCAPS_DET] if eseed is not None else [])),
            seed=_hex_field(entry, "seed", name, index, XWING_SIZES["seed"]),
            public_key=_hex_field(entry, "pk", name, index, XWING_SIZES["pk"]),
            ciphertext=_hex_field(entry, "ct", name, index, XWING_SIZES["ct"]),
            shared_secret=_hex_field(entry, "ss", name, index, XWING_SIZES["ss"]),
            eseed=eseed, private_key=private_key,
        ))
    if XWING in wanted:
        source.add(XWING, vectors)


def parse_hpke_json(doc: list, name: str, source: LoadedSource, wanted: frozenset[str]) -> None:
    """HPKE-PQ test vectors: the KEM part of the ML-KEM and X-Wing entries.

    skRm is the KEM's seed (ML-KEM d||z, X-Wing 32 bytes), pkRm the public key, enc the
    ciphertext, shared_secret the KEM secret and ikmE the encapsulation randomness (ML-KEM m,
    X-Wing eseed). The HPKE layers above the KEM (key schedule, AEAD) are not x0ctl's to test.
    """
    per_algorithm: dict[str, list] = {}
    others: dict[int, int] = {}
    for index, entry in enumerate(doc):
        if not isinstance(entry, dict):
            raise VectorDataError(f"{name}: entry {index} is not an object")
        try:
            kem_id = int(entry["kem_id"])
        except (KeyError, TypeError, ValueError):
            raise VectorDataError(f"{name}: entry {index} has no numeric kem_id") from None
        algorithm = HPKE_KEM_IDS.get(kem_id)
        if algorithm is None:
            others[kem_id] = others.get(kem_id, 0) + 1
            continue
        vector_id = f"{name}#{index}"
        if algorithm == XWING:
            vector = XWingVector(
                vector_id=vector_id,
                checks=(KEYGEN_PK, DECAPS, ENCAPS_DET),
                seed=_hex_field(entry, "skRm", name, index, XWING_SIZES["seed"]),
                public_key=_hex_field(entry, "pkRm", name, index, XWING_SIZES["pk"]),
                ciphertext=_hex_field(entry, "enc", name, index, XWING_SIZES["ct"]),
                shared_secret=_hex_field(entry, "shared_secret", name, index, 32),
                eseed=_hex_field(entry, "ikmE", name, index, XWING_SIZES["eseed"]),
            )
        else:
            sizes = KEM_SIZES[algorithm]
            ciphertext = _hex_field(entry, "enc", name, index, sizes.ciphertext)
            secret = _hex_field(entry, "shared_secret", name, index, 32)
            vector = KemVector(
                vector_id=vector_id,
                algorithm=algorithm,
                checks=(KEYGEN_PK, DECAPS, ENCAPS_DET),
                seed=_hex_field(entry, "skRm", name, index, sizes.seed),
                public_key=_hex_field(entry, "pkRm", name, index, sizes.public_key),
                ciphertext=ciphertext,
                shared_secret=secret,
                encaps_message=_hex_field(entry, "ikmE", name, index, 32),
                encaps_ciphertext=ciphertext,
                encaps_secret=secret,
            )
        if algorithm in wanted:  # every KEM entry is validated, the ones asked for also run
            per_algorithm.setdefault(algorithm, []).append(vector)
    for algorithm, vectors in per_algorithm.items():
        source.add(algorithm, vectors)
    if others:
        ids = ", ".join(f"0x{kem_id:04x}" for kem_id in sorted(others))
        source.ignore(f"{name}: HPKE entries with kem_id {ids}", sum(others.values()),
                      "not a KEM x0ctl tests (classical DHKEMs and other hybrids)")


def read_vector_file(path: Path) -> bytes:
    if path.is_dir():
        raise IOFailure(f"{path} is a directory; pass vector files (or an ACVP directory holding prompt.json)")
    return read_bytes(path, "vector file")


def load_json(data: bytes, label: str):
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise UsageError(f"{label}: not a text file; expected {FORMATS_HELP}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{label}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise UsageError(f"{label}: JSON nested too deeply") from None
