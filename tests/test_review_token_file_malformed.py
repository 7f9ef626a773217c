"""Review: a bearer-token file with a line break inside the token is I/O failure (4), not bad input (2).

README "Exit codes": a file the operator names that is readable but malformed is exit 2. A token file
holding `TOKEN\\r\\nX-Evil: 1` reaches the HTTP layer, which refuses the header; x0ctl reports
`request to ... failed: InvalidHeader` with exit 4, as if Prometheus were unreachable, so a runbook
retries instead of fixing the file. Fault: x0ctl/slo/client.py (token read without checking it is
one header-safe line).
"""

from __future__ import annotations

import socket

from tests.conftest import assert_one_line_error, run_x0ctl


def test_review_slo_token_file_with_embedded_newline_is_bad_input(tmp_path):
    token = tmp_path / "token"
    token.write_text("TOKSECRET\r\nX-Evil: 1\n")
    token.chmod(0o600)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        done = run_x0ctl("slo", "query", "up", "-p", f"http://127.0.0.1:{port}", "--timeout", "2",
                         "--token-file", str(token), timeout=60)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert_one_line_error(done.stderr, "token")
    assert "TOKSECRET" not in done.stderr + done.stdout
