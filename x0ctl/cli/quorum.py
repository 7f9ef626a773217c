"""`x0ctl quorum`: Byzantine control-plane quorum simulation with real ML-DSA signatures."""

from __future__ import annotations

import typer

app = typer.Typer(help="Byzantine control-plane quorum simulation with real ML-DSA signatures.", no_args_is_help=True)
