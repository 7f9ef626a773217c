"""What this node has, what is broken, and why: the checks behind `x0ctl doctor`.

`diagnose()` runs every check and returns a `DoctorReport` (`to_dict()` is `doctor -o json`,
schema x0ctl/schemas/doctor.json); `problem()` is the CheckFailed to raise when any check failed.
A check never stops the others: a guard that refuses every backend, a damaged keystore or an
unreachable Prometheus each become one failing row.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from x0ctl import __version__
from x0ctl.errors import CheckFailed, X0ctlError


@dataclass
class DoctorReport:
    data: dict

    @property
    def ok(self) -> bool:
        return self.data["ok"]

    def to_dict(self) -> dict:
        return self.data

    def problem(self) -> CheckFailed | None:
        failed = [c["name"] for c in self.data["checks"] if c["status"] == "fail"]
        return CheckFailed(f"doctor found problems: {', '.join(failed)}") if failed else None


def diagnose(backend: str = "auto", *, keystore: str | None = None, prometheus_url: str | None = None,
             connect: Callable[[], Any] | None = None, measure: bool = True) -> DoctorReport:
    """Every check of this node. `connect()` returns a Prometheus client for `prometheus_url`."""
    from x0ctl.pqc import BACKEND_NAMES, auto_choice, backend_status

    checks: list[dict] = []

    def check(name: str, status: str, detail: str) -> None:
        checks.append({"name": name, "status": status, "detail": detail})

    backends = [backend_status(name) for name in BACKEND_NAMES]
    for status in backends:
        if status.available:
            algs = ", ".join((*status.kem_algorithms, *status.sig_algorithms))
            check(f"backend {status.name}", "ok", f"{status.version}; {algs}")
        else:
            explicit = backend == status.name
            required = status.name == "openssl" or explicit
            detail = f"{status.reason}" + (f"; {status.hint}" if status.hint else "")
            if status.name == "liboqs":
                from x0ctl.provenance import LIBOQS_NOT_BUNDLED

                detail += f"; {LIBOQS_NOT_BUNDLED}"
            check(f"backend {status.name}", "fail" if required else "warn", detail)

    choice = None
    if any(s.available for s in backends):
        if backend == "auto":
            choice = auto_choice() if measure or sum(s.available for s in backends) == 1 else None
            if choice:
                timings = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in choice["measured"].items())
                check("backend auto", "ok", f"picks {choice['chosen']} ({choice['why']}{': ' + timings if timings else ''})")
    else:
        check("backend auto", "fail", "no PQC backend is usable")

    guard = _guard(check, backend)
    mesh_switches = _mesh_switches(check)
    sources = _vector_sources(check)
    keystore_summary = _keystore(check, keystore)
    prometheus_summary = _prometheus(check, prometheus_url, connect)

    data = {
        "ok": not any(c["status"] == "fail" for c in checks),
        "x0ctl": __version__,
        "python": platform.python_version(),
        "selected_backend": backend,
        "auto_choice": choice,
        "backends": [
            {"name": s.name, "available": s.available, "version": s.version, "reason": s.reason, "hint": s.hint,
             "kem_algorithms": list(s.kem_algorithms), "sig_algorithms": list(s.sig_algorithms), **s.details}
            for s in backends
        ],
        "guard": guard,
        "mesh_switches": mesh_switches,
        "vector_sources": sources,
        "keystore": keystore_summary,
        "prometheus": prometheus_summary,
        "checks": checks,
    }
    return DoctorReport(data)


def _guard(check, selection: str) -> dict:
    from x0ctl.pqc import get_backend, guard

    try:
        state = guard.state()
    except X0ctlError as exc:
        check("production guard", "fail", str(exc))
        return {"production": None, "allow_mock_requested": None, "error": str(exc)}
    data = {"production": state.production, "allow_mock_requested": state.allow_mock_requested,
            "warning": state.warning, "power_on_self_test": None}
    if state.warning:
        check("mock override", "fail" if state.production else "warn", state.warning)
    if state.production:
        try:
            backend = get_backend(selection if selection != "all" else "auto")
            data["power_on_self_test"] = "passed"
            check("production guard", "ok", f"on; {backend.name} passed the known-answer power-on self-test")
        except X0ctlError as exc:
            data["power_on_self_test"] = "failed"
            check("production guard", "fail", str(exc))
    else:
        check("production guard", "info", "off (set X0TTA6BL4_PRODUCTION=true on production nodes)")
    return data


def _mesh_switches(check) -> dict:
    from x0ctl.mesh import assess_switches

    report = assess_switches()
    for finding in report.findings:
        if finding.set:
            check(f"mesh switch {finding.variable}", finding.status, finding.detail)
    return report.to_dict()


def _vector_sources(check) -> list[dict]:
    from x0ctl.kat import discover_sources

    sources = discover_sources()
    for source in sources:
        status = "ok" if source.get("available") else ("fail" if source.get("required") else "info")
        check(f"vectors {source['name']}", status, source.get("detail", ""))
    return sources


def _keystore(check, path: str | None) -> dict:
    from x0ctl.keystore import keystore_health

    summary = keystore_health(path)
    if not summary["exists"] and Path(summary["keystore"]).exists() and not Path(summary["keystore"]).is_dir():
        check("keystore", "fail", f"{summary['keystore']} is not a directory (check --keystore / X0CTL_KEYSTORE)")
    elif not summary["exists"]:
        check("keystore", "info", f"none at {summary['keystore']} (create one with `x0ctl keys generate`)")
    elif summary["ok"]:
        active = ", ".join(f"{purpose} v{info['version']} {str(info['id'])[7:23]}"
                           for purpose, info in sorted(summary["active"].items()))
        check("keystore", "ok", f"{summary['keystore']}: {active or 'no active keys'}")
    else:
        check("keystore", "fail", f"{summary['keystore']}: {'; '.join(summary['problems'])}")
    return summary


def _prometheus(check, url: str | None, connect: Callable[[], Any] | None) -> dict:
    """Probe the Prometheus named by --prometheus, X0CTL_PROMETHEUS_URL or a profile (else only a note)."""
    if not url or connect is None:
        check("prometheus", "info", "not configured (--prometheus, X0CTL_PROMETHEUS_URL or a profile)")
        return {"configured": False, "url": None, "reachable": None}
    from x0ctl.urls import redact_url

    summary = {"configured": True, "url": redact_url(url), "reachable": False, "seconds": None}
    try:
        client = connect()
        try:
            answer = client.query("vector(1)")  # any Prometheus-API server answers this; it reads no data
        finally:
            client.close()
        summary.update(reachable=True, seconds=round(answer.seconds, 4))
        check("prometheus", "ok", f"{summary['url']} answered in {answer.seconds * 1000:.0f} ms")
    except X0ctlError as exc:
        summary["error"] = str(exc)
        check("prometheus", "fail", str(exc))
    return summary
