"""Key metrics in Prometheus textfile-collector format (node_exporter --collector.textfile).

Counters: rotations done and failed (by reason). Gauges, per purpose: the active key's creation
time and its not-after time (Unix seconds), so an alert can fire before a key is overdue:
`time() - x0ctl_key_active_created_timestamp_seconds > 35 * 86400` or
`x0ctl_key_active_not_after_timestamp_seconds - time() < 7 * 86400`.

The file is the counters' only storage: each run reads the previous values, adds its own and
rewrites the file atomically (prometheus_client's `write_to_textfile`: temp file + rename), so a
scrape never sees half a file and counters only ever go up. A run that cannot read the keystore
(a failed rotation) keeps the previous gauges.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass, field
from pathlib import Path

from x0ctl.errors import EnvironmentProblem, ExitCode, IOFailure, X0ctlError

SUCCESS = "key_rotation_success"
FAILURE = "key_rotation_failure"
CREATED = "x0ctl_key_active_created_timestamp_seconds"
NOT_AFTER = "x0ctl_key_active_not_after_timestamp_seconds"


@dataclass
class KeyMetrics:
    """What the metrics file holds after a run (`metrics` in `keys rotate/verify -o json`)."""

    key_rotation_success_total: float = 0.0
    key_rotation_failure_total: dict[str, float] = field(default_factory=dict)
    active_created: dict[str, float] = field(default_factory=dict)  # purpose -> Unix time
    active_not_after: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"key_rotation_success_total": self.key_rotation_success_total,
                "key_rotation_failure_total": dict(self.key_rotation_failure_total),
                "active_created": dict(self.active_created), "active_not_after": dict(self.active_not_after)}


def _prometheus():
    try:
        import prometheus_client
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        raise EnvironmentProblem("--metrics-file needs the prometheus_client package",
                                 hint="pip install prometheus-client") from None
    return prometheus_client, CounterMetricFamily, GaugeMetricFamily, text_string_to_metric_families


def read_metrics(path: Path) -> KeyMetrics:
    """The values in an earlier file; zeros and no gauges when there is none."""
    parse = _prometheus()[3]
    found = KeyMetrics()
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return found
    except (OSError, UnicodeDecodeError) as exc:
        raise IOFailure(f"cannot read metrics file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        for family in parse(text):
            for sample in family.samples:
                purpose = sample.labels.get("purpose", "")
                if sample.name == f"{SUCCESS}_total":
                    found.key_rotation_success_total = sample.value
                elif sample.name == f"{FAILURE}_total":
                    reason = sample.labels.get("reason", "unknown")
                    found.key_rotation_failure_total[reason] = found.key_rotation_failure_total.get(reason, 0.0) + sample.value
                elif sample.name == CREATED and purpose:
                    found.active_created[purpose] = sample.value
                elif sample.name == NOT_AFTER and purpose:
                    found.active_not_after[purpose] = sample.value
    except ValueError:
        return KeyMetrics()  # an unparseable file is replaced; counters restart, which Prometheus handles as a reset
    return found


def failure_reason(exc: BaseException) -> str:
    """The `reason` label of a failed rotation."""
    if isinstance(exc, IOFailure) and "keystore locked" in exc.message:
        return "locked"
    if isinstance(exc, X0ctlError):
        return {ExitCode.CHECK_FAILED: "invalid_keystore", ExitCode.USAGE: "usage", ExitCode.IO: "io",
                ExitCode.ENVIRONMENT: "environment"}.get(exc.exit_code, "internal")
    return "internal"


@contextlib.contextmanager
def _exclusive(path: Path):
    """Serialise read-add-rewrite across processes: two failed rotations must count twice.

    The keystore lock cannot do this: a rotation that failed *because* the keystore was locked
    still records its failure. The sidecar `.lock` is ignored by the textfile collector (*.prom).
    """
    lock_path = Path(f"{path}.lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise IOFailure(f"cannot open metrics lock {lock_path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held for a few milliseconds: waiting is right
        yield
    finally:
        os.close(fd)


def record(path: Path, *, successes: int = 0, failure: str | None = None,
           active: dict[str, tuple[float, float | None]] | None = None) -> KeyMetrics:
    """Add to the counters in `path`, set the gauges (`active`: purpose -> (created, not_after)), rewrite atomically."""
    with _exclusive(path):
        values = read_metrics(path)
        values.key_rotation_success_total += successes
        if failure:
            values.key_rotation_failure_total[failure] = values.key_rotation_failure_total.get(failure, 0.0) + 1
        if active is not None:
            values.active_created = {purpose: created for purpose, (created, _) in active.items()}
            values.active_not_after = {purpose: not_after for purpose, (_, not_after) in active.items()
                                       if not_after is not None}
        _write(path, values)
        return values


def _write(path: Path, values: KeyMetrics) -> None:
    prometheus_client, counter_family, gauge_family, _ = _prometheus()

    class _Collector:
        def collect(self):
            ok = counter_family(SUCCESS, "Key rotations completed by x0ctl keys rotate (one per rotated key).")
            ok.add_metric([], values.key_rotation_success_total)
            yield ok
            failed = counter_family(FAILURE, "Key rotations that failed, by reason.", labels=["reason"])
            for reason in sorted(values.key_rotation_failure_total):
                failed.add_metric([reason], values.key_rotation_failure_total[reason])
            yield failed
            created = gauge_family(CREATED, "Creation time of the active key, per purpose (Unix seconds).",
                                   labels=["purpose"])
            for purpose in sorted(values.active_created):
                created.add_metric([purpose], values.active_created[purpose])
            yield created
            not_after = gauge_family(NOT_AFTER, "Not-after time of the active key, per purpose (Unix seconds; "
                                                "absent when the key has no --validity).", labels=["purpose"])
            for purpose in sorted(values.active_not_after):
                not_after.add_metric([purpose], values.active_not_after[purpose])
            yield not_after

    registry = prometheus_client.CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        prometheus_client.write_to_textfile(str(path), registry)
    except OSError as exc:
        raise IOFailure(f"cannot write metrics file {path}: {exc.strerror or exc}") from None
