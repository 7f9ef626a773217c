#!/usr/bin/env python3
"""How much does `x0ctl verify kat` cost over the bare primitives it exercises?

    python benchmarks/bench_kat.py [--backend openssl|liboqs|all] [--repeat 3]

In one run, over the same vectors (the embedded subset plus the full cryptography-vectors files):

(a) `x0ctl verify kat --backend B -o json` as a subprocess - the real command, interpreter start,
    imports, parsing, checks and report included. When the CLI is not importable, the same run
    through `x0ctl.kat.run_kat` in a subprocess is timed instead (and labelled so).
(b) a bare loop, also as a fresh subprocess: a minimal line-by-line .rsp parser with
    bytes.fromhex, then the very primitive calls the KAT checks make (keygen from seed, decaps,
    implicit rejection, deterministic encaps, verify / corrupted / wrong-context, deterministic
    signing, expanded keys where the backend has them), comparing results, nothing else.

It prints wall and CPU time (user + system of the child; steadier when other work shares the
machine) of both, best of --repeat, their ratios (target <= 1.3), the same KAT run without the
CLI layer (to tell x0ctl.kat's cost from typer/rich start-up), and both measured in-process,
without interpreter start-up. Exit status 1 if (a) reports a KAT failure.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.3
CV_KEM = {"ML-KEM-512": "kat_MLKEM_512.rsp", "ML-KEM-768": "kat_MLKEM_768.rsp", "ML-KEM-1024": "kat_MLKEM_1024.rsp"}
CV_SIG = {"ML-DSA-44": "kat_MLDSA_44_det_pure.rsp", "ML-DSA-65": "kat_MLDSA_65_det_pure.rsp",
          "ML-DSA-87": "kat_MLDSA_87_det_pure.rsp"}
SIG_LEN = {"ML-DSA-44": 2420, "ML-DSA-65": 3309, "ML-DSA-87": 4627}
HPKE_KEMS = {64: "ML-KEM-512", 65: "ML-KEM-768", 66: "ML-KEM-1024", 0x647A: "X-Wing"}


def minimal_rsp(path: Path):
    """The simplest .rsp reader: `key = value` lines, a record per `count`."""
    record: dict[str, str] = {}
    with open(path) as handle:
        for line in handle:
            key, _, value = line.partition(" = ")
            if key == "count" and record:
                yield record
                record = {}
            record[key] = value.strip()
    if record:
        yield record


class Bare:
    """Primitive calls only: mismatches are counted, unsupported operations remembered."""

    def __init__(self, backend) -> None:
        from x0ctl.pqc import UnsupportedOperation

        self.backend = backend
        self.unsupported_error = UnsupportedOperation
        self.off: set[tuple[str, str]] = set()
        self.calls = 0
        self.mismatches = 0

    def same(self, expected: bytes, actual: bytes) -> None:
        self.calls += 1
        if expected != actual:
            self.mismatches += 1

    def expanded(self, actual: bytes, sk_hex: str | None, sk_digest: bytes | None) -> None:
        if sk_hex is not None:
            self.same(bytes.fromhex(sk_hex), actual)
        else:
            self.same(sk_digest, hashlib.sha3_256(actual).digest())

    def optional(self, algorithm: str, operation: str, call):
        if (algorithm, operation) in self.off:
            return None
        try:
            return call()
        except self.unsupported_error:
            self.off.add((algorithm, operation))
            return None

    def kem(self, algorithm, seed, pk, ct, ss, ct_n=None, ss_n=None, msg=None, sk=None, sk_digest=None):
        if algorithm not in self.backend.kem_algorithms():
            return
        kem = self.backend.kem(algorithm)
        key = kem.from_seed(seed)
        self.same(pk, key.public_key())
        if sk is not None or sk_digest is not None:
            expanded = self.optional(algorithm, "sk", lambda: kem.expanded_private_key(key))
            if expanded is not None:
                self.expanded(expanded, sk, sk_digest)
        self.same(ss, key.decapsulate(ct))
        if ct_n is not None:
            self.same(ss_n, key.decapsulate(ct_n))
        if msg is not None:
            result = self.optional(algorithm, "encaps", lambda: kem.encapsulate_deterministic(pk, msg))
            if result is not None:
                self.same(ct, result.ciphertext)
                self.same(ss, result.shared_secret)

    def sig(self, algorithm, xi, pk, msg, ctx, signature, sk=None, sk_digest=None):
        scheme = self.backend.sig(algorithm)
        key = scheme.from_seed(xi)
        self.same(pk, key.public_key())
        expanded = self.optional(algorithm, "sk", lambda: scheme.expanded_private_key(key))
        if expanded is not None:
            self.expanded(expanded, sk, sk_digest)
        verifier = scheme.public_key(pk)
        self.same(b"\1", bytes([verifier.verify(msg, signature, ctx)]))
        corrupted = bytearray(signature)
        corrupted[len(corrupted) // 2] ^= 1
        self.same(b"\0", bytes([verifier.verify(msg, bytes(corrupted), ctx)]))
        other = ctx[:-1] + bytes([ctx[-1] ^ 1]) if ctx else b"x0ctl-kat"
        self.same(b"\0", bytes([verifier.verify(msg, signature, other)]))
        again = self.optional(algorithm, "sign", lambda: key.sign_deterministic(msg, ctx))
        if again is not None:
            self.same(signature, again)

    def xwing(self, xwing, seed, pk, ct, ss, eseed):
        key = xwing.from_seed(seed)
        self.same(pk, key.public_key())
        self.same(ss, key.decapsulate(ct))
        result = self.optional("X-Wing", "encaps", lambda: xwing.encapsulate_deterministic(pk, eseed))
        if result is not None:
            self.same(ct, result.ciphertext)
            self.same(ss, result.shared_secret)


def bare_loop(backend_names: list[str]) -> dict:
    """Every vector x0ctl's KAT run covers, through the primitives only.

    Like run_kat it reads everything first and then runs backend by backend, liboqs last (see
    x0ctl/kat/runner.py: interleaving slows OpenSSL's ML-KEM on some CPUs).
    """
    import cryptography_vectors

    from x0ctl.pqc import XWing, get_backend

    cv_root = Path(cryptography_vectors.__file__).parent
    fromhex = bytes.fromhex
    work: list[tuple[str, tuple, dict]] = []  # (Bare method, args, kwargs), in run order

    # The embedded subset: gzip'd JSON, base64 fields.
    data_dir = REPO / "x0ctl" / "kat" / "data"
    for algorithm, entry in json.loads((data_dir / "index.json").read_text())["algorithms"].items():
        for raw in json.loads(gzip.decompress((data_dir / entry["file"]).read_bytes()))["vectors"]:
            v = {key: value if key == "id" else base64.b64decode(value) for key, value in raw.items()}
            if algorithm.startswith("ML-KEM"):
                work.append(("kem", (algorithm, v["d"] + v["z"], v["pk"], v["ct"], v["ss"], v["ct_n"], v["ss_n"],
                                     v["msg"]), {"sk_digest": v["sk_sha3_256"]}))
            elif algorithm.startswith("ML-DSA"):
                work.append(("sig", (algorithm, v["xi"], v["pk"], v["msg"], v["ctx"], v["sig"]),
                             {"sk_digest": v["sk_sha3_256"]}))
            else:
                work.append(("xwing", (v["seed"], v["pk"], v["ct"], v["ss"], v["eseed"]), {}))

    # The full NIST files; expanded keys stay hex until a backend that exports them needs them.
    for algorithm, name in CV_KEM.items():
        for r in minimal_rsp(cv_root / "asymmetric" / "MLKEM" / name):
            work.append(("kem", (algorithm, fromhex(r["d"] + r["z"]), fromhex(r["pk"]), fromhex(r["ct"]),
                                 fromhex(r["ss"]), fromhex(r["ct_n"]), fromhex(r["ss_n"]), fromhex(r["msg"])),
                         {"sk": r["sk"]}))
    for algorithm, name in CV_SIG.items():
        for r in minimal_rsp(cv_root / "asymmetric" / "MLDSA" / name):
            work.append(("sig", (algorithm, fromhex(r["xi"]), fromhex(r["pk"]), fromhex(r["msg"]), fromhex(r["ctx"]),
                                 fromhex(r["sm"][: 2 * SIG_LEN[algorithm]])), {"sk": r["sk"]}))
    for entry in json.loads((cv_root / "HPKE" / "hpke-pq-test-vectors.json").read_text()):
        algorithm = HPKE_KEMS.get(int(entry["kem_id"]))
        if algorithm is None:
            continue
        seed, pk, ct, ss, ikm = (fromhex(entry[k]) for k in ("skRm", "pkRm", "enc", "shared_secret", "ikmE"))
        if algorithm == "X-Wing":
            work.append(("xwing", (seed, pk, ct, ss, ikm), {}))
        else:
            work.append(("kem", (algorithm, seed, pk, ct, ss), {"msg": ikm}))

    runners = [Bare(get_backend(name)) for name in sorted(backend_names, key=lambda name: name == "liboqs")]
    for runner in runners:
        xwing = XWing(runner.backend)
        for method, args, kwargs in work:
            if method == "xwing":
                runner.xwing(xwing, *args)
            else:
                getattr(runner, method)(*args, **kwargs)
    return {"comparisons": sum(r.calls for r in runners), "mismatches": sum(r.mismatches for r in runners)}


def library_run(backend_names: list[str]) -> dict:
    from x0ctl.kat import run_kat

    return run_kat(backend_names).to_dict()


def cli_available() -> bool:
    """Is `python -m x0ctl` there? (Importing x0ctl.__main__ would run it: look for the modules.)"""
    import importlib.util

    return (importlib.util.find_spec("x0ctl.__main__") is not None
            and importlib.util.find_spec("x0ctl.cli.main") is not None)


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system of the child) and stdout of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        sys.exit(f"bench_kat: {' '.join(command)} exited {done.returncode}:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description="Time `x0ctl verify kat` against a bare loop of the same primitives.")
    parser.add_argument("--backend", default="openssl", choices=("openssl", "liboqs", "all"))
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the best counts")
    parser.add_argument("--bare-loop", nargs="+", metavar="BACKEND", help=argparse.SUPPRESS)
    parser.add_argument("--library-run", nargs="+", metavar="BACKEND", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.bare_loop:  # child process of (b)
        print(json.dumps(bare_loop(args.bare_loop)))
        return 0
    if args.library_run:  # child process of (a) when the CLI is missing
        print(json.dumps(library_run(args.library_run)))
        return 0

    from x0ctl.pqc import backend_status, resolve_backend_names

    try:
        names = resolve_backend_names(args.backend)
    except Exception as exc:  # noqa: BLE001 - a missing liboqs is a message, not a traceback
        sys.exit(f"bench_kat: {exc}")
    if not names or not all(backend_status(name).available for name in names):
        sys.exit(f"bench_kat: backend {args.backend} is not available here")
    try:
        import cryptography_vectors  # noqa: F401
    except ImportError:
        sys.exit("bench_kat: needs the cryptography-vectors package (the full NIST files)")

    if cli_available():
        kat_label = f"x0ctl verify kat --backend {args.backend} -o json"
        kat_command = [sys.executable, "-m", "x0ctl", "verify", "kat", "--backend", args.backend, "-o", "json"]
    else:
        kat_label = "run_kat (CLI not available yet) in a subprocess"
        kat_command = [sys.executable, __file__, "--library-run", *names]
    bare_command = [sys.executable, __file__, "--bare-loop", *names]
    library_command = [sys.executable, __file__, "--library-run", *names]

    runs = {"kat": [], "library": [], "bare": []}  # (wall, cpu) per run
    report = bare = None
    for _ in range(max(1, args.repeat)):  # interleaved, so drift in machine load hits all alike
        wall, cpu, out = timed(kat_command)
        runs["kat"].append((wall, cpu))
        report = json.loads(out)
        wall, cpu, out = timed(bare_command)
        runs["bare"].append((wall, cpu))
        bare = json.loads(out)
        if kat_command != library_command:  # the same run without the CLI layer, to tell the two apart
            runs["library"].append(timed(library_command)[:2])

    # The same without interpreter start-up: in this process, best of --repeat after a warm-up.
    inproc = {"kat": [], "bare": []}
    bare_loop(names)
    library_run(names)
    for _ in range(max(1, args.repeat)):
        for key, call in (("bare", bare_loop), ("kat", library_run)):
            wall, cpu = time.perf_counter(), time.process_time()
            call(names)
            inproc[key].append((time.perf_counter() - wall, time.process_time() - cpu))

    def best(samples: list[tuple[float, float]]) -> tuple[float, float]:
        return min(s[0] for s in samples), min(s[1] for s in samples)

    kat, bare_t = best(runs["kat"]), best(runs["bare"])
    wall_ratio, cpu_ratio = kat[0] / bare_t[0], kat[1] / bare_t[1]
    print(f"backends: {', '.join(names)}   python {sys.version.split()[0]}   best of {len(runs['kat'])}   "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'':48} {'wall':>8} {'cpu':>8}")
    print(f"{'(a)  ' + kat_label:48} {kat[0]:8.3f} {kat[1]:8.3f}   "
          f"{report['passed']} passed, {report['failed']} failed, {report['skipped']} skipped")
    if runs["library"]:
        library = best(runs["library"])
        print(f"{'(a2) the same run_kat, no CLI layer':48} {library[0]:8.3f} {library[1]:8.3f}   "
              f"CLI layer (typer, rich, output): {kat[1] - library[1]:+.3f} s cpu")
    print(f"{'(b)  bare loop, same vectors and primitives':48} {bare_t[0]:8.3f} {bare_t[1]:8.3f}   "
          f"{bare['comparisons']} comparisons, {bare['mismatches']} mismatches")
    verdict = "OK" if min(wall_ratio, cpu_ratio) <= TARGET_RATIO else "OVER TARGET"
    print(f"{'ratio (a)/(b)':48} {wall_ratio:8.2f} {cpu_ratio:8.2f}   target <= {TARGET_RATIO}: {verdict}")
    kat_in, bare_in = best(inproc["kat"]), best(inproc["bare"])
    print(f"{'in-process (no start-up): run_kat / bare loop':48} {kat_in[0] / bare_in[0]:8.2f} "
          f"{kat_in[1] / bare_in[1]:8.2f}   run_kat {kat_in[1]:.3f} s cpu, bare {bare_in[1]:.3f} s cpu")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
