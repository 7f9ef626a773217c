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


def test_review_doctor_with_malformed_prometheus_url_env_does_not_crash():
    """`X0CTL_PROMETHEUS_URL='http://u:pw@[::1' x0ctl doctor` is exit 70 too (same urlsplit)."""
    done = run_x0ctl("doctor", env={"X0CTL_PROMETHEUS_URL": "http://user:S3CRETPW@[::1"}, timeout=120)
    assert done.returncode in (1, 2), (done.returncode, done.stderr)
    assert "internal error" not in done.stderr
    assert "S3CRETPW" not in done.stderr + done.stdout
