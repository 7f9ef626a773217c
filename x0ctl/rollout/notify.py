"""Webhook notifications: one JSON POST per step, pause, rollback, promotion or failure.

A notification that cannot be delivered never stops a rollout; the failure goes into the journal.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

NOTIFY_EVENTS = ("step", "paused", "rolled-back", "promoted", "failed")
TIMEOUT = 5.0


def post_json(url: str, payload: dict, timeout: float = TIMEOUT) -> str | None:
    """POST payload; None on a 2xx answer, else a one-line reason (never the URL's credentials)."""
    body = json.dumps(payload, default=str).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "x0ctl-rollout"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if 200 <= response.status < 300:
                return None
            return f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"unreachable: {getattr(reason, 'strerror', None) or type(reason).__name__}"
