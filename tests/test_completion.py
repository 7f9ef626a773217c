"""Shell completion: shipped scripts match what x0ctl generates, and x0ctl answers completions."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import REPO

SHIPPED = {"bash": "x0ctl.bash", "zsh": "_x0ctl", "fish": "x0ctl.fish"}


@pytest.mark.parametrize("shell", sorted(SHIPPED))
def test_shipped_scripts_are_in_sync(cli, shell):
    result = cli("completion", shell)
    assert result.exit_code == 0
    shipped = (REPO / "completions" / SHIPPED[shell]).read_text()
    assert result.stdout == shipped, f"completions/{SHIPPED[shell]} is stale: run `x0ctl completion {shell} > completions/{SHIPPED[shell]}`"


def test_unknown_shell_is_a_usage_error(cli):
    result = cli("completion", "tcsh")
    assert result.exit_code == 2
    assert "tcsh" in result.stderr


def _complete_bash(words: str) -> list[str]:
    env = {**os.environ, "_X0CTL_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
    done = subprocess.run([sys.executable, "-m", "x0ctl"], env=env, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_runtime_completion_of_commands_and_values():
    assert {"verify", "version"} <= set(_complete_bash("x0ctl ver"))
    assert _complete_bash("x0ctl --backend li") == ["liboqs"]
    assert _complete_bash("x0ctl verify kat -a ML-KEM-768,ML-DSA-6") == ["ML-KEM-768,ML-DSA-65"]
    assert "--algorithms" in _complete_bash("x0ctl verify kat --")
