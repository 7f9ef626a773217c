"""post_json: a notification never raises into the rollout engine, and userinfo becomes basic auth."""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from x0ctl.rollout.notify import post_json


@pytest.mark.parametrize("url", ["http://user:HOOKPW@[::1/hook", "http://127.0.0.1:notaport/hook",
                                 "http://user:HOOKPW@127.0.0.1:1/hook\r\nX: y", "nonsense"])
def test_post_json_returns_a_reason_instead_of_raising(url):
    problem = post_json(url, {"event": "step"}, timeout=2)
    assert problem and "HOOKPW" not in problem


def test_post_json_sends_userinfo_as_basic_auth():
    seen: list[tuple[str, str | None]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append((self.path, self.headers.get("Authorization")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        problem = post_json(f"http://hook:pw%3A1@127.0.0.1:{server.server_address[1]}/h?x=1", {"event": "step"})
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert problem is None
    assert seen == [("/h?x=1", "Basic " + base64.b64encode(b"hook:pw:1").decode())]
