#!/usr/bin/env python3
"""Regenerate x0ctl/kat/data: the compact known-answer subset shipped inside x0ctl.

Reads the NIST KAT files of the installed cryptography-vectors package (ML-KEM, ML-DSA, and the
X-Wing entries of its HPKE-PQ vectors) and the X-Wing draft's test vectors from
../shared/vectors/xwing-test-vectors.json, keeps the first N vectors of each parameter set, and
writes one gzip'd JSON file per algorithm plus index.json. Byte fields are base64 (it gzips to
within 3% of the raw bytes; hex costs ~15% more). Expanded private keys are outputs only, so just
their SHA3-256 is kept. The output is deterministic: same inputs, same bytes.

    .venv/bin/python scripts/make-kat-subset.py [--per-set 4] [--xwing PATH] [--out DIR] [--check]

--check regenerates in memory and exits 1 if x0ctl/kat/data differs (for CI).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import sys
from importlib import resources
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "x0ctl" / "kat" / "data"
DEFAULT_XWING = REPO.parent / "shared" / "vectors" / "xwing-test-vectors.json"
FORMAT = "x0ctl-kat-subset/1"
DEFAULT_PER_SET = 4  # 4 per parameter set keeps the whole subset near 130 KB
XWING_HPKE_KEM_ID = 0x647A
XWING_DRAFT = "draft-connolly-cfrg-xwing-kem spec/test-vectors.json"

KEM_FILES = {
    "ML-KEM-512": "asymmetric/MLKEM/kat_MLKEM_512.rsp",
    "ML-KEM-768": "asymmetric/MLKEM/kat_MLKEM_768.rsp",
    "ML-KEM-1024": "asymmetric/MLKEM/kat_MLKEM_1024.rsp",
}
SIG_FILES = {
    "ML-DSA-44": "asymmetric/MLDSA/kat_MLDSA_44_det_pure.rsp",
    "ML-DSA-65": "asymmetric/MLDSA/kat_MLDSA_65_det_pure.rsp",
    "ML-DSA-87": "asymmetric/MLDSA/kat_MLDSA_87_det_pure.rsp",
}
HPKE_FILE = "HPKE/hpke-pq-test-vectors.json"
SIG_LENGTHS = {"ML-DSA-44": 2420, "ML-DSA-65": 3309, "ML-DSA-87": 4627}


def rsp_records(text: str, limit: int) -> list[dict[str, str]]:
    """The first `limit` records of a NIST .rsp file (a record starts at `count`)."""
    records: list[dict[str, str]] = []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "count":
            if len(records) == limit:
                break
            records.append({})
        records[-1][key] = value.lower()
    return records


def sha3(hex_value: str) -> str:
    return hashlib.sha3_256(bytes.fromhex(hex_value)).hexdigest()


def b64(hex_value: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_value)).decode()


def encode(vector: dict) -> dict:
    """Every byte field (all but `id`) from hex to base64."""
    return {key: value if key == "id" else b64(value) for key, value in vector.items()}


def kem_subset(root, path: str, per_set: int) -> list[dict]:
    name = path.rsplit("/", 1)[-1]
    return [
        {"id": f"{name}#count={r['count']}", "d": r["d"], "z": r["z"], "pk": r["pk"], "sk_sha3_256": sha3(r["sk"]),
         "msg": r["msg"], "ct": r["ct"], "ss": r["ss"], "ct_n": r["ct_n"], "ss_n": r["ss_n"]}
        for r in rsp_records(root.joinpath(path).read_text(), per_set)
    ]


def sig_subset(root, algorithm: str, path: str, per_set: int) -> list[dict]:
    name = path.rsplit("/", 1)[-1]
    signature_hex = 2 * SIG_LENGTHS[algorithm]
    vectors = []
    for r in rsp_records(root.joinpath(path).read_text(), per_set):
        if r["sm"][signature_hex:] != r["msg"]:
            raise SystemExit(f"{name} count={r['count']}: sm is not signature || msg")
        vectors.append({"id": f"{name}#count={r['count']}", "xi": r["xi"], "pk": r["pk"],
                        "sk_sha3_256": sha3(r["sk"]), "msg": r["msg"], "ctx": r.get("ctx", ""),
                        "sig": r["sm"][:signature_hex]})
    return vectors


def xwing_subset(root, xwing_path: Path) -> list[dict]:
    vectors = []
    for index, entry in enumerate(json.loads(xwing_path.read_text())):
        vectors.append({"id": f"xwing-test-vectors.json#{index}", "seed": entry["seed"].lower(),
                        "pk": entry["pk"].lower(), "eseed": entry["eseed"].lower(), "ct": entry["ct"].lower(),
                        "ss": entry["ss"].lower()})
    for index, entry in enumerate(json.loads(root.joinpath(HPKE_FILE).read_text())):
        if int(entry["kem_id"]) == XWING_HPKE_KEM_ID:
            vectors.append({"id": f"hpke-pq-test-vectors.json#{index}", "seed": entry["skRm"], "pk": entry["pkRm"],
                            "eseed": entry["ikmE"], "ct": entry["enc"], "ss": entry["shared_secret"]})
    return vectors


def build(per_set: int, xwing_path: Path) -> dict[str, bytes]:
    """File name -> exact bytes of the subset."""
    import cryptography_vectors

    root = resources.files("cryptography_vectors")
    version = cryptography_vectors.__version__
    per_algorithm: dict[str, tuple[list[dict], list[str]]] = {}
    for algorithm, path in KEM_FILES.items():
        per_algorithm[algorithm] = (kem_subset(root, path, per_set), [f"cryptography-vectors {version}: {path}"])
    for algorithm, path in SIG_FILES.items():
        per_algorithm[algorithm] = (sig_subset(root, algorithm, path, per_set),
                                    [f"cryptography-vectors {version}: {path}"])
    per_algorithm["X-Wing"] = (xwing_subset(root, xwing_path),
                               [XWING_DRAFT, f"cryptography-vectors {version}: {HPKE_FILE} (kem_id 0x647a)"])

    files: dict[str, bytes] = {}
    index = {"format": FORMAT, "generator": "scripts/make-kat-subset.py",
             "generated_from": {"cryptography-vectors": version, "x-wing": XWING_DRAFT, "per_parameter_set": per_set},
             "algorithms": {}}
    for algorithm, (vectors, origins) in per_algorithm.items():
        file_name = f"{algorithm}.json.gz"
        body = json.dumps({"algorithm": algorithm, "encoding": "base64", "origins": origins,
                           "vectors": [encode(vector) for vector in vectors]},
                          sort_keys=True, separators=(",", ":")).encode()
        # mtime=0 and no file name in the header: the same vectors always give the same bytes.
        files[file_name] = gzip.compress(body, compresslevel=9, mtime=0)
        index["algorithms"][algorithm] = {"file": file_name, "count": len(vectors), "origins": origins,
                                          "ids": [vector["id"] for vector in vectors]}
    files["index.json"] = (json.dumps(index, indent=1, sort_keys=True) + "\n").encode()
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-set", type=int, default=DEFAULT_PER_SET,
                        help=f"vectors per ML-KEM/ML-DSA parameter set (default {DEFAULT_PER_SET})")
    parser.add_argument("--xwing", type=Path, default=DEFAULT_XWING, help="the X-Wing draft's test-vectors.json")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default x0ctl/kat/data)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the output folder is not up to date")
    args = parser.parse_args()
    try:
        import cryptography_vectors  # noqa: F401
    except ImportError:
        print("make-kat-subset: the cryptography-vectors package is not installed "
              "(pip install 'cryptography-vectors==<your cryptography version>')", file=sys.stderr)
        return 2
    if not args.xwing.is_file():
        print(f"make-kat-subset: X-Wing vectors not found at {args.xwing} (use --xwing)", file=sys.stderr)
        return 2
    files = build(args.per_set, args.xwing)
    if args.check:
        stale = [name for name, data in files.items()
                 if not (args.out / name).is_file() or (args.out / name).read_bytes() != data]
        extra = sorted(p.name for p in args.out.glob("*") if p.name not in files and p.name != "__init__.py")
        if stale or extra:
            print(f"make-kat-subset: {args.out} is out of date: {', '.join(stale + extra)}", file=sys.stderr)
            return 1
        print(f"make-kat-subset: {args.out} is up to date")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in sorted(files.items()):
        (args.out / name).write_bytes(data)
    total = sum(len(data) for data in files.values())
    print(f"make-kat-subset: wrote {len(files)} files, {total} bytes, to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
