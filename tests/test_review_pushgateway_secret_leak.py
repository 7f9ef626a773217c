"""Review: a Pushgateway URL's password and query string are printed in x0ctl's errors.

`x0ctl handshake selftest -n 1 --pushgateway 'http://user:PGSECRET@127.0.0.1:PORT/?token=QSECRET'`
ends with `x0ctl: error: cannot push metrics to http://user:PGSECRET@...?token=QSECRET: ...`
(x0ctl/handshake/metrics.py:HandshakeMetrics.push formats the raw URL), and a malformed one is echoed
whole by the --pushgateway check in x0ctl/cli/handshake.py. Every other URL goes through
x0ctl.urls.redact_url.
"""

from __future__ import annotations

import socket

import pytest

from tests.conftest import assert_one_line_error, run_x0ctl


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("shape", ["unreachable", "malformed"])
def test_review_pushgateway_credentials_never_printed(shape):
    if shape == "unreachable":
        url = f"http://user:PGSECRET@127.0.0.1:{_closed_port()}/?token=QSECRET"
    else:
        url = "http://user:PGSECRET@[::1/?token=QSECRET"
    done = run_x0ctl("handshake", "selftest", "-n", "1", "--pushgateway", url, timeout=120)
    assert done.returncode in (2, 4), (done.returncode, done.stderr)
    assert_one_line_error(done.stderr)
    for secret in ("PGSECRET", "QSECRET"):
        assert secret not in done.stderr + done.stdout, done.stderr
