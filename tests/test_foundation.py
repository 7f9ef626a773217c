"""The shared pieces every command uses: one duration grammar, one file reader, one option bundle."""

from __future__ import annotations

import math

import pytest
import typer
from typer.testing import CliRunner

from x0ctl.durations import DurationError, format_duration, parse_duration, parse_time, promql_duration
from x0ctl.errors import ExitCode, IOFailure, UsageError
from x0ctl.textfile import read_bytes, read_text, read_yaml


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("15m", 900), ("1h30m", 5400), ("2d", 172800), ("2w", 1209600), ("1.5h", 5400),
    ("250ms", 0.25), ("45", 45), ("0", 0), ("1h0m30s", 3630), (" 5m ", 300), (30, 30), (2.5, 2.5),
])
def test_durations_one_grammar(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["-5m", "-1", "5 minutes", "m5", "", "1.h", "inf", "nan", float("inf"),
                                  float("nan"), -3, True, "1h-30m", "5M"])
def test_durations_refused_with_one_text(text):
    with pytest.raises(DurationError) as caught:
        parse_duration(text, "--bake")
    assert str(caught.value).startswith("--bake: ")
    assert "is not a duration like 90s, 15m, 1h30m, 2d" in str(caught.value)
    assert caught.value.exit_code == ExitCode.USAGE


def test_zero_refused_where_it_means_nothing():
    with pytest.raises(DurationError, match="longer than zero"):
        parse_duration("0s", "--interval", allow_zero=False)


@pytest.mark.parametrize("command", [
    ["keys", "rotate", "--if-older-than", "1h30m", "--dry-run"],
    ["quorum", "simulate", "-n", "4", "-f", "0", "--duration", "1h30m", "--help"],
])
def test_compound_durations_accepted_by_every_command(cli, tmp_path, command):
    """`keys rotate --if-older-than 1h30m` used to fail while `rollout --bake 1h30m` worked."""
    result = cli(*command, "--keystore", str(tmp_path / "ks")) if command[0] == "keys" else cli(*command)
    assert "is not a duration" not in result.stderr, result.stderr


@pytest.mark.parametrize("command", [
    ["keys", "rotate", "--if-older-than", "-5m"],
    ["quorum", "simulate", "-n", "4", "-f", "0", "--duration", "-5m"],
    ["rollout", "plan", "--steps", "10:-5m,100", "--set-weight-cmd", "true", "--rollback-cmd", "true", "--no-query"],
])
def test_negative_durations_refused_everywhere(cli, tmp_path, command):
    extra = ["--keystore", str(tmp_path / "ks")] if command[0] == "keys" else []
    result = cli(*command, *extra)
    assert result.exit_code == ExitCode.USAGE, (result.exit_code, result.stderr)
    assert "is not a duration like 90s, 15m, 1h30m, 2d" in result.stderr


def test_formats_round_trip():
    for seconds in (0, 0.25, 59, 60, 5400, 86400, 90061):
        assert parse_duration(format_duration(seconds)) == seconds
    assert promql_duration(86400 * 30) == "30d" and promql_duration(5400) == "90m" and promql_duration(0) == "1s"
    assert parse_time("2026-12-04T12:00:00Z") == parse_time("1796385600") == 1796385600.0
    with pytest.raises(DurationError, match="no time zone"):
        parse_time("2026-12-04T12:00:00")
    assert math.isfinite(parse_time(0))


def test_file_reader_rule(tmp_path):
    """Missing or unreadable: exit 4. Readable but malformed: exit 2."""
    with pytest.raises(IOFailure, match="cannot read plan .*: No such file"):
        read_text(tmp_path / "absent.yaml", "plan")
    with pytest.raises(IOFailure, match="Is a directory"):
        read_bytes(tmp_path, "plan")
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UsageError, match="not a UTF-8 text file") as caught:
        read_text(tmp_path / "binary", "spec")
    assert caught.value.exit_code == ExitCode.USAGE
    (tmp_path / "nul").write_bytes(b"a: 1\x00\n")
    with pytest.raises(UsageError, match="NUL"):
        read_text(tmp_path / "nul", "spec")
    (tmp_path / "bad.yaml").write_text("a: [1, 2\n")
    with pytest.raises(UsageError, match=r"not valid YAML \(line"):
        read_yaml(tmp_path / "bad.yaml", "scenario")
    (tmp_path / "ok.yaml").write_text("a: 1\n")
    assert read_yaml(tmp_path / "ok.yaml", "scenario") == {"a": 1}


def _bundled_app():
    from x0ctl.cli.options import PrometheusConnection, prometheus_options

    app = typer.Typer()
    seen = {}

    @app.command()
    @prometheus_options
    def status(ctx: typer.Context, prom: PrometheusConnection, name: str = typer.Argument("x"),
               output: str | None = typer.Option(None, "--output")) -> None:
        seen.update(prom=prom, name=name, output=output)

    return app, seen


def test_prometheus_option_bundle_declared_once(tmp_path):
    from x0ctl.cli.options import PrometheusConnection

    app, seen = _bundled_app()
    runner = CliRunner()
    result = runner.invoke(app, ["n1", "--prometheus", "https://prom:9090", "--timeout", "2", "--token-file",
                                 str(tmp_path / "t"), "--ca-bundle", str(tmp_path / "ca"), "--output", "json"])
    assert result.exit_code == 0, result.output
    assert seen["name"] == "n1" and seen["output"] == "json"
    assert seen["prom"] == PrometheusConnection(url="https://prom:9090", timeout=2.0, token_file=tmp_path / "t",
                                                ca_bundle=tmp_path / "ca")
    assert seen["prom"].with_default_url("http://plan:9090").url == "https://prom:9090"
    assert PrometheusConnection().with_default_url("http://plan:9090").url == "http://plan:9090"
    help_text = runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    for flag in ("--prometheus", "--timeout", "--token-file", "--token-env", "--basic-auth-file", "--basic-auth-env",
                 "--ca-bundle", "--client-cert", "--client-key"):
        assert flag in help_text


@pytest.mark.parametrize("args", [["--backend", "nope", "version"], ["verify", "kat", "--backend", "nope"],
                                  ["handshake", "selftest", "-n", "1", "--backend", "nope"]])
def test_backend_option_read_one_way_everywhere(cli, args):
    """One normaliser for the global and every command's --backend: same choices, same error text."""
    result = cli(*args)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert "'nope' is not one of auto, openssl, liboqs" in result.stderr


def test_backend_option_ignores_case_and_spaces(cli):
    assert cli("--backend", " OpenSSL ", "version").exit_code == 0
    data = cli.json("verify", "kat", "--backend", "OPENSSL", "-a", "ML-KEM-768")
    assert {result["backend"] for result in data["results"]} == {"openssl"}
