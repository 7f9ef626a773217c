"""`x0ctl completion SHELL`: shell completion scripts.

The scripts are thin: on TAB the shell runs `x0ctl` with `_X0CTL_COMPLETE` set, and x0ctl answers
from its live command tree, so commands, options and dynamic values (algorithm names, backends,
key ids, rollout ids) never go stale. `completions/` holds the generated scripts for packagers; a
test regenerates them and fails when they drift.
"""

from __future__ import annotations

from typing import Annotated

import typer

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_X0CTL_COMPLETE"

INSTALL = {
    "bash": "x0ctl completion bash > ~/.local/share/bash-completion/completions/x0ctl",
    "zsh": "x0ctl completion zsh > \"${fpath[1]}/_x0ctl\"   # then: autoload -U compinit && compinit",
    "fish": "x0ctl completion fish > ~/.config/fish/completions/x0ctl.fish",
}


def script(shell: str) -> str:
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name="x0ctl", complete_var=COMPLETE_VAR, shell=shell) + "\n"


def enable_runtime_completion() -> None:
    """Register Typer's shell completion classes; only needed when a shell asks for completions."""
    from typer._completion_classes import completion_init

    completion_init()


def completion(
    shell: Annotated[str, typer.Argument(help="bash, zsh or fish.", metavar="SHELL", autocompletion=lambda: list(SHELLS))],
) -> None:
    """Print the completion script for SHELL.

    Install it once; it asks x0ctl for candidates, so it never needs regenerating after an upgrade.

    Examples:
      x0ctl completion bash > ~/.local/share/bash-completion/completions/x0ctl
      x0ctl completion zsh > "${fpath[1]}/_x0ctl"
      x0ctl completion fish > ~/.config/fish/completions/x0ctl.fish
    """
    if shell not in SHELLS:
        raise typer.BadParameter(f"{shell!r} is not one of {', '.join(SHELLS)}", param_hint="SHELL")
    typer.echo(script(shell), nl=False)
