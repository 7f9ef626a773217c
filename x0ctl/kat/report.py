"""The KAT report: counts per algorithm x backend x source, what each failure was, and the verdict.

`KatReport.to_dict()` is the stable JSON schema documented in docs/kat.md; scripts parse it. A
run that verified nothing is not a pass: `KatReport.problem()` is NoData (exit 5) for it, unless
the caller allowed empty runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from x0ctl.errors import CheckFailed, NoData, X0ctlError
from x0ctl.pqc.selftest import describe_difference, sha3_prefix

__all__ = ["KatFailure", "KatReport", "KatResult", "describe_difference", "describe_digest_difference"]

SCHEMA = "x0ctl.kat.report/1"
MAX_FAILURES_PER_RESULT = 100  # a completely broken backend would otherwise list thousands


@dataclass(slots=True)
class KatFailure:
    vector_id: str
    check: str
    detail: str

    def to_dict(self) -> dict:
        return {"vector_id": self.vector_id, "check": self.check, "detail": self.detail}


@dataclass(slots=True)
class KatResult:
    """Counts for one algorithm on one backend from one vector source; one count per check run."""

    algorithm: str
    backend: str
    source: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    skip_reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    failures: list[KatFailure] = field(default_factory=list)
    failures_omitted: int = 0

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def verified(self) -> int:
        """Checks that ran (passed or failed); skipped ones verified nothing."""
        return self.passed + self.failed

    def fail(self, vector_id: str, check: str, detail: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_FAILURES_PER_RESULT:
            self.failures.append(KatFailure(vector_id, check, detail))
        else:
            self.failures_omitted += 1

    def skip(self, reason: str, count: int = 1) -> None:
        if count:
            self.skipped += count
            self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + count

    def to_dict(self) -> dict:
        return {
            "algorithm": self.algorithm,
            "backend": self.backend,
            "source": self.source,
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "skip_reasons": dict(sorted(self.skip_reasons.items())),
            "seconds": round(self.seconds, 6),
            "failures": [failure.to_dict() for failure in self.failures],
            "failures_omitted": self.failures_omitted,
        }


@dataclass
class KatReport:
    results: list[KatResult] = field(default_factory=list)
    backends: dict[str, str] = field(default_factory=dict)  # name -> version of the native library
    sources: list[dict] = field(default_factory=list)  # what each source was (path, version, files)
    ignored: list[dict] = field(default_factory=list)  # vectors present but of no algorithm x0ctl tests
    seconds: float = 0.0
    allow_empty: bool = False  # a run, or a source, that verified nothing still counts as ok

    @property
    def total_passed(self) -> int:
        return sum(result.passed for result in self.results)

    @property
    def total_failed(self) -> int:
        return sum(result.failed for result in self.results)

    @property
    def total_skipped(self) -> int:
        return sum(result.skipped for result in self.results)

    @property
    def empty_sources(self) -> list[str]:
        """Sources of which not one check ran on any backend (all skipped, or no vector selected)."""
        ran: dict[str, int] = {source["name"]: 0 for source in self.sources}
        for result in self.results:
            ran[result.source] = ran.get(result.source, 0) + result.verified
        return [name for name, count in ran.items() if count == 0]

    @property
    def ok(self) -> bool:
        return self.total_failed == 0 and (self.allow_empty or not self.empty_sources)

    def problem(self) -> X0ctlError | None:
        """What the run's exit status must say: CheckFailed (1), NoData (5) or nothing (0)."""
        if self.total_failed:
            return CheckFailed(f"known-answer tests failed: {self.total_failed} check(s); see the report above")
        empty = self.empty_sources
        if empty and not self.allow_empty:
            reasons: dict[str, int] = {}
            for result in self.results:
                if result.source in empty:
                    for reason, count in result.skip_reasons.items():
                        reasons[reason] = reasons.get(reason, 0) + count
            listed = "; ".join(f"{reason} ({count})" for reason, count in sorted(reasons.items(), key=lambda r: -r[1]))
            skipped = f"all {sum(reasons.values())} checks skipped: {listed}" if reasons else "no vector selected"
            return NoData(f"nothing verified from {', '.join(empty)}: {skipped}",
                          hint="--allow-empty accepts a run that verifies nothing")
        return None

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "ok": self.ok,
            "passed": self.total_passed,
            "failed": self.total_failed,
            "skipped": self.total_skipped,
            "empty_sources": self.empty_sources,
            "allow_empty": self.allow_empty,
            "seconds": round(self.seconds, 6),
            "backends": dict(self.backends),
            "sources": list(self.sources),
            "ignored": list(self.ignored),
            "results": [result.to_dict() for result in self.results],
        }


def describe_digest_difference(expected_digest: bytes, actual: bytes) -> str:
    return f"sha3-256 expected {expected_digest.hex()[:16]}…, got {sha3_prefix(actual)} ({len(actual)} bytes)"
