"""`x0ctl doctor`: options and the table; the checks are `x0ctl.doctor.diagnose`."""

from __future__ import annotations

from typing import Annotated

import typer

from x0ctl.cli.app import OutputOption, get_app
from x0ctl.cli.options import PrometheusConnection, prometheus_options

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
    from x0ctl.doctor import diagnose

    app_ = get_app(ctx, output)
    report = diagnose(app_.backend, keystore=keystore, prometheus_url=prom.url, connect=prom.client, measure=measure)
    data = report.to_dict()
    app_.emit(data, lambda console: _table(console, data))
    problem = report.problem()
    if problem is not None:
        raise problem


def _table(console, data: dict) -> None:
    marks = {"ok": "[green]ok[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]FAIL[/red]", "info": "info"}
    table = console.table("check", "status", ("detail", {"overflow": "fold"}),
                          title=f"x0ctl {data['x0ctl']} on Python {data['python']}")
    for item in data["checks"]:
        table.add_row(item["name"], marks.get(item["status"], item["status"]), item["detail"])
    console.print(table)
