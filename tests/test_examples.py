"""Every runbook in examples/ runs end to end, as an operator would run it.

Scripts run under bash with their documented environment variables pointing into tmp_path, x0ctl
from this checkout, and the suite's real Prometheus (tests/promserver.py) for the SLO gate. The
quorum scenarios and rollout plans shipped next to them are run through x0ctl too.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import REPO
from .promserver import (
    MESH_BASE,
    MESH_END,
    closed_port,
    mesh_history,
    prometheus_fixture,
)

EXAMPLES = REPO / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.sh"))
TESTED_SCRIPTS = {"rotate-and-verify.sh", "pre-deploy-gate.sh", "mesh-audit.sh"}  # mesh-audit: test_mesh_example.py
HEALTHY_AT = str(MESH_END - 2 * 3600)  # node-b degrades in the last hour of the history

prometheus = prometheus_fixture(mesh_history, scope="module")


def run_script(name: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """bash examples/NAME with x0ctl from this checkout and only the given settings on top."""
    full_env = {key: value for key, value in os.environ.items() if not key.startswith(("X0CTL_", "X0TTA6BL4_"))}
    # No profile from the developer's own config: the scripts must work with x0ctl's defaults.
    full_env.update(X0CTL=f"{shlex.quote(sys.executable)} -m x0ctl", PYTHONPATH=str(REPO),
                    XDG_CONFIG_HOME=str(REPO / ".no-config"), **env)
    return subprocess.run(["bash", str(EXAMPLES / name)], capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=REPO, check=False)


def test_every_script_is_tested_and_strict():
    assert {script.name for script in SCRIPTS} == TESTED_SCRIPTS, "a new example script needs a test here"
    for script in SCRIPTS:
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash\n"), script.name
        assert "set -euo pipefail" in text, script.name
        assert os.access(script, os.X_OK), f"{script.name} is not executable"
        documented = (EXAMPLES / "README.md").read_text()
        assert f"`{script.name}`" in documented, f"examples/README.md does not describe {script.name}"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_shellcheck(script):
    result = subprocess.run(["shellcheck", "-x", str(script)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stdout


# -- rotate-and-verify.sh ------------------------------------------------------------------------


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, flags=re.MULTILINE)
    assert match, f"{name} not in\n{text}"
    return float(match.group(1))


def test_rotate_and_verify_from_an_empty_node_then_when_due(tmp_path):
    env = {"WORK_DIR": str(tmp_path / "work"), "NODE": "node-7", "BACKUPS_TO_KEEP": "1"}
    first = run_script("rotate-and-verify.sh", env)
    assert first.returncode == 0, first.stderr
    work = tmp_path / "work"
    assert (work / "keystore" / "state.json").exists()
    assert "rotation not due" in first.stdout + first.stderr
    assert "backup restores and verifies" in first.stderr
    backups = sorted((work / "backups").glob("node-7-*.age"))
    assert len(backups) == 1 and backups[0].read_bytes().startswith(b"age-encryption.org/v1\n")
    job = (work / "textfile" / "x0ctl_keys_job.prom").read_text()
    assert metric(job, "x0ctl_keys_job_last_success_timestamp_seconds") > MESH_END
    assert metric(job, "x0ctl_keys_backup_size_bytes") == backups[0].stat().st_size

    second = run_script("rotate-and-verify.sh", {**env, "ROTATE_IF_OLDER_THAN": "0s"})
    assert second.returncode == 0, second.stderr
    rotation = (work / "textfile" / "x0ctl_keys.prom").read_text()
    assert metric(rotation, "key_rotation_success_total") == 2  # kem and sig
    kept = sorted((work / "backups").glob("node-7-*.age"))
    assert len(kept) == 1 and kept != backups, "BACKUPS_TO_KEEP=1 keeps only the newest backup"

    listed = subprocess.run([sys.executable, "-m", "x0ctl", "keys", "list", "--keystore", str(work / "keystore"),
                             "-o", "json"], capture_output=True, text=True, cwd=REPO, check=True)
    states = sorted(key["state"] for key in json.loads(listed.stdout)["keys"])
    assert states == ["active", "active", "retired", "retired"]
    assert metric(rotation, "x0ctl_key_active_created_timestamp_seconds") > MESH_END  # key-age gauges


def test_rotate_and_verify_stops_on_a_keystore_older_than_its_checkpoint(tmp_path):
    env = {"WORK_DIR": str(tmp_path / "work"), "NODE": "node-7"}
    assert run_script("rotate-and-verify.sh", env).returncode == 0
    keystore = tmp_path / "work" / "keystore"
    shutil.copytree(keystore, tmp_path / "old-copy")
    assert run_script("rotate-and-verify.sh", {**env, "ROTATE_IF_OLDER_THAN": "0s"}).returncode == 0
    shutil.rmtree(keystore)
    shutil.copytree(tmp_path / "old-copy", keystore)  # someone rolls the whole directory back
    rolled_back = run_script("rotate-and-verify.sh", {**env, "ROTATE_IF_OLDER_THAN": "0s"})
    assert rolled_back.returncode == 1
    assert "older than checkpoint" in rolled_back.stderr


def tamper_history(keystore: Path) -> None:
    history = keystore / "history.jsonl"
    lines = history.read_text().splitlines(keepends=True)
    assert '"reason":null' in lines[0]
    lines[0] = lines[0].replace('"reason":null', '"reason":"routine"', 1)
    history.write_text("".join(lines))


def swap_private_keys(keystore: Path) -> None:
    kem = next((keystore / "keys").glob("kem-*.key.pem"))
    sig = next((keystore / "keys").glob("sig-*.key.pem"))
    kem_pem, sig_pem = kem.read_bytes(), sig.read_bytes()
    kem.write_bytes(sig_pem)
    sig.write_bytes(kem_pem)


def test_rotate_and_verify_with_a_passphrase(tmp_path):
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("correct horse battery staple\n")
    result = run_script("rotate-and-verify.sh", {"WORK_DIR": str(tmp_path / "work"),
                                                 "BACKUP_PASSPHRASE_FILE": str(passphrase),
                                                 "SCRYPT_WORK_FACTOR": "10"})
    assert result.returncode == 0, result.stderr
    assert "backup restores and verifies" in result.stderr
    assert not (tmp_path / "work" / "recovery-identity.txt").exists(), "no demo identity with a passphrase"
    backup = next((tmp_path / "work" / "backups").glob("*.age")).read_bytes()
    assert b"\n-> scrypt " in backup[:200]


@pytest.mark.parametrize("damage", [
    pytest.param(tamper_history, id="tampered-history"),
    pytest.param(swap_private_keys, id="swapped-key-files"),
])
def test_rotate_and_verify_stops_on_a_damaged_keystore(cli, tmp_path, damage):
    keystore = tmp_path / "work" / "keystore"
    cli.json("keys", "generate", "--keystore", str(keystore))
    damage(keystore)
    result = run_script("rotate-and-verify.sh", {"WORK_DIR": str(tmp_path / "work"), "ROTATE_IF_OLDER_THAN": "0s"})
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[-1].startswith("x0ctl: error: keystore verification failed"), result.stderr
    assert "rotating keys older than" not in result.stderr
    assert not list((tmp_path / "work" / "backups").glob("*.age")), "nothing is backed up from a damaged keystore"


# -- pre-deploy-gate.sh --------------------------------------------------------------------------


def gate_summary(stderr: str) -> dict[str, str]:
    return {match.group(2): match.group(1) for match in re.finditer(r"^  (PASS|FAIL)  (\w+)", stderr, re.MULTILINE)}


def test_pre_deploy_gate_passes_on_a_healthy_mesh(prometheus, tmp_path):
    reports = tmp_path / "reports"
    result = run_script("pre-deploy-gate.sh", {"PROMETHEUS_URL": prometheus.url, "SLO_AT": HEALTHY_AT,
                                               "HANDSHAKE_COUNT": "50", "REPORT_DIR": str(reports)})
    assert result.returncode == 0, result.stderr
    assert gate_summary(result.stderr) == {"kat": "PASS", "handshake": "PASS", "slo": "PASS"}
    assert "clear to deploy" in result.stderr
    assert json.loads((reports / "kat.json").read_text())["ok"] is True
    assert json.loads((reports / "handshake.json").read_text())["negative"]
    assert json.loads((reports / "slo.json").read_text())["summary"]["breach"] == 0


@pytest.mark.parametrize(("when", "selector", "expected_exit"), [
    pytest.param(str(MESH_END), '{instance="node-b"}', 1, id="breach"),
    pytest.param(str(MESH_BASE - 86400), "", 5, id="no-data"),
])
def test_pre_deploy_gate_blocks_on_the_slos(prometheus, when, selector, expected_exit):
    result = run_script("pre-deploy-gate.sh", {"PROMETHEUS_URL": prometheus.url, "SLO_AT": when,
                                               "SLO_SELECTOR": selector, "HANDSHAKE_COUNT": "20"})
    assert result.returncode == expected_exit, result.stderr
    assert gate_summary(result.stderr) == {"kat": "PASS", "handshake": "PASS", "slo": "FAIL"}
    assert "do not deploy" in result.stderr


def test_pre_deploy_gate_runs_every_gate_when_one_fails(tmp_path):
    # Prometheus down (exit 4) and PQC fallback on (handshake exit 1): the first failure's code wins.
    result = run_script("pre-deploy-gate.sh", {"PROMETHEUS_URL": f"http://127.0.0.1:{closed_port()}",
                                               "HANDSHAKE_COUNT": "20", "X0TTA6BL4_DISABLE_PQC": "true"})
    assert result.returncode == 1, result.stderr
    assert gate_summary(result.stderr) == {"kat": "PASS", "handshake": "FAIL", "slo": "FAIL"}
    assert "FAIL  slo (exit 4)" in result.stderr


# -- quorum scenarios and rollout plans ------------------------------------------------------------

QUORUM_SCENARIOS = sorted((EXAMPLES / "quorum").glob("*.yaml"))
ROLLOUT_PLANS = [path for path in sorted((EXAMPLES / "rollout").glob("*.yaml"))
                 if isinstance(yaml.safe_load(path.read_text()), dict) and "steps" in yaml.safe_load(path.read_text())]


@pytest.mark.skipif(not QUORUM_SCENARIOS, reason="no examples/quorum/*.yaml")
@pytest.mark.parametrize("scenario", QUORUM_SCENARIOS, ids=lambda path: path.stem)
def test_quorum_scenario(cli, scenario):
    data = cli.json("quorum", "simulate", "--scenario", str(scenario))
    assert data["scenario"]["name"] == scenario.stem
    run = data.get("result")
    if run is not None and run["within_bound"]:
        assert run["safety"]["ok"], f"{scenario.name}: safety violated within f <= (n-1)/3"


@pytest.mark.skipif(not ROLLOUT_PLANS, reason="no rollout plans in examples/rollout/")
@pytest.mark.parametrize("plan", ROLLOUT_PLANS, ids=lambda path: path.stem)
def test_rollout_plan_is_valid(cli, plan):
    data = cli.json("rollout", "plan", "-f", str(plan), "--no-query")
    assert data["schedule"] and data["schedule"][-1]["weight"] == 100
    assert data["eta_seconds"] > 0
