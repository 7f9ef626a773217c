"""Review: a Prometheus URL with a malformed IPv6 literal is bad input (exit 2), not an internal error (70).

`x0ctl slo check -p 'http://user:pw@[::1'` reaches urllib's urlsplit in
x0ctl/slo/client.py:client_from_options, whose ValueError escapes as exit 70.
"""

from __future__ import annotations

import pytest

from tests.conftest import assert_one_line_error, run_x0ctl


@pytest.mark.parametrize("url", ["http://user:S3CRETPW@[::1", "http://user:S3CRETPW@[zz]/"])
def test_review_slo_check_malformed_ipv6_prometheus_url_is_usage_error(url):
    done = run_x0ctl("slo", "check", "-p", url, timeout=60)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert_one_line_error(done.stderr, "--prometheus")
    assert "S3CRETPW" not in done.stderr + done.stdout
