"""Review: `slo lint` calls a malformed Grafana dashboard a clean pass (exit 0, "0 findings").

`{"panels": "x"}` (panels not a list) or a target whose expr is not a string is read as a dashboard
with nothing to check; the help promises exit 2 for an unreadable rule or dashboard, and a lint that
checked nothing must not report success. Fault: x0ctl/slo/lint.py (dashboard expression extraction).
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import assert_one_line_error, run_x0ctl


@pytest.mark.parametrize("dashboard", [{"panels": "x"}, {"panels": [{"targets": [{"expr": 5}]}]}])
def test_review_slo_lint_malformed_dashboard_is_bad_input(tmp_path, dashboard):
    path = tmp_path / "dashboard.json"
    path.write_text(json.dumps(dashboard))
    done = run_x0ctl("slo", "lint", str(path), "-p", "http://127.0.0.1:9", timeout=60)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert_one_line_error(done.stderr, "dashboard.json")
