"""Review: a Prometheus URL with a query string (`https://prom/?token=abc`, the form docs/slo.md shows
redacted) is neither used nor refused: x0ctl builds `<url>/api/v1/query` by string append, asks
`/?token=abc/api/v1/query`, gets Prometheus' web UI page and exits 4 with
`request to http://127.0.0.1:PORT/?token=*** failed: JSONDecodeError`, which reads as "Prometheus is
down". Either the query values go along with every API request (exit 0 here) or the URL is refused as
bad input (exit 2, one line). Fault: x0ctl/slo/client.py (client_from_options / the request URL).
"""

from __future__ import annotations

import pytest

from tests.conftest import assert_one_line_error, run_x0ctl
from tests.promserver import PrometheusUnavailable, start_prometheus

AT = 1748736000


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    try:
        server = start_prometheus(tmp_path_factory.mktemp("prometheus"),
                                  f"# TYPE x0_review_up gauge\nx0_review_up 1 {AT}\n# EOF\n")
    except PrometheusUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


def test_review_slo_query_prometheus_url_with_query_string(prometheus):
    done = run_x0ctl("slo", "query", "x0_review_up", "-p", f"{prometheus.url}/?token=QSECRET",
                     "--at", str(AT), "-o", "json", timeout=60)
    assert done.returncode in (0, 2), (done.returncode, done.stderr)
    if done.returncode == 2:
        assert_one_line_error(done.stderr, "--prometheus")
    else:
        assert "x0_review_up" in done.stdout
    assert "QSECRET" not in done.stderr + done.stdout
