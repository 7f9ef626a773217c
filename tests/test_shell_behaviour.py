"""How x0ctl behaves in a shell: a closed stdout, -q after the command, piped tables, completion of values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from x0ctl.rollout import StateDir, build_plan

from .conftest import REPO, assert_one_line_error, run_x0ctl
from .promserver import MESH_END, mesh_history, prometheus_fixture

prometheus = prometheus_fixture(mesh_history, scope="module")

LONG_TARGET = "a-target-name-long-enough-that-an-80-column-table-would-cut-it"


def rollouts(tmp_path, count: int = 3) -> tuple[str, list[str]]:
    """A state directory holding `count` finished rollouts with long ids; no Prometheus needed."""
    directory = StateDir(tmp_path / "state")
    directory.ensure()
    plan = build_plan({"target": LONG_TARGET, "steps": "100", "driver": {"set_weight": "true", "rollback": "true"}})
    ids = []
    for number in range(count):
        rollout_id = f"{LONG_TARGET}-20261204T000000Z-{number:04x}"
        journal = directory.journal(rollout_id)
        journal.append("created", plan=plan.to_dict(), user="t", replay=None)
        journal.append("promoted", reason="gates passed")
        ids.append(rollout_id)
    return str(tmp_path / "state"), ids


def closed_stdout(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """x0ctl with a stdout whose reader is already gone (as after `| head -1` has read its line)."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run([sys.executable, "-m", "x0ctl", *args], stdout=writer, stderr=subprocess.PIPE,
                              text=True, cwd=REPO, env={**os.environ, **(env or {})}, timeout=120)
    finally:
        os.close(writer)
    return done


@pytest.mark.parametrize("command", [
    ["rollout", "list"], ["rollout", "list", "-o", "json"], ["rollout", "status"], ["rollout", "history", "ID"],
    ["slo", "status", "--prometheus", "PROM", "--at", str(MESH_END)],
    ["slo", "status", "--prometheus", "PROM", "--at", str(MESH_END), "-o", "json"],
    ["slo", "rules"], ["version"],
])
def test_a_closed_stdout_exits_141_quietly(prometheus, tmp_path, command) -> None:
    state, ids = rollouts(tmp_path)
    argv = [arg.replace("PROM", prometheus.url).replace("ID", ids[0]) for arg in command]
    if argv[0] == "rollout":
        argv += ["--state-dir", state]
    done = closed_stdout(*argv)
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""


def test_a_closed_stdout_during_a_canary_is_journaled(prometheus, tmp_path) -> None:
    done = closed_stdout("rollout", "canary", "--steps", "10:30s,100", "--interval", "0.2s", "--selector",
                         '{instance="node-a"}', "--prometheus", prometheus.url, "--at", str(MESH_END),
                         "--set-weight-cmd", "true", "--rollback-cmd", "true", "--state-dir",
                         str(tmp_path / "state"), "-o", "json")
    assert done.returncode == 141 and done.stderr == ""
    (rollout_id,) = StateDir(tmp_path / "state").ids()
    events = StateDir(tmp_path / "state").journal(rollout_id).events()
    assert events[-1]["type"] == "interrupted" and events[-1]["reason"] == "its output was closed"


def test_quiet_after_the_command_and_ids_only_for_lists(cli, tmp_path) -> None:
    state, ids = rollouts(tmp_path)
    for argv in (["rollout", "list", "-q"], ["-q", "rollout", "list"], ["rollout", "list", "--quiet"]):
        result = cli(*argv, "--state-dir", state)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.splitlines() == ids
    keystore = tmp_path / "keys"
    assert cli("keys", "generate", "--keystore", str(keystore), "-q").exit_code == 0
    listed = cli("keys", "list", "--keystore", str(keystore), "-q")
    full = [key["id"] for key in cli.json("keys", "list", "--keystore", str(keystore))["keys"]]
    assert listed.stdout.splitlines() == full and len(full) == 2
    # -q does not silence requested data: -o json still prints the document
    assert json.loads(cli("rollout", "list", "-q", "-o", "json", "--state-dir", state).stdout)["rollouts"]


