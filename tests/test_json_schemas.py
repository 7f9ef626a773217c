"""Every command's `-o json` output, produced for real, validates against its shipped JSON Schema.

The schemas (x0ctl/schemas/*.json, draft 2020-12) close their objects with
`additionalProperties: false` wherever the output is meant to be complete, so a field added,
renamed or dropped in a command shows up here, next to docs/json-output.md, before it reaches a
runbook that parses it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import typer.main

from x0ctl.schemas import load_schema, schema_names

from .conftest import REPO, SHARED
from .promserver import MESH_END, closed_port, mesh_history, prometheus_fixture

jsonschema = pytest.importorskip("jsonschema", reason="the `test` extra provides jsonschema")

prometheus = prometheus_fixture(mesh_history, scope="module")

HEALTHY_AT = str(MESH_END - 2 * 3600)  # before node-b degrades
DOCS = REPO / "docs" / "json-output.md"

# Commands with -o json that have no schema yet, and why. Empty means full coverage.
NOT_COVERED: dict[str, str] = {}
# NDJSON streams: the schema describes one line (an open event, or the closed final result line).
STREAMS = {"rollout canary", "rollout resume"}


def problems(command: str, data) -> list[str]:
    schema = load_schema(command)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    return [f"/{'/'.join(map(str, error.absolute_path))}: {error.message[:300]}"
            for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))]


def assert_valid(command: str, data) -> None:
    found = problems(command, data)
    assert not found, f"x0ctl {command} -o json does not match its schema:\n" + "\n".join(found)


def json_commands() -> set[str]:
    from x0ctl.cli.app import walk_commands
    from x0ctl.cli.main import app

    return {" ".join(path) for path, command in walk_commands(typer.main.get_command(app))
            if path and not hasattr(command, "commands")
            and any("--output" in getattr(param, "opts", ()) for param in command.params)}


# -- the schemas themselves -------------------------------------------------------------------


@pytest.mark.parametrize("command", schema_names())
def test_schema_is_valid_draft_2020_12(command):
    schema = load_schema(command)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["title"] == f"x0ctl {command} -o json"
    if command in STREAMS:
        assert {"oneOf"} <= set(schema) and schema["oneOf"][0]["additionalProperties"] is False
    else:
        assert schema["additionalProperties"] is False, "the top level of every output is closed"


def test_every_json_command_has_a_schema_or_a_reason():
    commands = json_commands()
    schemas = set(schema_names())
    assert schemas <= commands, f"schemas for commands that do not exist: {sorted(schemas - commands)}"
    missing = commands - schemas - set(NOT_COVERED)
    assert not missing, f"commands with -o json but no schema in x0ctl/schemas: {sorted(missing)}"
    stale = set(NOT_COVERED) & schemas
    assert not stale, f"covered now, remove from NOT_COVERED: {sorted(stale)}"


def test_docs_describe_every_schema():
    text = DOCS.read_text()
    for command in schema_names():
        assert f"x0ctl/schemas/{'-'.join(command.split())}.json" in text, command
    for command in NOT_COVERED:
        assert f"`{command}`" in text, f"docs/json-output.md does not list {command} as not covered"


def test_a_closed_schema_catches_drift(cli):
    data = cli.json("version")
    assert_valid("version", data)
    assert problems("version", {**data, "pyton": data["python"]}), "an unknown field must be rejected"
    assert problems("version", {"x0ctl": data["x0ctl"]}), "a missing field must be rejected"
    assert problems("version", {**data, "python": 3.11}), "a field of the wrong type must be rejected"


# -- each command, run for real -----------------------------------------------------------------


def test_doctor(cli, tmp_path):
    data = cli.json("doctor", "--no-measure", "--keystore", str(tmp_path / "none"), "--prometheus", "")
    assert_valid("doctor", data)
    assert data["keystore"]["exists"] is False and data["prometheus"]["configured"] is False


def test_doctor_with_a_keystore_and_prometheus(cli, tmp_path, prometheus):
    cli.json("keys", "generate", "--keystore", str(tmp_path / "keys"))
    data = cli.json("doctor", "--no-measure", "--keystore", str(tmp_path / "keys"), "--prometheus", prometheus.url)
    assert_valid("doctor", data)
    assert set(data["keystore"]["active"]) == {"kem", "sig"} and data["prometheus"]["reachable"] is True
    down = cli.json("doctor", "--no-measure", "--keystore", str(tmp_path / "keys"), "--prometheus",
                    f"http://127.0.0.1:{closed_port()}", expect=1)
    assert_valid("doctor", down)
    assert down["prometheus"]["reachable"] is False and down["prometheus"]["error"]


def test_doctor_with_the_production_guard(cli):
    data = cli.json("doctor", "--no-measure", "--prometheus", "", env={"X0TTA6BL4_PRODUCTION": "true"})
    assert_valid("doctor", data)
    assert data["guard"]["production"] is True and data["guard"]["power_on_self_test"] == "passed"


def test_config_show_with_profiles(cli, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("default-profile: lab\nprofiles:\n  lab:\n    output: json\n    backend: openssl\n"
                      "    prometheus: http://127.0.0.1:9\n  other:\n    backend: auto\n")
    data = cli.json("config", "show", env={"X0CTL_CONFIG": str(config)})
    assert_valid("config show", data)
    assert data["profile"] == "lab" and data["profiles"] == ["lab", "other"]
    assert any(setting.get("line") for setting in data["settings"])
    bare = cli.json("config", "show", env={"X0CTL_CONFIG": "", "XDG_CONFIG_HOME": str(tmp_path / "empty")})
    assert_valid("config show", bare)
    assert bare["exists"] is False


def test_verify_kat(cli):
    data = cli.json("verify", "kat", "-a", "ML-KEM-768,X-Wing")
    assert_valid("verify kat", data)
    assert data["ok"] and data["results"]


def test_verify_kat_failures_are_described(cli, tmp_path):
    source = SHARED / "vectors" / "xwing-test-vectors.json"
    if not source.exists():
        pytest.skip(f"shared X-Wing vectors not found at {source}")
    vectors = json.loads(source.read_text())
    shared_secret = bytearray.fromhex(vectors[0]["ss"])
    shared_secret[0] ^= 1
    vectors[0]["ss"] = shared_secret.hex()
    damaged = tmp_path / "xwing-damaged.json"
    damaged.write_text(json.dumps(vectors))
    data = cli.json("verify", "kat", "-a", "X-Wing", "--vectors", str(damaged), expect=1)
    assert_valid("verify kat", data)
    assert not data["ok"] and any(result["failures"] for result in data["results"])


def test_handshake_selftest(cli):
    data = cli.json("handshake", "selftest", "--count", "20", "--negative")
    assert_valid("handshake selftest", data)
    assert data["ok"] and data["negative"]


def test_handshake_selftest_in_fallback(cli):
    data = cli.json("handshake", "selftest", "--count", "5", "--negative", expect=1,
                    env={"X0TTA6BL4_DISABLE_PQC": "true"})
    assert_valid("handshake selftest", data)
    assert data["fallback"]["enabled"] is True and data["suite"]["backend"] is None


def test_handshake_serve_and_probe(cli):
    server = subprocess.Popen([sys.executable, "-m", "x0ctl", "handshake", "serve", "--listen", "127.0.0.1:0",
                               "--allow-any-peer", "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    stderr_lines: list[str] = []
    reader = threading.Thread(target=lambda: stderr_lines.extend(server.stderr), daemon=True)
    reader.start()
    try:
        banner = _wait_for(lambda: next((line for line in stderr_lines if "listening on" in line), None), server)
        match = re.search(r"listening on (\S+) identity (sha256:[0-9a-f]+)", banner)
        assert match, banner
        address, fingerprint = match.groups()
        probe = cli.json("handshake", "probe", address, "--count", "3", "--peer-fingerprint", fingerprint)
        assert_valid("handshake probe", probe)
        assert probe["successes"] == 3 and probe["pinned"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        stdout = server.stdout.read()
        reader.join(timeout=5)
    assert server.returncode == 0, "".join(stderr_lines)
    served = json.loads(stdout)
    assert_valid("handshake serve", served)
    assert served["stopped_by"] == "SIGTERM" and served["successes"] == 3


def _wait_for(found, process: subprocess.Popen, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError("handshake serve did not report its address")


def test_handshake_probe_of_an_unreachable_peer(cli):
    data = cli.json("handshake", "probe", f"127.0.0.1:{closed_port()}", "--insecure-any-peer", expect=4)
    assert_valid("handshake probe", data)
    assert data["failures"] == {"connection": 1} and data["ok"] is False


# -- slo, against the suite's real Prometheus ---------------------------------------------------


def test_slo_status_and_check(cli, prometheus):
    status = cli.json("slo", "status", "--prometheus", prometheus.url, "--at", str(MESH_END), "--by", "instance")
    assert_valid("slo status", status)
    assert status["summary"]["breach"] > 0 and status["by"] == ["instance"]
    healthy = cli.json("slo", "check", "--prometheus", prometheus.url, "--at", HEALTHY_AT)
    assert_valid("slo check", healthy)
    breach = cli.json("slo", "check", "--prometheus", prometheus.url, "--at", str(MESH_END), expect=1)
    assert_valid("slo check", breach)
    no_data = cli.json("slo", "check", "--prometheus", prometheus.url, "--at", str(MESH_END - 30 * 86400), expect=5)
    assert_valid("slo check", no_data)
    assert no_data["summary"]["no_data"] == len(no_data["slos"])


def test_slo_query(cli, prometheus):
    data = cli.json("slo", "query", "sum by (instance) (rate(pqc_handshake_success_total[5m]))", "--prometheus",
                    prometheus.url, "--at", str(MESH_END))
    assert_valid("slo query", data)
    assert len(data["series"]) == 2
    scalar = cli.json("slo", "query", "scalar(vector(1))", "--prometheus", prometheus.url, "--at", str(MESH_END))
    assert_valid("slo query", scalar)


def test_slo_validate_and_rules(cli, tmp_path):
    spec = tmp_path / "slos.yaml"
    spec.write_text("slos:\n  - name: handshakes\n    objective: 99\n    ratio:\n"
                    "      good: pqc_handshake_success_total\n      errors: pqc_handshake_failure_total\n"
                    "  - name: fast\n    objective: 95\n    latency:\n"
                    "      histogram: pqc_handshake_latency_seconds\n      threshold: 100ms\n")
    valid = cli.json("slo", "validate", str(spec))
    assert_valid("slo validate", valid)
    assert [slo["name"] for slo in valid["slos"]] == ["handshakes", "fast"]
    broken = tmp_path / "broken.yaml"
    broken.write_text("slos:\n  - name: x\n    objective: 120\n")
    invalid = cli.json("slo", "validate", str(broken), expect=2)
    assert_valid("slo validate", invalid)
    assert invalid["errors"]
    rules = cli.json("slo", "rules")
    assert_valid("slo rules", rules)
    template = cli.json("slo", "analysis-template", "-n", "mesh", "--count", "5")
    assert_valid("slo analysis-template", template)
    path = tmp_path / "analysis.json"
    path.write_text(json.dumps(template))
    assert_valid("rollout import-analysis", cli.json("rollout", "import-analysis", str(path)))


# -- keys: one keystore through its whole life --------------------------------------------------


def test_keys_lifecycle(cli, tmp_path):
    store = ["--keystore", str(tmp_path / "keystore")]

    def keys(*args, expect=0):
        return cli.json("keys", *args, *store, expect=expect)

    def keys_anywhere(*args):  # commands that do not open the keystore
        return cli.json("keys", *args)

    assert_valid("keys generate", keys("generate", "--node", "node-7"))
    listed = keys("list")
    assert_valid("keys list", listed)
    sig = next(key for key in listed["keys"] if key["purpose"] == "sig")
    assert_valid("keys show", keys("show", sig["short_id"]))
    not_due = keys("rotate", "--if-older-than", "30d")
    assert_valid("keys rotate", not_due)
    assert not_due["skipped"] and not not_due["rotated"]
    rotated = keys("rotate", "--purpose", "kem", "--metrics-file", str(tmp_path / "rotation.prom"))
    assert_valid("keys rotate", rotated)
    assert rotated["rotated"] and rotated["metrics"]["key_rotation_success_total"] == 1
    drifted = json.loads(json.dumps(rotated))
    drifted["rotated"][0]["new"]["private_key"] = "keys/kem-v2.key.pem"  # nested ($defs) objects are closed too
    assert problems("keys rotate", drifted)
    prepared = keys("rotate", "--purpose", "sig", "--stage", "prepare")
    assert_valid("keys rotate", prepared)
    assert_valid("keys rotate", keys("rotate", "--dry-run"))
    revoked = keys("revoke", sig["short_id"], "--reason", "schema test")
    assert_valid("keys revoke", revoked)
    assert revoked["replacement"] is not None
    assert_valid("keys history", keys("history"))
    verified = keys("verify")
    assert_valid("keys verify", verified)
    assert verified["ok"]
    checkpoint = keys("checkpoint", "--out", str(tmp_path / "node.checkpoint"))
    assert_valid("keys checkpoint", checkpoint)
    anchored = keys("verify", "--checkpoint", str(tmp_path / "node.checkpoint"), "--metrics-file",
                    str(tmp_path / "rotation.prom"))
    assert_valid("keys verify", anchored)
    assert anchored["checkpoints"][0]["ok"] and anchored["metrics"]["active_created"]
    assert_valid("keys export-public", keys("export-public"))

    identity = keys_anywhere("backup-identity", "--out", str(tmp_path / "recovery.txt"))
    assert_valid("keys backup-identity", identity)
    backup = keys("backup", "--out", str(tmp_path / "pq.age"), "-r", identity["recipient"])
    assert_valid("keys backup", backup)
    (tmp_path / "passphrase").write_text("correct horse battery staple\n")
    by_passphrase = keys("backup", "--out", str(tmp_path / "pass.age"), "--passphrase-file",
                         str(tmp_path / "passphrase"), "--scrypt-work-factor", "10")
    assert_valid("keys backup", by_passphrase)
    target = ["--keystore", str(tmp_path / "restored")]
    restored = cli.json("keys", "restore", str(tmp_path / "pq.age"), "-i", str(tmp_path / "recovery.txt"),
                        "--expect-signer", backup["signer"], *target)
    assert_valid("keys restore", restored)
    replaced = cli.json("keys", "restore", str(tmp_path / "pass.age"), "--passphrase-file",
                        str(tmp_path / "passphrase"), "--force", *target)
    assert_valid("keys restore", replaced)
    assert replaced["replaced"]


# -- quorum --------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    pytest.param(["--scenario", str(REPO / "examples" / "quorum" / "split-brain.yaml")], id="scenario"),
    pytest.param(["-n", "10", "-f", "3", "--duration", "10s", "--trials", "2"], id="trials"),
    pytest.param(["-n", "7", "--duration", "5s", "--sweep-byzantine", "0..2"], id="sweep"),
])
def test_quorum_simulate(cli, args):
    if args[0] == "--scenario" and not os.path.exists(args[1]):
        pytest.skip(f"{args[1]} not present")
    data = cli.json("quorum", "simulate", *args)
    assert_valid("quorum simulate", data)


def test_quorum_adversary_fuzz_and_replay(cli, tmp_path):
    adversary = str(REPO / "examples" / "quorum" / "adversaries" / "preempt.py")
    assert_valid("quorum simulate", cli.json("quorum", "simulate", "-n", "7", "-f", "2", "--duration", "10s",
                                             "--adversary", adversary))
    target = tmp_path / "ce.json"
    found = cli.json("quorum", "fuzz", "--byzantine", "beyond", "--counterexample", str(target))
    assert_valid("quorum fuzz", found)
    assert_valid("quorum fuzz", cli.json("quorum", "fuzz", "--trials", "1", "--counterexample", str(tmp_path / "n")))
    assert_valid("quorum replay", cli.json("quorum", "replay", str(target)))


# -- rollout: a promoted, a rolled-back and an operator-driven rollout ---------------------------


def ndjson(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_rollout_commands(cli, prometheus, tmp_path):
    state = ["--state-dir", str(tmp_path / "state")]
    weight = tmp_path / "weight"
    driver = ["--set-weight-cmd", f"echo {{weight}} > {weight}", "--rollback-cmd", f"echo 0 > {weight}"]
    judged = ["--prometheus", prometheus.url, "--at", str(MESH_END)]

    plan = cli.json("rollout", "plan", "--steps", "1:5m,100", "--selector", '{instance="node-a"}', *judged, *driver)
    assert_valid("rollout plan", plan)
    assert plan["gates"] and plan["gates"][0]["verdict"] == "pass"

    def canary(target: str, selector: str, expect: int) -> list[dict]:
        result = cli("rollout", "canary", "--target", target, "--steps", "10:0.3s,100", "--interval", "0.1s", "--data-wait", "0",
                     "--selector", selector, "--cmd-retries", "0", *judged, *driver, *state, "-o", "json")
        assert result.exit_code == expect, result.stderr
        lines = ndjson(result.stdout)
        for line in lines:
            assert_valid("rollout canary", line)
        assert lines[-1]["type"] == "result" and lines[-1]["exit_code"] == expect
        return lines

    promoted = canary("healthy", '{instance="node-a"}', 0)[-1]
    rolled_back = canary("broken", '{instance="node-b"}', 1)[-1]
    assert rolled_back["status"] == "rolled-back"
    status = cli.json("rollout", "status", promoted["id"], *state)
    assert_valid("rollout status", status)
    assert status["status"] == "promoted"
    listed = cli.json("rollout", "list", *state)
    assert_valid("rollout list", listed)
    assert len(listed["rollouts"]) == 2
    history = cli.json("rollout", "history", rolled_back["id"], *state)
    assert_valid("rollout history", history)
    assert "rolled-back" in [event["type"] for event in history["events"]]

    paused = canary("silent", '{instance="node-z"}', 6)[-1]  # no data: paused, never promoted
    for action in ("pause", "promote"):
        answer = cli.json("rollout", action, paused["id"], "--reason", "schema test", *state)
        assert_valid(f"rollout {action}", answer)
    resumed = cli("rollout", "resume", paused["id"], "--prometheus", prometheus.url, *state, "-o", "json")
    assert resumed.exit_code == 6, resumed.stderr
    for line in ndjson(resumed.stdout):
        assert_valid("rollout resume", line)
    aborted = cli.json("rollout", "abort", paused["id"], "--reason", "no metrics", *state)
    assert_valid("rollout abort", aborted)
    assert aborted["status"] == "rolled-back"
    second = canary("silent-2", '{instance="node-z"}', 6)[-1]
    rollback = cli.json("rollout", "rollback", second["id"], *state)
    assert_valid("rollout rollback", rollback)
