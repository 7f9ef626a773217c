"""Known-answer tests (KATs) of the PQC implementation actually installed on this node.

    from x0ctl.kat import run_kat, verify_kat
    report = run_kat(["openssl", "liboqs"])          # embedded subset + cryptography-vectors
    report.ok, report.to_dict()                      # schema: docs/kat.md
    report.problem()                                 # CheckFailed (1), NoData (5: nothing verified) or None

    run_kat(["liboqs"], algorithms=["ML-KEM-768"], vector_paths=[Path("internalProjection.json")],
            sources="none")
    verify_kat("all", "ML-KEM-768,X-Wing")          # what `x0ctl verify kat` runs

- `run_kat(...) -> KatReport`: ML-KEM-512/768/1024, ML-DSA-44/65/87 and X-Wing vectors from the
  embedded subset, the cryptography-vectors package (when importable) and operator files (NIST
  .rsp, ACVP JSON, X-Wing JSON, HPKE-PQ JSON). Checks a backend cannot perform are *skipped*
  with the reason, never passed.
- `verify_kat(backend, algorithms, vector_paths, sources, allow_empty, progress) -> KatReport`:
  `run_kat` for a backend selection (auto/openssl/liboqs/all) and a comma list of algorithms.
- `power_on_self_test(backend)`: the production guard's quick known-answer check (it lives in
  `x0ctl.pqc.selftest`, next to the guard).
- `discover_sources()`: which vector sources exist here (for `x0ctl doctor`).

Importing this package is cheap: nothing here imports cryptography or a backend until called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from x0ctl.kat.report import KatFailure, KatReport, KatResult
    from x0ctl.kat.vectors import ALGORITHMS
    from x0ctl.pqc.base import Backend

SOURCES = ("auto", "none", "embedded", "cryptography-vectors")
_LAZY = {"KatFailure": "x0ctl.kat.report", "KatReport": "x0ctl.kat.report", "KatResult": "x0ctl.kat.report",
         "ALGORITHMS": "x0ctl.kat.vectors"}


def __getattr__(name: str):
    # The production guard imports this package on every guarded start: the report and vector
    # classes (a dozen dataclasses) load only when someone asks for them.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'x0ctl.kat' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)

__all__ = [
    "ALGORITHMS",
    "SOURCES",
    "KatFailure",
    "KatReport",
    "KatResult",
    "discover_sources",
    "power_on_self_test",
    "run_kat",
    "verify_kat",
]


def run_kat(
    backend_names: list[str],
    algorithms: list[str] | None = None,
    vector_paths: Sequence[Path] = (),
    sources: str | Sequence[str] = "auto",
    progress: Callable[[int, int], None] | None = None,
    allow_empty: bool = False,
) -> KatReport:
    """Run the known-answer tests; one KatResult per algorithm x backend x source.

    `backend_names`: names for `x0ctl.pqc.get_backend` (the production guard applies).
    `algorithms`: a subset of ALGORITHMS (any case); None means all. Unknown -> UsageError.
    `vector_paths`: extra files (or ACVP folders); missing -> IOFailure, unparseable -> UsageError.
    `sources`: "auto" (embedded + cryptography-vectors when installed), "none", or a list of
    "embedded" / "cryptography-vectors" (a source named explicitly must exist).
    `progress(done, total)`: called as vectors x backends complete.
    `allow_empty`: a source of which no check ran leaves `report.ok` true (default: NoData, exit 5).
    """
    from x0ctl.kat.runner import run_kat as _run

    return _run(backend_names, algorithms, vector_paths, sources, progress, allow_empty)


def verify_kat(
    backend: str = "auto",
    algorithms: str | Sequence[str] | None = None,
    vector_paths: Sequence[Path] = (),
    sources: str | Sequence[str] = "auto",
    allow_empty: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> KatReport:
    """`x0ctl verify kat` as a function: `backend` is auto/openssl/liboqs/all, `algorithms` a list or
    a comma-separated string. Raise `report.problem()` when it is not None for the command's exit code.
    """
    from x0ctl.pqc import resolve_backend_names

    if isinstance(algorithms, str):
        algorithms = [name.strip() for name in algorithms.split(",") if name.strip()]
    return run_kat(resolve_backend_names(backend.strip().lower()), algorithms, vector_paths, sources, progress,
                   allow_empty)


def power_on_self_test(backend: Backend) -> None:
    """The guard's check on two NIST records (x0ctl.pqc.selftest); raises EnvironmentProblem naming the failure."""
    from x0ctl.pqc.selftest import power_on_self_test as _post

    _post(backend)


def discover_sources() -> list[dict]:
    """Vector sources on this node: the embedded subset and cryptography-vectors (version, files)."""
    from x0ctl.kat.sources import discover_sources as _discover

    return _discover()
