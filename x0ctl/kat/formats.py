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
    kem_checks,
)
from x0ctl.pqc.base import KEM_SIZES, SIG_SIZES
from x0ctl.textfile import read_bytes

# Parameter set from the public-key length, the one field every format carries.
_KEM_BY_PK = {sizes.public_key: name for name, sizes in KEM_SIZES.items()}
_SIG_BY_PK = {sizes.public_key: name for name, sizes in SIG_SIZES.items()}
HPKE_KEM_IDS = {0x0040: "ML-KEM-512", 0x0041: "ML-KEM-768", 0x0042: "ML-KEM-1024", 0x647A: XWING}
XWING_SIZES = {"seed": 32, "pk": 1216, "ct": 1120, "ss": 32, "eseed": 64}
HEDGED_REASON = "hedged ML-DSA signing with a caller-supplied rnd is not exposed by x0ctl backends"
FORMATS_HELP = "NIST .rsp (ML-KEM / ML-DSA), X-Wing JSON, HPKE-PQ JSON, or ACVP JSON (ML-KEM, ML-DSA)"


# --- NIST .rsp ---------------------------------------------------------------------------------


def rsp_records(lines: Iterable[bytes] | bytes, name: str) -> list[dict[bytes, bytes]]:
    """`name = value` records, each starting at `count`, values still hex text.

    `lines` is best an open binary file: iterating it splits lines in C without holding the
    whole file (the NIST files are ~40 MB of hex, and parsing them is the part of a full run not
    spent in the primitives). Hex is decoded later, and only for the fields a check uses.
    """
    if isinstance(lines, (bytes, bytearray)):
        lines = io.BytesIO(lines)
    records: list[dict[bytes, bytes]] = []
    current: dict[bytes, bytes] | None = None
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
        current[key] = value
    return records


def _count(record: dict) -> str:
    return record[b"count"].decode(errors="replace")


def _check_lengths(record: dict, lengths: tuple[tuple[bytes, int], ...], name: str) -> None:
    for key, hex_length in lengths:
        if len(record[key]) != hex_length:
            raise VectorDataError(f"{name}: record count={_count(record)}: {key.decode()} is "
                                  f"{len(record[key]) / 2:g} bytes, expected {hex_length // 2}")


def _missing(record: dict, fields: tuple[bytes, ...], name: str) -> VectorDataError | None:
    missing = [field.decode() for field in fields if field not in record]
    if missing:
        return VectorDataError(f"{name}: record count={_count(record)} lacks {', '.join(missing)}")
    return None


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
        what = "no pk" if public_key is None else f"a {len(public_key) // 2}-byte public key"
        raise VectorDataError(f"{name}: record count={_count(record)} has {what}: no {family} parameter set")
    return algorithm


def _kem_layout(algorithm: str, record: dict, name: str) -> tuple[tuple[str, ...], tuple]:
    """Which checks records with these fields support, and the hex lengths to validate."""
    error = _missing(record, (b"d", b"z", b"pk", b"ct", b"ss"), name)
    if error:
        raise error
    sizes = KEM_SIZES[algorithm]
    lengths = [(b"d", 64), (b"z", 64), (b"ct", 2 * sizes.ciphertext), (b"ss", 64)]
    reject = b"ct_n" in record and b"ss_n" in record
    if reject:
        lengths += [(b"ct_n", 2 * sizes.ciphertext), (b"ss_n", 64)]
    if b"sk" in record:
        lengths.append((b"sk", 2 * sizes.expanded_private_key))
    if b"msg" in record:
        lengths.append((b"msg", 64))
    checks = kem_checks(keygen=True, expanded=b"sk" in record, decaps=True, reject=reject, encaps=b"msg" in record)
    return checks, tuple(lengths)


def _parse_rsp_kem(records: list[dict], name: str, source: LoadedSource, wanted: frozenset[str]) -> None:
    by_algorithm: dict[str, list[KemVector]] = {}
    layouts: dict[tuple, tuple] = {}  # every record of a file has the same fields: work them out once
    for record in records:
        algorithm = _parameter_set(record, _KEM_BY_PK, "ML-KEM", name)
        if algorithm not in wanted:
            continue
        layout_key = (algorithm, *record)
        layout = layouts.get(layout_key)
        if layout is None:
            layout = layouts[layout_key] = _kem_layout(algorithm, record, name)
        checks, lengths = layout
        _check_lengths(record, lengths, name)
        get = record.get
        ciphertext, secret = record[b"ct"], record[b"ss"]
        by_algorithm.setdefault(algorithm, []).append(KemVector(
            vector_id=f"{name}#count={_count(record)}", algorithm=algorithm, checks=checks,
            seed=(record[b"d"], record[b"z"]), public_key=record[b"pk"], expanded_key=get(b"sk"),
            ciphertext=ciphertext, shared_secret=secret,
            rejection_ciphertext=get(b"ct_n"), rejection_secret=get(b"ss_n"),
            encaps_message=get(b"msg"), encaps_ciphertext=ciphertext, encaps_secret=secret,
        ))
    for algorithm, vectors in by_algorithm.items():
        source.add(algorithm, vectors)


