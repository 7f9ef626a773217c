"""`x0ctl doctor`: what this node has, what is broken, and why."""

from __future__ import annotations

import platform
from typing import Annotated

import typer

from x0ctl import __version__
from x0ctl.cli.app import OutputOption, get_app
from x0ctl.cli.options import PrometheusConnection, prometheus_options
from x0ctl.errors import CheckFailed, X0ctlError

SHORT = "Check this node: backends, guard, vectors, keystore, Prometheus."
HELP = """Check this node: x0ctl and Python versions, each PQC backend (available?, library version, algorithms, why not), the production guard, the known-answer vector sources, the keystore and Prometheus reachability.

Exit 1 when something required is broken: no usable backend, an explicitly selected backend missing, a guard setting that is invalid or refuses to run, a production node (X0TTA6BL4_PRODUCTION on for x0ctl or any mesh component) with an insecure mesh switch set (X0TTA6BL4_ALLOW_SIMULATED_PQC, X0TTA6BL4_ALLOW_INSECURE_PQC_VERIFY, X0T_PQC_ENABLED=false, X0TTA6BL4_ALLOW_MOCK_PQC, X0TTA6BL4_DISABLE_PQC), no embedded vectors, a keystore that exists but fails `keys verify`, or a Prometheus named by --prometheus / X0CTL_PROMETHEUS_URL / a profile that does not answer. A node with no keystore yet, or no Prometheus configured, only gets a note.

Examples:
  x0ctl doctor
  x0ctl doctor -o json | jq '.checks[] | select(.status == "fail")'
"""


@prometheus_options
def doctor(
    ctx: typer.Context,
    prom: PrometheusConnection,
    measure: Annotated[bool, typer.Option("--measure/--no-measure", help="Time the backends to show what auto picks.")] = True,
    keystore: Annotated[
        str | None, typer.Option("--keystore", envvar="X0CTL_KEYSTORE", show_default=False,
                                 help="Keystore to check (default $XDG_DATA_HOME/x0ctl).")
    ] = None,
    output: OutputOption = None,
) -> None:
    from x0ctl.pqc import BACKEND_NAMES, auto_choice, backend_status

    app_ = get_app(ctx, output)
    checks: list[dict] = []

    def check(name: str, status: str, detail: str) -> None:
        checks.append({"name": name, "status": status, "detail": detail})

    backends = [backend_status(name) for name in BACKEND_NAMES]
    for status in backends:
        if status.available:
            algs = ", ".join((*status.kem_algorithms, *status.sig_algorithms))
            check(f"backend {status.name}", "ok", f"{status.version}; {algs}")
        else:
            explicit = app_.backend == status.name
            required = status.name == "openssl" or explicit
            detail = f"{status.reason}" + (f"; {status.hint}" if status.hint else "")
            if status.name == "liboqs":
                from x0ctl.provenance import LIBOQS_NOT_BUNDLED

                detail += f"; {LIBOQS_NOT_BUNDLED}"
            check(f"backend {status.name}", "fail" if required else "warn", detail)

    choice = None
    if any(s.available for s in backends):
        if app_.backend == "auto":
            choice = auto_choice() if measure or sum(s.available for s in backends) == 1 else None
            if choice:
                timings = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in choice["measured"].items())
                check("backend auto", "ok", f"picks {choice['chosen']} ({choice['why']}{': ' + timings if timings else ''})")
    else:
        check("backend auto", "fail", "no PQC backend is usable")

    guard = _guard(check, app_.backend)
    mesh_switches = _mesh_switches(check)
    sources = _vector_sources(check)
    keystore_summary = _keystore(check, keystore)
    prometheus_summary = _prometheus(check, prom)

    ok = not any(c["status"] == "fail" for c in checks)
    data = {
        "ok": ok,
        "x0ctl": __version__,
        "python": platform.python_version(),
        "selected_backend": app_.backend,
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
    app_.emit(data, lambda console: _table(console, data))
    if not ok:
        failed = [c["name"] for c in checks if c["status"] == "fail"]
        raise CheckFailed(f"doctor found problems: {', '.join(failed)}")


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
    from pathlib import Path

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


def _prometheus(check, prom: PrometheusConnection) -> dict:
    """Probe the Prometheus named by --prometheus, X0CTL_PROMETHEUS_URL or a profile (else only a note)."""
    if not prom.url:
        check("prometheus", "info", "not configured (--prometheus, X0CTL_PROMETHEUS_URL or a profile)")
        return {"configured": False, "url": None, "reachable": None}
    from x0ctl.urls import redact_url

    summary = {"configured": True, "url": redact_url(prom.url), "reachable": False, "seconds": None}
    try:
        client = prom.client()
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


def _table(console, data: dict) -> None:
    from rich.table import Table

    marks = {"ok": "[green]ok[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]FAIL[/red]", "info": "info"}
    table = Table(title=f"x0ctl {data['x0ctl']} on Python {data['python']}", title_justify="left")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for item in data["checks"]:
        table.add_row(item["name"], marks.get(item["status"], item["status"]), item["detail"])
    console.print(table)
