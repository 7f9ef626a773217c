"""Webhook notifications: one JSON POST per step, pause, rollback, promotion or failure.

A notification that cannot be delivered never stops a rollout; the failure goes into the journal.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from urllib.parse import unquote, urlsplit, urlunsplit

NOTIFY_EVENTS = ("step", "paused", "rolled-back", "promoted", "failed")
TIMEOUT = 5.0


def post_json(url: str, payload: dict, timeout: float = TIMEOUT) -> str | None:
    """POST payload; None on a 2xx answer, else a one-line reason (never the URL's credentials).

    Never raises: whatever goes wrong is the reason the engine journals as a warning. `user:password@`
    in the URL is sent as HTTP basic auth (urllib would take it for part of the host name)."""
    body = json.dumps(payload, default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "x0ctl-rollout"}
    try:
        address, authorization = _without_userinfo(url)
        if authorization:
            headers["Authorization"] = authorization
        request = urllib.request.Request(address, data=body, method="POST", headers=headers)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if 200 <= response.status < 300:
                return None
            return f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"unreachable: {getattr(reason, 'strerror', None) or type(reason).__name__}"
    except Exception as exc:  # noqa: BLE001 - a notification never stops a rollout; the type, not the text
        return f"failed: {type(exc).__name__}"  # (an InvalidURL's text would quote the URL)


def _without_userinfo(url: str) -> tuple[str, str | None]:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else (parts.hostname or "")
    netloc = host + (f":{parts.port}" if parts.port is not None else "")
    credentials = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode()
    return (urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)),
            "Basic " + base64.b64encode(credentials).decode())