def _sig_layout(algorithm: str, record: dict, name: str) -> tuple[tuple[str, ...], tuple, dict]:
    error = _missing(record, (b"pk", b"msg", b"sm"), name)
    if error:
        raise error
    sizes = SIG_SIZES[algorithm]
    seeded = b"xi" in record
    lengths = [(b"xi", 64)] if seeded else []
    checks = [KEYGEN_PK] if seeded else []
    if seeded and b"sk" in record:
        checks.append(KEYGEN_SK)
        lengths.append((b"sk", 2 * sizes.expanded_private_key))
    checks += [VERIFY, REJECT_CORRUPTED, REJECT_WRONG_CONTEXT]
    hedged = b"rnd" in record  # a hedged KAT: reproducing it needs that rnd fed to the signer
    if seeded:
        checks.append(SIGN_HEDGED if hedged else SIGN_DET)
    return tuple(checks), tuple(lengths), ({SIGN_HEDGED: HEDGED_REASON} if hedged else {})


def _parse_rsp_sig(records: list[dict], name: str, source: LoadedSource, wanted: frozenset[str]) -> None:
    by_algorithm: dict[str, list[SigVector]] = {}
    layouts: dict[tuple, tuple] = {}
    for record in records:
        algorithm = _parameter_set(record, _SIG_BY_PK, "ML-DSA", name)
        if algorithm not in wanted:
            continue
        layout_key = (algorithm, *record)
        layout = layouts.get(layout_key)
        if layout is None:
            layout = layouts[layout_key] = _sig_layout(algorithm, record, name)
        checks, lengths, unrunnable = layout
        _check_lengths(record, lengths, name)
        message, signed = record[b"msg"], record[b"sm"]
        declared = record.get(b"mlen")
        if declared is not None and declared.isdigit() and int(declared) * 2 != len(message):
            raise VectorDataError(f"{name}: record count={_count(record)}: msg is {len(message) / 2:g} bytes "
                                  f"but mlen says {int(declared)}")
        # NIST's sm is signature || message: the signature is what precedes the message.
        signature_hex = 2 * SIG_SIZES[algorithm].signature
        if len(signed) != signature_hex + len(message) or not signed.endswith(message):
            raise VectorDataError(f"{name}: record count={_count(record)}: sm is not a "
                                  f"{signature_hex // 2}-byte signature followed by msg")
        by_algorithm.setdefault(algorithm, []).append(SigVector(
            vector_id=f"{name}#count={_count(record)}", algorithm=algorithm, checks=checks,
            seed=record.get(b"xi"), public_key=record[b"pk"], expanded_key=record.get(b"sk"),
            message=message, context=record.get(b"ctx", b""), signature=signed[:signature_hex],
            unrunnable=unrunnable,
        ))
    for algorithm, vectors in by_algorithm.items():
        source.add(algorithm, vectors)


# --- X-Wing and HPKE-PQ JSON ------------------------------------------------------------------


def _hex_field(entry: dict, key: str, name: str, index: int, size: int | None = None) -> str:
    value = entry.get(key)
    if not isinstance(value, str):
        raise VectorDataError(f"{name}: entry {index} lacks the hex field {key!r}")
    if size is not None and len(value) != 2 * size:
        raise VectorDataError(f"{name}: entry {index}: {key} is {len(value) / 2:g} bytes, expected {size}")
    return value


def parse_xwing_json(doc: list, name: str, source: LoadedSource, wanted: frozenset[str]) -> None:
    """The draft's test-vectors.json: a list of {seed, sk, pk, eseed, ct, ss}."""
    if XWING not in wanted:
        return
    vectors = []
    for index, entry in enumerate(doc):
        if not isinstance(entry, dict):
            raise VectorDataError(f"{name}: entry {index} is not an object")
        eseed = entry.get("eseed")
        vectors.append(XWingVector(
            vector_id=f"{name}#{index}",
            checks=(KEYGEN_PK, DECAPS, ENCAPS_DET) if eseed is not None else (KEYGEN_PK, DECAPS),
            seed=_hex_field(entry, "seed", name, index, XWING_SIZES["seed"]),
            public_key=_hex_field(entry, "pk", name, index, XWING_SIZES["pk"]),
            ciphertext=_hex_field(entry, "ct", name, index, XWING_SIZES["ct"]),
            shared_secret=_hex_field(entry, "ss", name, index, XWING_SIZES["ss"]),
            eseed=_hex_field(entry, "eseed", name, index, XWING_SIZES["eseed"]) if eseed is not None else None,
        ))
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
        if algorithm not in wanted:
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
                seed=(_hex_field(entry, "skRm", name, index, sizes.seed),),
                public_key=_hex_field(entry, "pkRm", name, index, sizes.public_key),
                ciphertext=ciphertext,
                shared_secret=secret,
                encaps_message=_hex_field(entry, "ikmE", name, index, 32),
                encaps_ciphertext=ciphertext,
                encaps_secret=secret,
            )
        per_algorithm.setdefault(algorithm, []).append(vector)
    for algorithm, vectors in per_algorithm.items():
        source.add(algorithm, vectors)
    if others:
        ids = ", ".join(f"0x{kem_id:04x}" for kem_id in sorted(others))
        source.ignore(f"{name}: HPKE entries with kem_id {ids}", sum(others.values()),
                      "not a KEM x0ctl tests (classical DHKEMs and other hybrids)")


# --- detection and operator files --------------------------------------------------------------


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
