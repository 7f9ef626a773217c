"""Review: a deeply nested YAML or JSON file an operator names gives exit 70, not exit 2.

`[[[[...` 100,000 levels deep (a truncated or hostile file) makes yaml.safe_load / json.loads raise
RecursionError, which x0ctl/textfile.py:read_yaml (and the JSON readers) do not turn into the
documented "readable but malformed is exit 2" (README "Exit codes"); every command reading a spec,
plan, scenario, dashboard, checkpoint or counterexample ends in `internal error: RecursionError`.
"""

from __future__ import annotations

import pytest

from tests.conftest import assert_one_line_error, run_x0ctl

COMMANDS = {
    "slo validate": ("slo", "validate", "{yaml}"),
    "rollout plan -f": ("rollout", "plan", "-f", "{yaml}"),
    "quorum simulate --scenario": ("quorum", "simulate", "--scenario", "{yaml}"),
    "slo lint (dashboard)": ("slo", "lint", "{json}"),
    "quorum replay": ("quorum", "replay", "{json}"),
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_review_deeply_nested_file_is_bad_input(tmp_path, name):
    nested_yaml = tmp_path / "nested.yaml"
    nested_yaml.write_text("[" * 100_000 + "\n")
    nested_json = tmp_path / "nested.json"
    nested_json.write_text("[" * 100_000 + "\n")
    args = [a.format(yaml=nested_yaml, json=nested_json) for a in COMMANDS[name]]
    done = run_x0ctl(*args, timeout=120)
    assert done.returncode == 2, (name, done.returncode, done.stderr)
    assert_one_line_error(done.stderr)
