"""Review: `handshake probe '[::1'` (an unclosed IPv6 bracket) is not refused as bad input.

The HOST:PORT parser splits at the last colon and takes host '[:' and port 1; the probe then asks the
resolver for '[:' (a name lookup that leaves the host), reports `cannot complete a handshake with
[[:]:1` and exits 4 as if a peer were down. `'127.0.0.1:abc'` on the same option gives exit 2
"is not HOST:PORT". Fault: the endpoint parser used by x0ctl/cli/handshake.py (x0ctl/handshake/net.py).
"""

from __future__ import annotations

from tests.conftest import assert_one_line_error, run_x0ctl


def test_review_handshake_probe_unclosed_ipv6_bracket_is_usage_error():
    done = run_x0ctl("handshake", "probe", "[::1", "--insecure-any-peer", "--timeout", "0.5", timeout=60)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert_one_line_error(done.stderr, "HOST:PORT")
