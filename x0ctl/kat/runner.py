"""`run_kat`: every vector of every source through every selected backend, counted per check."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from x0ctl.errors import UsageError
from x0ctl.kat.checks import BackendHarness, run_vector
from x0ctl.kat.detect import load_operator_files
from x0ctl.kat.report import KatReport, KatResult
from x0ctl.kat.sources import (
    CRYPTOGRAPHY_VECTORS,
    EMBEDDED,
    SOURCE_NAMES,
    load_cryptography_vectors,
    load_embedded,
)
from x0ctl.kat.vectors import ALGORITHMS, LoadedSource, VectorBatch, canonical_algorithm

SOURCE_CHOICES = ("auto", "none", *SOURCE_NAMES)
_PROGRESS_STEPS = 200  # callback calls per run at most (plus the first and last)


def resolve_algorithms(algorithms: Iterable[str] | None) -> frozenset[str]:
    if algorithms is None:
        return frozenset(ALGORITHMS)
    if isinstance(algorithms, str):
        algorithms = [algorithms]
    chosen = set()
    for name in algorithms:
        known = canonical_algorithm(name)
        if known is None:
            raise UsageError(f"unknown algorithm {name!r}; known: {', '.join(ALGORITHMS)}")
        chosen.add(known)
    if not chosen:
        raise UsageError(f"no algorithm selected; known: {', '.join(ALGORITHMS)}")
    return frozenset(chosen)


def resolve_sources(sources: str | Sequence[str]) -> tuple[set[str], set[str]]:
    """(sources to use, sources named explicitly: those must exist) for a `sources` argument."""
    names = [sources] if isinstance(sources, str) else list(sources)
    use: set[str] = set()
    explicit: set[str] = set()
    for name in names:
        if name == "auto":
            use |= {EMBEDDED, CRYPTOGRAPHY_VECTORS}
        elif name == "none":
            continue
        elif name in SOURCE_NAMES:
            use.add(name)
            explicit.add(name)
        else:
            raise UsageError(f"unknown vector source {name!r}; choose from: {', '.join(SOURCE_CHOICES)}")
    return use, explicit


def run_kat(
    backend_names: list[str],
    algorithms: list[str] | None = None,
    vector_paths: Sequence[Path] = (),
    sources: str | Sequence[str] = "auto",
    progress: Callable[[int, int], None] | None = None,
    allow_empty: bool = False,
) -> KatReport:
    """Known-answer tests of the installed PQC implementation; see docs/kat.md.

    Sources: "auto" (the embedded subset, plus cryptography-vectors when installed), "none", or
    names from ("embedded", "cryptography-vectors"); `vector_paths` are added to them. Raises
    UsageError (unknown algorithm/source, bad vector file), IOFailure (unreadable file) and
    EnvironmentProblem (a backend or an explicitly named source is missing).
    """
    from x0ctl.pqc import get_backend

    started = time.perf_counter()
    wanted = resolve_algorithms(algorithms)
    use, explicit = resolve_sources(sources)
    if not use and not vector_paths:
        raise UsageError("no vector source selected: name a source or pass vector files")
    # The operator's files first: a typo in a path should fail before minutes of work.
    operator_sources = load_operator_files(list(vector_paths), wanted)

    if not backend_names:
        raise UsageError("no backend selected")
    harnesses: list[BackendHarness] = []
    for name in backend_names:
        backend = get_backend(name)  # applies the production guard
        if all(h.name != backend.name for h in harnesses):
            harnesses.append(BackendHarness(backend))

    loaded: list[LoadedSource] = []
    if EMBEDDED in use:
        loaded.append(load_embedded(wanted))
    if CRYPTOGRAPHY_VECTORS in use:
        full = load_cryptography_vectors(wanted, required=CRYPTOGRAPHY_VECTORS in explicit)
        if full is not None:
            loaded.append(full)
    loaded.extend(operator_sources)

    report = KatReport(backends={h.name: h.backend.version() for h in harnesses}, allow_empty=allow_empty)
    total = sum(source.count() for source in loaded) * len(harnesses)
    done = 0
    step = max(1, total // _PROGRESS_STEPS)
    next_progress = step
    if progress is not None:
        progress(0, total)
    clock = time.perf_counter
    lanes: list[tuple[BackendHarness, VectorBatch, KatResult]] = []
    for source in loaded:
        report.sources.append(source.meta)
        report.ignored.extend(source.ignored)
        for algorithm in ALGORITHMS:
            batch = source.batches.get(algorithm)
            if batch is not None:
                for harness in harnesses:
                    lanes.append((harness, batch, KatResult(algorithm, harness.name, source.name)))
    report.results = [result for _, _, result in lanes]  # reported source x algorithm x backend

    # Run backend by backend, liboqs last, never interleaved vector by vector. Measured on the
    # development machine (AMD EPYC, AVX-512): after liboqs' ML-KEM encapsulation, pyca/OpenSSL's
    # ML-KEM runs ~1.7x slower until liboqs runs a key generation or decapsulation again, so
    # interleaving would slow the openssl half of `--backend all` by a third.
    order = sorted(range(len(harnesses)), key=lambda i: harnesses[i].name == "liboqs")
    for index in order:
        for harness, batch, result in lanes:
            if harness is not harnesses[index]:
                continue
            begin = clock()
            for vector in batch.vectors:
                run_vector(harness, vector, result)
                done += 1
                if progress is not None and done >= next_progress:
                    progress(done, total)
                    next_progress = done + step
            result.seconds = clock() - begin
    if progress is not None:
        progress(total, total)
    report.seconds = time.perf_counter() - started
    return report

