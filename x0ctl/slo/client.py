"""A Prometheus HTTP API client for SLO queries: one timeout, no hidden retries, one-line errors.

Built on prometheus-api-client, but only /api/v1/query is used, so Thanos Query, Mimir and
VictoriaMetrics work too. The library retries 3 times with exponential backoff by default; here a
dead server fails at once (Retry(total=0)) so a runbook or a rollout gate is never stalled for
seconds. Errors map to: unreachable / HTTP error / not a Prometheus API -> IOFailure (exit 4);
the server rejecting the PromQL (HTTP 400 bad_data) -> BadQuery (exit 2). Credentials never
appear in messages.
"""

from __future__ import annotations

import contextlib

import ast
import json
import math
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from x0ctl.connection import BASIC_AUTH_ENV, DEFAULT_TIMEOUT, DEFAULT_URL, TOKEN_ENV, URL_ENV
from x0ctl.errors import IOFailure, UsageError
from x0ctl.textfile import read_text
from x0ctl.urls import redact_url

MAX_CONCURRENT_QUERIES = 8


class BadQuery(UsageError):
    """The server rejected the PromQL (HTTP 400 bad_data)."""


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float | None  # None for NaN/Inf: "no usable data"
    raw: str = ""


@dataclass
class QueryResult:
    query: str
    result_type: str
    samples: list[Sample]
    seconds: float  # wall time of this HTTP request, as the client saw it


@dataclass
class QueryTiming:
    query: str
    seconds: float


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


@dataclass
class PrometheusClient:
    url: str
    timeout: float = DEFAULT_TIMEOUT
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    timings: list[QueryTiming] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self._lock = threading.Lock()
        self._connection = None

    @property
    def display_url(self) -> str:
        return redact_url(self.url)

    def _connect(self):
        if self._connection is None:
            import requests
            from prometheus_api_client import PrometheusConnect
            from urllib3.util.retry import Retry

            session = requests.Session()
            session.verify = self.ca_bundle or True
            if self.client_cert:
                session.cert = (self.client_cert, self.client_key) if self.client_key else self.client_cert
            self._connection = PrometheusConnect(
                url=self.url, headers=dict(self.headers) or None, auth=self.basic_auth, session=session,
                retry=Retry(total=0, connect=0, read=0, redirect=2, status=0, raise_on_status=False),
                timeout=self.timeout,
            )
        return self._connection

    def query(self, promql: str, at: float | None = None) -> QueryResult:
        """One instant query at `at` (unix seconds; the server's now when None)."""
        params = {"time": _format_time(at)} if at is not None else {}
        started = time.perf_counter()
        with self._translated_errors():
            data = self._connect().custom_query(promql, params=params)
        seconds = time.perf_counter() - started
        with self._lock:
            self.timings.append(QueryTiming(promql, seconds))
        return QueryResult(promql, *_normalise(data), seconds=seconds)

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[dict]:
        """A range query (/api/v1/query_range): the matrix's series, each {"metric", "values"}."""
        import datetime as dt

        with self._translated_errors():
            return self._connect().custom_query_range(
                promql, start_time=dt.datetime.fromtimestamp(start, tz=dt.UTC),
                end_time=dt.datetime.fromtimestamp(end, tz=dt.UTC), step=f"{step:g}s",
            ) or []

    @contextlib.contextmanager
    def _translated_errors(self):
        """Every failure of one HTTP call as one X0ctlError: bad PromQL exit 2, the rest exit 4."""
        import requests
        from prometheus_api_client.exceptions import PrometheusApiClientException

        try:
            yield
        except PrometheusApiClientException as exc:
            raise _http_error(str(exc), self.display_url) from None
        except requests.exceptions.SSLError as exc:
            raise IOFailure(f"TLS failure talking to {self.display_url}: {_reason(exc)}",
                            hint="check --ca-bundle / --client-cert") from None
        except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
            # without retries, urllib3 reports a read timeout as a ConnectionError
            reason = "timed out" if isinstance(exc, requests.exceptions.Timeout) else _reason(exc)
            if reason == "timed out":
                raise IOFailure(f"Prometheus at {self.display_url} did not answer within {self.timeout:g} s",
                                hint="raise --timeout or check the server") from None
            raise IOFailure(f"cannot reach Prometheus at {self.display_url}: {reason}") from None
        except requests.exceptions.RequestException as exc:
            raise IOFailure(f"request to {self.display_url} failed: {type(exc).__name__}") from None
        except (ValueError, KeyError, TypeError):
            raise IOFailure(f"{self.display_url} did not answer like a Prometheus HTTP API") from None

    def query_many(self, queries: dict, at: float | None = None) -> dict:
        """Run {key: promql} concurrently; the first error (in key order) is raised after all finish."""
        if not queries:
            return {}
        workers = min(MAX_CONCURRENT_QUERIES, len(queries))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="x0ctl-query") as pool:
            futures = {key: pool.submit(self.query, promql, at) for key, promql in queries.items()}
        results, errors = {}, []
        for key, future in futures.items():
            error = future.exception()
            if error is not None:
                errors.append(error)
            else:
                results[key] = future.result()
        if errors:
            # a bad query is the more useful message when the server is otherwise fine
            raise next((e for e in errors if isinstance(e, BadQuery)), errors[0])
        return results

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _format_time(at: float) -> str:
    return f"{at:.3f}".rstrip("0").rstrip(".")


