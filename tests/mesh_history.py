"""A Prometheus history of nodes exporting the mesh's real metric names, its design's names, or both.

Written for tests/test_mesh_metrics.py and tests/test_slo_lint.py. Every (job, instance) exports the
handshake metrics (same names in both worlds; the histogram has the mesh exporter's buckets) and a
key-rotation success counter, under:

- job="mesh":   the mesh's names only (pqc_key_rotation_*); node-2 has one rotation failure and one
                handshake timeout per step (pqc_handshake_failure_total{reason="timeout"}, 0.17%).
- job="domain": domain.md's names only (key_rotation_*).
- job="both":   both names for the same rotations, identical values (an exporter and a shim).
- job="mixed":  node-1 the mesh's names, node-2 domain.md's.

Samples every 5 minutes for 6 hours, counters from 0; one rotation per hour.
"""

from __future__ import annotations

BASE = 1748736000  # 2025-06-01T00:00:00Z
STEP = 300
STEPS = 72
END = BASE + STEPS * STEP
ROTATION_EVERY = 12
FAILURE_SERIES_FROM, FAILURE_AT = 48, 60  # mesh/node-2: failure series created, then one failure
MESH_BUCKETS = ("0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1.0", "5.0", "+Inf")
HANDSHAKES_PER_STEP = 600

MESH_ROTATION = "pqc_key_rotation"
DOMAIN_ROTATION = "key_rotation"
TARGETS = {
    ("mesh", "node-1"): (MESH_ROTATION,),
    ("mesh", "node-2"): (MESH_ROTATION,),
    ("domain", "node-1"): (DOMAIN_ROTATION,),
    ("both", "node-1"): (DOMAIN_ROTATION, MESH_ROTATION),
    ("mixed", "node-1"): (MESH_ROTATION,),
    ("mixed", "node-2"): (DOMAIN_ROTATION,),
}


def history(jobs: tuple[str, ...] | None = None) -> str:
    """The whole history, or only the targets of `jobs`."""
    times = [BASE + step * STEP for step in range(STEPS + 1)]
    families: dict[str, list[str]] = {}

    def sample(family: str, kind: str, line: str) -> None:
        families.setdefault(f"# TYPE {family} {kind}", []).append(line)

    for (job, instance), rotation_names in TARGETS.items():
        if jobs is not None and job not in jobs:
            continue
        labels = f'instance="{instance}",job="{job}"'
        for step, t in enumerate(times):
            handshakes = step * HANDSHAKES_PER_STEP
            sample("pqc_handshake_success", "counter", f"pqc_handshake_success_total{{{labels}}} {handshakes} {t}")
            for le in MESH_BUCKETS:
                value = 0 if float(le) < 0.05 else handshakes
                sample("pqc_handshake_latency_seconds", "histogram",
                       f'pqc_handshake_latency_seconds_bucket{{{labels},le="{le}"}} {value} {t}')
            sample("pqc_handshake_latency_seconds", "histogram",
                   f"pqc_handshake_latency_seconds_count{{{labels}}} {handshakes} {t}")
            sample("pqc_handshake_latency_seconds", "histogram",
                   f"pqc_handshake_latency_seconds_sum{{{labels}}} {handshakes * 0.03:.1f} {t}")
            sample("pqc_fallback_enabled", "gauge", f"pqc_fallback_enabled{{{labels}}} 0 {t}")
            for name in rotation_names:
                sample(f"{name}_success", "counter", f"{name}_success_total{{{labels}}} {step // ROTATION_EVERY} {t}")
            if (job, instance) == ("mesh", "node-2"):
                sample("pqc_handshake_failure", "counter",
                       f'pqc_handshake_failure_total{{{labels},reason="timeout"}} {step} {t}')
            if (job, instance) == ("mesh", "node-2") and step >= FAILURE_SERIES_FROM:
                failures = 1 if step >= FAILURE_AT else 0
                sample(f"{MESH_ROTATION}_failure", "counter",
                       f'{MESH_ROTATION}_failure_total{{{labels},reason="liboqs_error"}} {failures} {t}')
    lines: list[str] = []
    for header, samples in families.items():
        lines.append(header)
        lines.extend(samples)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