def test_piped_tables_never_cut_ids(tmp_path) -> None:
    state, ids = rollouts(tmp_path)
    keystore = tmp_path / "keys"
    assert run_x0ctl("keys", "generate", "--keystore", str(keystore)).returncode == 0
    listed = run_x0ctl("rollout", "list", "--state-dir", state, env={"COLUMNS": "80"})
    assert listed.returncode == 0
    assert all(rollout_id in listed.stdout for rollout_id in ids) and "…" not in listed.stdout
    keys = run_x0ctl("keys", "list", "--keystore", str(keystore), env={"COLUMNS": "80"})
    assert keys.returncode == 0 and "…" not in keys.stdout
    assert max(len(line) for line in listed.stdout.splitlines()) < 400  # wide enough, not padded out


def complete(shell: str, words: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "_X0CTL_COMPLETE": f"complete_{shell}"}
    if shell == "bash":
        env.update(COMP_WORDS=words, COMP_CWORD=str(len(words.split()) - (0 if words.endswith(" ") else 1)))
    else:
        env["_TYPER_COMPLETE_ARGS"] = words
    if shell == "fish":
        env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    return subprocess.run([sys.executable, "-m", "x0ctl"], env=env, capture_output=True, text=True, timeout=60,
                          cwd=REPO)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
@pytest.mark.parametrize(("words", "expected"), [
    ("x0ctl keys rotate --purpose k", ["kem"]),
    ("x0ctl handshake selftest --backend li", ["liboqs"]),
    ("x0ctl slo status -o j", ["json"]),
    ("x0ctl rollout canary --on-fail p", ["pause"]),
    ("x0ctl keys export-public --format ", ["pem", "raw", "json"]),
])
def test_enum_values_of_subcommand_options_complete(shell, words, expected) -> None:
    done = complete(shell, words)
    assert done.returncode == 0, done.stderr
    if shell == "zsh":
        assert done.stdout.startswith("_arguments"), done.stdout
        assert [part.strip('"') for part in done.stdout.split("((")[1].split("))")[0].split()] == expected
    else:
        assert done.stdout.split() == expected


@pytest.mark.parametrize("words", ["x0ctl slo status --spec ", "x0ctl rollout plan --plan ex",
                                   "x0ctl rollout canary --inventory /tm"])
def test_path_options_complete_file_names_in_every_shell(words) -> None:
    # x0ctl offers nothing, so each shell's own file completion runs: bash -o default, zsh _files, fish files
    assert complete("bash", words).stdout.strip() == ""
    assert complete("zsh", words).stdout.strip() == "_files"
    env = {**os.environ, "_X0CTL_COMPLETE": "complete_fish", "_TYPER_COMPLETE_ARGS": words,
           "_TYPER_COMPLETE_FISH_ACTION": "is-args"}
    is_args = subprocess.run([sys.executable, "-m", "x0ctl"], env=env, capture_output=True, timeout=60, cwd=REPO)
    assert is_args.returncode == 1  # fish: not our arguments, so files are allowed


def test_liboqs_leaves_nothing_in_tmp(liboqs_backend, tmp_path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = run_x0ctl("--backend", "liboqs", "verify", "kat", "-a", "ML-KEM-768", env={"TMPDIR": str(scratch)})
    assert done.returncode == 0, done.stderr
    assert list(scratch.iterdir()) == []


def test_readme_names_the_liboqs_search_of_the_code() -> None:
    from x0ctl.pqc import liboqs

    readme = (REPO / "README.md").read_text()
    start = readme.index("x0ctl locates the library first")
    searched = readme[start:readme.index("only then imports", start)]
    for prefix in liboqs._STANDARD_PREFIXES:
        shown = prefix.replace(str(Path.home()), "~")
        assert f"`{shown}`" in searched, shown
    for sub in liboqs._LIB_DIRS:
        assert f"`{sub}`" in searched, sub
    assert "OQS_INSTALL_PATH" in searched and "loader cache" in searched


@pytest.mark.parametrize("value", ["1", "yes", "on", "0", "off"])
def test_guard_switches_take_only_true_or_false(cli, value) -> None:
    # the mesh reads X0TTA6BL4_PRODUCTION as value.lower() == "true": "1" is off there
    result = cli("verify", "kat", "-a", "ML-KEM-768", env={"X0TTA6BL4_PRODUCTION": value})
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "X0TTA6BL4_PRODUCTION", "use true or false")
    assert cli("verify", "kat", "-a", "ML-KEM-768", "-q", env={"X0TTA6BL4_PRODUCTION": "TRUE"}).exit_code == 0
    assert cli("verify", "kat", "-a", "ML-KEM-768", "-q", env={"X0TTA6BL4_PRODUCTION": "False"}).exit_code == 0
