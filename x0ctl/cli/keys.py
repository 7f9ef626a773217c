"""`x0ctl keys`: Node keys: generate, rotate, back up and restore (ML-KEM-768+X25519, ML-DSA-65)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Node keys: generate, rotate, back up and restore (ML-KEM-768+X25519, ML-DSA-65).", no_args_is_help=True)
