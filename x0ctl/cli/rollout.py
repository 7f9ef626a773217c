"""`x0ctl rollout`: Staged canary rollouts gated on SLOs, with automatic rollback."""

from __future__ import annotations

import typer

app = typer.Typer(help="Staged canary rollouts gated on SLOs, with automatic rollback.", no_args_is_help=True)
