"""Rotation counters in Prometheus textfile-collector format (node_exporter --collector.textfile).

The file is the counters' only storage: each run reads the previous values, adds its own and
rewrites the file atomically (prometheus_client's `write_to_textfile`: temp file + rename), so a
scrape never sees half a file and counters only ever go up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from x0ctl.errors import EnvironmentProblem, IOFailure

SUCCESS = "key_rotation_success"
FAILURE = "key_rotation_failure"
FAILURE_REASONS = ("locked", "invalid_keystore", "usage", "io", "environment", "internal")


def _prometheus():
    try:
        import prometheus_client
        from prometheus_client.core import CounterMetricFamily
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        raise EnvironmentProblem("--metrics-file needs the prometheus_client package",
                                 hint="pip install prometheus-client") from None
    return prometheus_client, CounterMetricFamily, text_string_to_metric_families


def read_counters(path: Path) -> tuple[float, dict[str, float]]:
    """(success total, failures by reason) from an earlier file; zeros when there is none."""
    _, _, parse = _prometheus()
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return 0.0, {}
    except OSError as exc:
        raise IOFailure(f"cannot read metrics file {path}: {exc.strerror or exc}") from None
    success, failures = 0.0, {}
    try:
        for family in parse(text):
            for sample in family.samples:
                if sample.name == f"{SUCCESS}_total":
                    success = sample.value
                elif sample.name == f"{FAILURE}_total":
                    reason = sample.labels.get("reason", "unknown")
                    failures[reason] = failures.get(reason, 0.0) + sample.value
    except ValueError:
        return 0.0, {}  # an unparseable file is replaced; counters restart, which Prometheus handles as a reset
    return success, failures


@contextlib.contextmanager
def _exclusive(path: Path):
    """Serialise read-add-rewrite across processes: two failed rotations must count twice.

    The keystore lock cannot do this: a rotation that failed *because* the keystore was locked
    still records its failure. The sidecar `.lock` is ignored by the textfile collector (*.prom).
    """
    lock_path = Path(f"{path}.lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise IOFailure(f"cannot open metrics lock {lock_path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held for a few milliseconds: waiting is right
        yield
    finally:
        os.close(fd)


def record_rotation(path: Path, *, successes: int = 0, failure_reason: str | None = None) -> dict:
    """Add to the counters in `path` and rewrite it atomically; returns the new values."""
    with _exclusive(path):
        return _record(path, successes, failure_reason)


def _record(path: Path, successes: int, failure_reason: str | None) -> dict:
    prometheus_client, counter_family, _ = _prometheus()
    success, failures = read_counters(path)
    success += successes
    if failure_reason:
        failures[failure_reason] = failures.get(failure_reason, 0.0) + 1

    class _Collector:
        def collect(self):
            ok = counter_family(SUCCESS, "Key rotations completed by x0ctl keys rotate (one per rotated key).")
            ok.add_metric([], success)
            yield ok
            failed = counter_family(FAILURE, "Key rotations that failed, by reason.", labels=["reason"])
            for reason in sorted(failures):
                failed.add_metric([reason], failures[reason])
            yield failed

    registry = prometheus_client.CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        prometheus_client.write_to_textfile(str(path), registry)
    except OSError as exc:
        raise IOFailure(f"cannot write metrics file {path}: {exc.strerror or exc}") from None
    return {"key_rotation_success_total": success, "key_rotation_failure_total": dict(failures)}
