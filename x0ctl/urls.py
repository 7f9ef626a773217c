"""URLs as x0ctl shows and records them: userinfo and query values replaced by `***`.

Every URL that reaches output, an error message or a rollout journal goes through `redact_url`:
`https://user:pw@prom:9090/api?token=abc&x=` becomes `https://***@prom:9090/api?token=***&x=***`.
Query names stay (they say what was there); their values, and any userinfo, never leave the
process. A redacted URL cannot be used again: whoever needs the real one takes it from a flag, the
environment or a file (`url_needs_secrets` tells them so).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

REDACTED = "***"


def redact_url(url: str) -> str:
    """The URL without its secrets, for messages, output and journals."""
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # not even a URL: show none of it rather than guess which part is secret
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        if ":" in host:  # an IPv6 literal keeps its brackets
            host = f"[{host}]"
        netloc = f"{REDACTED}@{host}" + (f":{port}" if port is not None else "")
    query = parts.query
    if query:
        names = [name for name, _ in parse_qsl(query, keep_blank_values=True)] or [query]
        query = "&".join(f"{quote(name, safe='')}={REDACTED}" for name in names)
    fragment = REDACTED if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def url_has_secrets(url: str) -> bool:
    """True when redact_url would hide something (userinfo, a query or a fragment)."""
    return redact_url(url) != str(url)


def url_needs_secrets(url: str | None) -> bool:
    """True for a URL that was recorded redacted: its secrets must come from elsewhere."""
    return bool(url) and REDACTED in str(url)
