"""HOST:PORT parsing for the handshake commands and fleet inventories, decided on the text alone."""

from __future__ import annotations

import pytest

from x0ctl.errors import UsageError
from x0ctl.handshake.net import parse_address


@pytest.mark.parametrize(("text", "default_port", "expected"), [
    ("127.0.0.2:7000", None, ("127.0.0.2", 7000)),
    ("[::1]:7000", None, ("::1", 7000)),
    ("[::1]", 7001, ("::1", 7001)),
    ("::1", 7001, ("::1", 7001)),
    ("node-a", 7001, ("node-a", 7001)),
])
def test_addresses_that_parse(text, default_port, expected):
    assert parse_address(text, default_port=default_port) == expected


@pytest.mark.parametrize("text", ["[::1", "[::1:7000", "[::1]:", "[::1]x", "[zz]:1", "::1:7000", "a]:1",
                                  "127.0.0.1:abc", "127.0.0.1:70000", "bad host:1", "host\x00:1", ":7000"])
def test_malformed_addresses_are_usage_errors(text):
    with pytest.raises(UsageError, match="is not HOST:PORT"):
        parse_address(text)
