"""doctor's later checks: the keystore and a real Prometheus."""

from __future__ import annotations

from .conftest import assert_one_line_error
from .promserver import closed_port, prometheus_fixture

# One tiny series: doctor only asks `vector(1)`, but the server must be a real, ready Prometheus.
prometheus = prometheus_fixture(lambda: "# TYPE up gauge\nup 1 1748736000\n# EOF\n")


def test_keystore_missing_is_a_note_not_a_failure(cli, tmp_path):
    data = cli.json("doctor", "--no-measure", "--keystore", str(tmp_path / "keys"))
    assert data["ok"] is True
    assert data["keystore"]["exists"] is False
    assert any(c["name"] == "keystore" and c["status"] == "info" for c in data["checks"])


def test_healthy_and_broken_keystore(cli, tmp_path):
    keystore = tmp_path / "keys"
    generated = cli("keys", "generate", "--keystore", str(keystore), "--node", "node-1")
    assert generated.exit_code == 0, generated.stderr
    data = cli.json("doctor", "--no-measure", "--keystore", str(keystore))
    assert data["keystore"]["ok"] is True
    assert set(data["keystore"]["active"]) == {"kem", "sig"}
    # Swap the signing key for another node's: the keystore no longer matches its public keys.
    other = tmp_path / "other"
    assert cli("keys", "generate", "--keystore", str(other), "--node", "node-2").exit_code == 0
    (ours,) = keystore.glob("keys/sig-*.key.pem")
    (theirs,) = other.glob("keys/sig-*.key.pem")
    ours.write_bytes(theirs.read_bytes())
    result = cli("doctor", "--no-measure", "--keystore", str(keystore), "-o", "json")
    assert result.exit_code == 1
    assert_one_line_error(result.stderr, "keystore")


def test_prometheus_configured_and_reachable(cli, prometheus):
    data = cli.json("doctor", "--no-measure", "--prometheus", prometheus.url)
    assert data["prometheus"]["reachable"] is True
    assert data["ok"] is True


def test_prometheus_configured_but_unreachable_fails(cli):
    url = f"http://127.0.0.1:{closed_port()}"
    result = cli("doctor", "--no-measure", "-o", "json", env={"X0CTL_PROMETHEUS_URL": url})
    assert result.exit_code == 1
    assert_one_line_error(result.stderr, "prometheus")


def test_prometheus_not_configured_is_only_a_note(cli):
    data = cli.json("doctor", "--no-measure", env={"X0CTL_PROMETHEUS_URL": ""})
    assert data["prometheus"]["configured"] is False
    assert data["ok"] is True