def _normalise(data) -> tuple[str, list[Sample]]:
    """custom_query returns data.result: a list of series, or [ts, "v"] for scalars and strings."""
    if isinstance(data, list) and len(data) == 2 and not isinstance(data[0], dict):
        return "scalar", [Sample({}, _float(data[1]), str(data[1]))]
    samples = []
    for series in data:
        labels = dict(series.get("metric") or {})
        if "value" in series:
            raw = str(series["value"][1])
            samples.append(Sample(labels, _float(raw), raw))
        else:  # a range vector: report the newest point
            values = series.get("values") or []
            raw = str(values[-1][1]) if values else "NaN"
            samples.append(Sample(labels, _float(raw), raw))
    kind = "matrix" if data and "values" in data[0] else "vector"
    return kind, samples


_STATUS = re.compile(r"HTTP Status Code (\d+) \((.*)\)$", re.S)


def _http_error(message: str, url: str) -> Exception:
    match = _STATUS.search(message)
    if not match:
        return IOFailure(f"Prometheus at {url} failed: {message[:200]}")
    status = int(match.group(1))
    detail = ""
    try:  # the library puts repr(response.content) in its message
        body = ast.literal_eval(match.group(2))
        decoded = json.loads(body.decode("utf-8", "replace") if isinstance(body, bytes) else body)
    except (ValueError, SyntaxError):
        decoded = None
    if isinstance(decoded, dict):
        detail = str(decoded.get("error") or "")
        # only a Prometheus API error document means "your PromQL": a bare 400 can come from a proxy
        if status == 400 and decoded.get("status") == "error":
            return BadQuery(f"Prometheus rejected the query: {detail or decoded.get('errorType') or 'bad_data'}")
    reason = {401: "unauthorized (check the token or basic auth)", 403: "forbidden", 404: "not found (is the URL the "
              "Prometheus API root?)", 422: "the query could not be executed", 503: "unavailable or query timed out"}
    text = reason.get(status, "")
    suffix = f": {detail}" if detail else (f": {text}" if text else "")
    return IOFailure(f"Prometheus at {url} answered HTTP {status}{suffix}")


def _reason(exc: Exception) -> str:
    text = str(exc)
    for needle, reason in (("Connection refused", "connection refused"), ("Name or service not known",
                           "unknown host"), ("timed out", "timed out"), ("No route to host", "no route to host"),
                           ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed"),
                           ("CERTIFICATE_REQUIRED", "the server requires a client certificate"),
                           ("certificate required", "the server requires a client certificate"),
                           ("BAD_CERTIFICATE", "the server rejected the client certificate"),
                           ("WRONG_VERSION_NUMBER", "not a TLS server (http:// instead of https://?)"),
                           ("Network is unreachable", "network unreachable")):
        if needle in text:
            return reason
    return type(exc).__name__


