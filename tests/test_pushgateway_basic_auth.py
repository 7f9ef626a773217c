"""`--pushgateway http://user:password@host:port` pushes with HTTP basic auth.

The userinfo used to reach urllib as part of the host name ("user:pw@127.0.0.1" cannot be
resolved); now it becomes an `Authorization: Basic` header and the request goes to host:port.
A loopback HTTP server records what arrives.
"""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from x0ctl.handshake.metrics import HandshakeMetrics


def test_push_with_userinfo_sends_basic_auth_to_the_host():
    seen: list[tuple[str, str, str | None]] = []

    class Gateway(BaseHTTPRequestHandler):
        def do_PUT(self):  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append((self.command, self.path, self.headers.get("Authorization")))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        HandshakeMetrics().push(f"http://pg%40user:s3cr%3At@127.0.0.1:{port}", job="hs", grouping_key={})
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert len(seen) == 1
    method, path, authorization = seen[0]
    assert (method, path) == ("PUT", "/metrics/job/hs")
    assert authorization == "Basic " + base64.b64encode(b"pg@user:s3cr:t").decode()
