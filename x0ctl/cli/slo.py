"""`x0ctl slo`: SLOs, error budgets and burn rates from Prometheus."""

from __future__ import annotations

import typer

app = typer.Typer(help="SLOs, error budgets and burn rates from Prometheus.", no_args_is_help=True)
