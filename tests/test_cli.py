"""The command tree as a user meets it: global options, one error path, exit codes, lazy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from .conftest import REPO, assert_one_line_error, liboqs_found_with, run_x0ctl

HEAVY_MODULES = ("cryptography", "oqs", "requests", "prometheus_api_client")


@pytest.mark.parametrize("argv", [["--help"], ["version"], ["verify", "--help"], ["keys", "--help"]])
def test_help_and_version_stay_light(argv):
    code = textwrap.dedent(
        f"""
        import sys
        from x0ctl.cli.main import app
        try:
            app({argv!r}, prog_name="x0ctl")
        except SystemExit as exit:
            assert exit.code in (0, None), exit.code
        heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY_MODULES!r}))
        print("HEAVY=" + ",".join(heavy), file=sys.stderr)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "HEAVY=\n" in done.stderr, done.stderr


def test_version_json(cli):
    data = cli.json("version")
    assert {"x0ctl", "python", "git_commit", "cryptography", "liboqs", "lock"} <= set(data)
    from x0ctl import __version__

    assert data["x0ctl"] == __version__


def test_global_and_command_output_options(cli):
    assert json.loads(cli("--output", "json", "version").stdout)["x0ctl"]
    assert json.loads(cli("version", "-o", "json").stdout)["x0ctl"]
    assert json.loads(cli("version", env={"X0CTL_OUTPUT": "json"}).stdout)["x0ctl"]
    # the command-level flag wins over the environment
    assert cli("version", "-o", "table", env={"X0CTL_OUTPUT": "json"}).stdout.startswith("x0ctl ")


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["--output", "yaml", "version"], ["--output", "yaml"]),
        (["version", "-o", "xml"], ["--output", "xml"]),
        (["--backend", "kyber", "version"], ["--backend", "kyber"]),
        (["--bogus"], ["--bogus"]),
        (["verify", "kat", "--algorithms", "ML-KEM-9999"], ["ML-KEM-9999"]),
        (["nosuchcommand"], ["nosuchcommand"]),
    ],
)
def test_usage_errors_exit_2_with_one_line(cli, argv, fragments):
    result = cli(*argv)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert_one_line_error(result.stderr, *fragments)


def test_bad_guard_value_is_a_usage_error(cli):
    result = cli("verify", "kat", "-a", "ML-KEM-768", env={"X0TTA6BL4_PRODUCTION": "maybe"})
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "X0TTA6BL4_PRODUCTION", "not a boolean")


def test_mock_override_in_production_exits_3(cli):
    env = {"X0TTA6BL4_PRODUCTION": "true", "X0TTA6BL4_ALLOW_MOCK_PQC": "true"}
    result = cli("verify", "kat", "-a", "ML-KEM-768", env=env)
    assert result.exit_code == 3
    assert_one_line_error(result.stderr, "refusing")
    assert "x0ctl: warning: X0TTA6BL4_ALLOW_MOCK_PQC=true" in result.stderr


def test_explicit_liboqs_without_the_library_exits_3(tmp_path):
    env = {"OQS_INSTALL_PATH": str(tmp_path), "HOME": str(tmp_path)}
    if liboqs_found_with(env):
        pytest.skip("a system-wide liboqs is installed")
    done = run_x0ctl("--backend", "liboqs", "verify", "kat", "-a", "ML-KEM-768", env=env)
    assert done.returncode == 3, done.stderr
    assert_one_line_error(done.stderr, "liboqs backend unavailable", "OQS_INSTALL_PATH")
    assert "Installing in" not in done.stdout + done.stderr


def test_doctor_reports_backends_and_guard(cli):
    data = cli.json("doctor", "--no-measure")
    assert data["ok"] is True
    names = {b["name"]: b for b in data["backends"]}
    assert names["openssl"]["available"] is True
    assert "ML-KEM-768" in names["openssl"]["kem_algorithms"]
    assert "ML-DSA-65" in names["openssl"]["sig_algorithms"]
    assert names["liboqs"]["available"] in (True, False)
    if not names["liboqs"]["available"]:
        assert names["liboqs"]["reason"] and names["liboqs"]["hint"]
    assert data["guard"]["production"] is False
    assert {c["status"] for c in data["checks"]} <= {"ok", "warn", "fail", "info"}


def test_doctor_in_production_runs_the_self_test(cli):
    data = cli.json("doctor", "--no-measure", env={"X0TTA6BL4_PRODUCTION": "true"})
    assert data["guard"] == {**data["guard"], "production": True, "power_on_self_test": "passed"}


def test_doctor_fails_when_the_selected_backend_is_missing(tmp_path):
    env = {"OQS_INSTALL_PATH": str(tmp_path), "HOME": str(tmp_path)}
    if liboqs_found_with(env):
        pytest.skip("a system-wide liboqs is installed")
    done = run_x0ctl("--backend", "liboqs", "doctor", "-o", "json", env=env)
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert data["ok"] is False
    assert any(c["name"] == "backend liboqs" and c["status"] == "fail" for c in data["checks"])
    assert_one_line_error(done.stderr, "backend liboqs")


def test_no_args_shows_help_and_exits_2(cli):
    result = cli()
    assert result.exit_code == 2
    assert "Usage" in result.stdout


def test_verify_kat_default_run_passes(cli):
    data = cli.json("verify", "kat", "-a", "ML-KEM-768,ML-DSA-65,X-Wing")
    assert data["ok"] is True and data["failed"] == 0 and data["passed"] > 0
    assert {r["algorithm"] for r in data["results"]} == {"ML-KEM-768", "ML-DSA-65", "X-Wing"}


def test_verify_kat_bad_vector_files(cli, tmp_path):
    missing = cli("verify", "kat", "--vectors", str(tmp_path / "absent.rsp"))
    assert missing.exit_code == 4
    assert_one_line_error(missing.stderr, "absent.rsp")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("this is not a vector file\n")
    result = cli("verify", "kat", "--vectors", str(garbage))
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "garbage.json")


def test_verify_kat_corrupted_vector_fails_with_its_id(cli, tmp_path, xwing_vectors):
    corrupted = [dict(v) for v in xwing_vectors]
    ss = bytearray.fromhex(corrupted[1]["ss"])
    ss[0] ^= 0x01
    corrupted[1]["ss"] = ss.hex()
    path = tmp_path / "xwing.json"
    path.write_text(json.dumps(corrupted))
    result = cli("verify", "kat", "-a", "X-Wing", "--vectors", str(path), "-o", "json")
    assert result.exit_code == 1, result.stderr
    data = json.loads(result.stdout)
    failures = [f for r in data["results"] for f in r["failures"]]
    assert failures and all("xwing.json" in f["vector_id"] for f in failures)
    # decapsulation always runs; backends with deterministic encapsulation (liboqs) also catch it there
    assert "decaps-ss" in {f["check"] for f in failures}
    assert {f["check"] for f in failures} <= {"decaps-ss", "encaps-deterministic"}
    assert_one_line_error(result.stderr, "known-answer tests failed")
