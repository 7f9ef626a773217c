"""Review: `x0ctl config show` prints URL passwords and query secrets from a profile in full.

A profile with `prometheus: http://user:PW@prom/?token=T` (or notify-webhook, pushgateway) is shown
verbatim in the table and in `-o json`. x0ctl/config.py:mask only masks keys whose *name* looks
secret (token, password ...), never the userinfo/query of URL values; every other place that shows a
URL uses x0ctl.urls.redact_url.
"""

from __future__ import annotations

import pytest

from tests.conftest import run_x0ctl

PROFILE = """profiles:
  prod:
    prometheus: "http://cu:CFGPROMPW@127.0.0.1:9/?token=CFGPROMQ"
    notify-webhook: "http://wu:CFGHOOKPW@127.0.0.1:9/hook?sig=CFGHOOKQ"
"""


@pytest.mark.parametrize("output", ["table", "json"])
def test_review_config_show_redacts_url_credentials(tmp_path, output):
    (tmp_path / "x0ctl").mkdir()
    (tmp_path / "x0ctl" / "config.yaml").write_text(PROFILE)
    done = run_x0ctl("--profile", "prod", "config", "show", "-o", output,
                     env={"XDG_CONFIG_HOME": str(tmp_path)}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "127.0.0.1:9" in done.stdout
    for secret in ("CFGPROMPW", "CFGPROMQ", "CFGHOOKPW", "CFGHOOKQ"):
        assert secret not in done.stdout + done.stderr, secret