def _read_secret(path: str | Path, what: str) -> str:
    value = read_text(path, f"{what} file").strip()
    if not value:
        raise UsageError(f"{what} file {path} is empty")
    return _header_safe(value, f"{what} file {path}")


def _header_safe(value: str, source: str) -> str:
    """A secret that goes into an HTTP header: a line break would end the header (and let the file add
    others), so any control character makes the file or variable malformed, exit 2, before any request."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise UsageError(f"{source} holds a line break or control character: it must be one line")
    return value


def _existing_file(path: str | None, what: str) -> str | None:
    if path and not Path(path).is_file():
        raise IOFailure(f"{what} {path} does not exist or is not a file")
    return str(path) if path else None


def _ca_bundle(path: str | None) -> str | None:
    """The CA bundle, checked to hold certificates now: garbage is bad input (2), not a TLS failure later."""
    import ssl

    path = _existing_file(path, "CA bundle")
    if path:
        try:
            ssl.create_default_context(cafile=path)
        except ssl.SSLError:
            raise UsageError(f"CA bundle {path}: no PEM certificate in it") from None
    return path


def client_from_options(
    url: str | None = None,
    *,
    token_file: str | Path | None = None,
    basic_auth_file: str | Path | None = None,
    ca_bundle: str | None = None,
    client_cert: str | None = None,
    client_key: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    token_env: str = TOKEN_ENV,
    basic_auth_env: str = BASIC_AUTH_ENV,
    environ: dict | None = None,
) -> PrometheusClient:
    """A client from CLI-style options; the URL falls back to X0CTL_PROMETHEUS_URL, then 127.0.0.1:9090.

    A bearer token comes from token_file or the variable named by token_env (X0CTL_PROMETHEUS_TOKEN);
    basic auth ("user:password") from basic_auth_file or basic_auth_env (X0CTL_PROMETHEUS_BASIC_AUTH).
    Files win over the environment. Secrets are only ever sent as headers, never shown.
    """
    env = os.environ if environ is None else environ
    url = (url or env.get(URL_ENV) or DEFAULT_URL).strip()
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # ValueError: unclosed "[", bad IPv6 literal, port not 0..65535
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host \
            or any(c.isspace() or not c.isprintable() for c in url):
        raise UsageError(f"--prometheus: {redact_url(url)!r} is not an http(s) URL")
    if parts.query or parts.fragment:
        # the API path is appended to the URL, and a token in a URL ends up in logs and shell history
        raise UsageError(f"--prometheus {redact_url(url)}: a Prometheus URL takes no query string",
                         hint="give a bearer token with --token-file or $X0CTL_PROMETHEUS_TOKEN "
                              "(or the variable --token-env names)")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise UsageError("--timeout must be a positive number of seconds")
    headers: dict[str, str] = {}
    token = _read_secret(token_file, "token") if token_file else (env.get(token_env) or "").strip()
    if token and not token_file:
        _header_safe(token, f"token from ${token_env}")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    basic = _read_secret(basic_auth_file, "basic auth") if basic_auth_file else (env.get(basic_auth_env) or "").strip()
    if basic and not basic_auth_file:
        _header_safe(basic, f"basic auth from ${basic_auth_env}")
    auth = None
    if basic:
        if ":" not in basic:
            raise UsageError("basic auth must be 'user:password'")
        user, password = basic.split(":", 1)
        auth = (user, password)
    if token and auth:
        raise UsageError("give a bearer token or basic auth, not both")
    if (parts.username or parts.password) and (token or auth):
        raise UsageError(f"--prometheus {redact_url(url)} carries credentials in the URL: give them there or as a "
                         "token/basic-auth file, not both")
    if client_key and not client_cert:
        raise UsageError("--client-key needs --client-cert")
    return PrometheusClient(
        url=url, timeout=float(timeout), headers=headers, basic_auth=auth,
        ca_bundle=_ca_bundle(ca_bundle), client_cert=_existing_file(client_cert, "client certificate"),
        client_key=_existing_file(client_key, "client key"),
    )

