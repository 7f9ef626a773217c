"""Where x0ctl finds Prometheus by default: the URL, the timeout and the environment variables.

Kept apart from `x0ctl.slo.client` so that declaring the connection options (`x0ctl.cli.options`)
costs nothing at start-up: `x0ctl slo status --help` loads no part of the SLO package.
"""

from __future__ import annotations

DEFAULT_URL = "http://127.0.0.1:9090"
DEFAULT_TIMEOUT = 5.0
URL_ENV = "X0CTL_PROMETHEUS_URL"
TOKEN_ENV = "X0CTL_PROMETHEUS_TOKEN"
BASIC_AUTH_ENV = "X0CTL_PROMETHEUS_BASIC_AUTH"
