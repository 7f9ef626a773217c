"""`x0ctl handshake`: Hybrid post-quantum handshake: self-test, probe a peer, metrics."""

from __future__ import annotations

import typer

app = typer.Typer(help="Hybrid post-quantum handshake: self-test, probe a peer, metrics.", no_args_is_help=True)
