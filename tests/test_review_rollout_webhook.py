"""Review: --notify-webhook is checked with a regex only.

1. A malformed URL that starts with http:// (`http://u:pw@[::1/h`) passes the plan check
   (x0ctl/rollout/plan.py: the `^https?://` match), the rollout starts and moves traffic
   (set-weight 10% runs), then the first notification raises ValueError inside urllib
   (x0ctl/rollout/notify.py:post_json is not guarded against it; engine.record calls it) and
   x0ctl exits 70: the canary is left at 10%, orphaned, nobody rolls it back.
2. A webhook that is not http(s) is refused with the whole URL, password and query, in the error
   (plan.py: `f"{webhook!r} is not an http(s) URL"`), unlike every other URL (x0ctl.urls.redact_url).
"""

from __future__ import annotations

import socket

from tests.conftest import assert_one_line_error, run_x0ctl


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _canary(tmp_path, webhook: str):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    marker = tmp_path / "weights"
    done = run_x0ctl(
        "rollout", "canary", "-t", "app", "--version", "v2", "--steps", "10:1s,100", "--interval", "1s",
        "--set-weight-cmd", f"echo {{weight}} >> {marker}", "--rollback-cmd", f"echo 0 >> {marker}",
        "--state", str(state), "-p", f"http://127.0.0.1:{_closed_port()}", "--notify-webhook", webhook,
        timeout=120)
    return done, marker


def test_review_rollout_malformed_webhook_refused_before_any_traffic_moves(tmp_path):
    done, marker = _canary(tmp_path, "http://user:HOOKSECRET@[::1/hook?sig=QSECRET")
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert_one_line_error(done.stderr, "webhook")
    assert not marker.exists(), f"the driver moved traffic: {marker.read_text()!r}"


def test_review_rollout_non_http_webhook_error_hides_its_secrets(tmp_path):
    done, _ = _canary(tmp_path, "hxxp://user:HOOKSECRET@127.0.0.1/hook?sig=QSECRET")
    assert done.returncode == 2, (done.returncode, done.stderr)
    for secret in ("HOOKSECRET", "QSECRET"):
        assert secret not in done.stderr + done.stdout, done.stderr
