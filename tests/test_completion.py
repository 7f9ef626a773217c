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


def _complete_bash_env(words: str, env: dict) -> list[str]:
    full = {**os.environ, **env, "_X0CTL_COMPLETE": "complete_bash", "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
    done = subprocess.run([sys.executable, "-m", "x0ctl"], env=full, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_key_ids_complete_from_the_named_keystore(cli, tmp_path):
    keystore = tmp_path / "keys"
    listed = cli.json("keys", "generate", "--keystore", str(keystore))
    assert listed is not None
    ids = {k["id"].removeprefix("sha256:")[:16] for k in cli.json("keys", "list", "--keystore", str(keystore))["keys"]}
    assert len(ids) == 2
    assert set(_complete_bash_env(f"x0ctl keys show --keystore {keystore} ", {})) == ids
    assert set(_complete_bash_env("x0ctl keys show ", {"X0CTL_KEYSTORE": str(keystore)})) == ids
    first = sorted(ids)[0]
    assert _complete_bash_env(f"x0ctl keys show --keystore {keystore} {first[:6]}", {}) == [first]
    # no keystore: no candidates and, above all, no error text typed into the shell
    assert _complete_bash_env(f"x0ctl keys show --keystore {tmp_path / 'none'} ", {}) == []


def test_rollout_ids_complete_from_the_state_dir(tmp_path):
    rollouts = tmp_path / "state" / "rollouts"
    rollouts.mkdir(parents=True)
    for rollout_id in ("r-20261121-aaaa", "r-20261121-bbbb"):
        (rollouts / f"{rollout_id}.jsonl").write_text("")
    words = f"x0ctl rollout history --state-dir {tmp_path / 'state'} r-20261121-b"
    assert _complete_bash_env(words, {}) == ["r-20261121-bbbb"]
