"""Profiles: precedence flag > env > profile > default, and errors that name file, line and field."""

from __future__ import annotations

import textwrap

import pytest

from .conftest import assert_one_line_error

CONFIG = """\
default-profile: lab
profiles:
  lab:
    output: json
    backend: openssl
  scripted:
    backend: openssl
"""


@pytest.fixture
def config_env(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    return {"X0CTL_CONFIG": str(path)}, path


def test_profile_supplies_defaults(cli, config_env):
    env, _ = config_env
    result = cli("version", env=env)
    assert result.exit_code == 0
    assert result.stdout.lstrip().startswith("{")  # output: json came from the default profile


def test_precedence_flag_env_profile_default(cli, config_env):
    env, _ = config_env
    assert cli("--output", "table", "version", env=env).stdout.startswith("x0ctl ")  # flag beats profile
    assert cli("version", env={**env, "X0CTL_OUTPUT": "table"}).stdout.startswith("x0ctl ")  # env beats profile
    data = cli.json("config", "show", env={**env, "X0CTL_BACKEND": "auto"})
    sources = {item["key"]: item["source"] for item in data["settings"]}
    assert sources == {"output": "profile", "backend": "env"}
    assert data["profile"] == "lab" and data["profile_selected_by"] == "default-profile"


def test_inline_secrets_are_masked_but_paths_are_not():
    from x0ctl.config import mask

    assert mask("prometheus-token", "s3cr3t") == "****"
    assert mask("webhook-password", "hunter2") == "****"
    assert mask("prometheus-token-file", "/etc/x0ctl/token") == "/etc/x0ctl/token"
    assert mask("prometheus", "http://127.0.0.1:9090") == "http://127.0.0.1:9090"


@pytest.mark.parametrize(
    "body, fragments",
    [
        ("profiles:\n  lab:\n    backnd: liboqs\n", [":3:", "backnd", "lab"]),
        ("profiles:\n  lab:\n    output: [json]\n", [":3:", "output", "single value"]),
        ("profile:\n  lab: {}\n", [":1:", "unknown field 'profile'"]),
        ("profiles: [1, 2]\n", [":1:", "mapping"]),
        ("profiles:\n  lab:\n    output: json\n  bad: {\n", ["not valid YAML"]),
        ("default-profile: prod\nprofiles:\n  lab: {}\n", ["default-profile 'prod' is not defined"]),
    ],
)
def test_bad_config_names_file_line_and_field(cli, tmp_path, body, fragments):
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(body))
    result = cli("version", env={"X0CTL_CONFIG": str(path)})
    assert result.exit_code == 2, result.stderr
    assert_one_line_error(result.stderr, str(path), *fragments)


def test_unknown_profile_lists_the_known_ones(cli, config_env):
    env, path = config_env
    result = cli("--profile", "prod", "version", env=env)
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "'prod' is not defined", "lab, scripted")
    result = cli("version", env={**env, "X0CTL_PROFILE": "nope"})
    assert result.exit_code == 2


def test_missing_config_named_explicitly_is_an_io_error(cli, tmp_path):
    result = cli("version", env={"X0CTL_CONFIG": str(tmp_path / "absent.yaml")})
    assert result.exit_code == 4
    assert_one_line_error(result.stderr, "absent.yaml", "does not exist")


def test_no_config_file_is_fine_without_profile(cli, tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path), "X0CTL_CONFIG": ""}
    assert cli("version", env=env).exit_code == 0
    result = cli("--profile", "lab", "version", env=env)
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "no config file")
