"""Issue 16: `handshake probe --inventory`: every peer of an inventory, concurrently, against real
`serve` processes on loopback; the inventory formats; the exit codes and the per-peer metrics."""

from __future__ import annotations

import json

import pytest

from tests.conftest import assert_one_line_error
from tests.pushgateway import free_port
from tests.test_handshake_net import start_server
from x0ctl.errors import UsageError
from x0ctl.handshake.fleet import load_fleet
from x0ctl.schemas import load_schema

jsonschema = pytest.importorskip("jsonschema", reason="the `test` extra provides jsonschema")
WRONG = "sha256:" + "0123abcd" * 8


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    started = [start_server(tmp_path_factory.mktemp(f"fleet{index}"), "--allow-any-peer") for index in range(2)]
    yield started
    for server in started:
        server.stop()


def _assert_valid(data: dict) -> None:
    schema = load_schema("handshake probe", "inventory")
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(data))
    assert not errors, [f"{list(error.absolute_path)}: {error.message}" for error in errors]


def test_a_fleet_with_failing_peers_exits_1_naming_them(cli, servers, tmp_path):
    a, b = servers
    inventory = tmp_path / "peers.yaml"
    closed = free_port()
    inventory.write_text(f"peers:\n  - name: node-a\n    address: {a.address}\n    fingerprint: {a.identity}\n"
                         f"  - {b.address} {b.identity}\n"
                         f"  - name: impostor\n    host: 127.0.0.1\n    port: {a.port}\n    fingerprint: {WRONG}\n"
                         f"  - name: gone\n    address: 127.0.0.1:{closed}\n    fingerprint: {a.identity}\n")
    metrics = tmp_path / "fleet.prom"
    result = cli("handshake", "probe", "--inventory", str(inventory), "--count", "2", "--concurrency", "4",
                 "--timeout", "5", "--node", "prober", "--metrics-file", str(metrics), "-o", "json")
    assert result.exit_code == 1, result.stderr
    assert_one_line_error(result.stderr, "2 of 4 peers", "impostor (peer:rejected)", "gone (connection)")
    data = json.loads(result.stdout)
    _assert_valid(data)
    peers = {peer["name"]: peer for peer in data["peers"]}
    assert list(peers) == ["node-a", b.address, "impostor", "gone"]  # inventory order
    assert data["failed_peers"] == ["impostor", "gone"] and data["summary"] == {"peers": 4, "ok": 2, "failed": 2}
    assert peers["node-a"]["ok"] and peers["node-a"]["successes"] == 2
    assert peers["node-a"]["peer_fingerprint"] == a.identity and peers[b.address]["peer_fingerprint"] == b.identity
    assert peers["node-a"]["latency_ms"]["p50"] > 0 and peers["node-a"]["reason"] is None
    assert peers["impostor"]["reason"] == "peer:rejected" and peers["impostor"]["latency_ms"]["p95"] is None
    assert peers["gone"]["reason"] == "connection" and "refused" in peers["gone"]["error"]

    from prometheus_client.parser import text_string_to_metric_families

    samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
               for family in text_string_to_metric_families(metrics.read_text()) for sample in family.samples}
    node = ("node", "prober")
    assert samples[("pqc_handshake_success_total", (node, ("peer", "node-a")))] == 2
    assert samples[("pqc_handshake_failure_total", (node, ("origin", "local"), ("peer", "gone"),
                                                    ("reason", "connection")))] == 2
    assert samples[("pqc_handshake_failure_total", (node, ("origin", "peer"), ("peer", "impostor"),
                                                    ("reason", "rejected")))] == 2


def test_a_healthy_fleet_in_csv_prints_a_table_and_exits_0(cli, servers, tmp_path):
    a, b = servers
    inventory = tmp_path / "peers.csv"
    inventory.write_text("# name,address,fingerprint\nname,address,fingerprint\n"
                         f"edge-a,{a.address},{a.identity}\nedge-b,{b.address},{b.identity[:7 + 32]}\n")
    result = cli("handshake", "probe", "--inventory", str(inventory))
    assert result.exit_code == 0, result.stderr
    assert "2 ok, 0 failed" in result.stdout and "edge-a" in result.stdout and "edge-b" in result.stdout


def test_a_fleet_of_unreachable_peers_is_an_io_failure(cli, tmp_path):
    inventory = tmp_path / "peers.csv"
    inventory.write_text(f"127.0.0.1:{free_port()},{WRONG},x\n127.0.0.1:{free_port()},{WRONG},y\n")
    data = cli.json("handshake", "probe", "--inventory", str(inventory), "--timeout", "2", expect=4)
    _assert_valid(data)
    assert data["failed_peers"] == ["x", "y"] and not data["ok"]


def test_inventory_forms(tmp_path):
    fp = "sha256:" + "ab" * 32
    rollout = tmp_path / "nodes.yaml"
    rollout.write_text(f"nodes:\n  - name: n1\n    host: 10.0.0.1\n    fingerprint: {fp}\n"
                       f"  - name: n2\n    host: '[fd00::2]:8443'\n    peer_fingerprint: {fp}\n")
    assert [(p.name, p.host, p.port) for p in load_fleet(rollout)] == [("n1", "10.0.0.1", 7443),
                                                                      ("n2", "fd00::2", 8443)]
    plain = tmp_path / "peers.csv"
    plain.write_text(f"10.0.0.3:7000,{fp}\n")
    [peer] = load_fleet(plain)
    assert (peer.name, peer.target, peer.fingerprint) == ("10.0.0.3:7000", "10.0.0.3:7000", fp)


@pytest.mark.parametrize(("text", "suffix", "fragment"), [
    ("peers: []\n", ".yaml", "lists no peer"),
    ("- 10.0.0.1:7443 sha256:zz\n", ".yaml", "entry 1"),
    ("- {name: a, fingerprint: sha256:" + "ab" * 32 + "}\n", ".yaml", "no address"),
    ("- {name: a, host: h, port: seventy}\n", ".yaml", "not a number"),
    ("- a:1 " + "sha256:" + "ab" * 32 + "\n- {name: 'a:1', address: 'b:2'}\n", ".yaml", "listed twice"),
    ("- [unclosed\n", ".yaml", "not valid YAML"),
    ("10.0.0.1:99999,x\n", ".csv", "port"),
])
def test_malformed_inventories_are_usage_errors(tmp_path, text, suffix, fragment):
    path = tmp_path / f"inventory{suffix}"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_fleet(path)
    assert fragment in caught.value.message


def test_fleet_option_errors(cli, tmp_path, servers):
    a, _ = servers
    unpinned = tmp_path / "peers.yaml"
    unpinned.write_text(f"- {a.address}\n")
    cases = [
        (("--inventory", str(unpinned)), 2, "no fingerprint for"),
        (("--inventory", str(unpinned), a.address), 2, "give no HOST:PORT"),
        (("--inventory", str(unpinned), "--peer-fingerprint", a.identity), 2, "give no HOST:PORT"),
        (("--inventory", str(tmp_path / "missing.yaml")), 4, "missing.yaml"),
        ((), 2, "HOST:PORT (or --inventory FILE)"),
    ]
    for args, code, fragment in cases:
        result = cli("handshake", "probe", *args)
        assert result.exit_code == code, (args, result.stderr)
        assert_one_line_error(result.stderr, fragment)
    accepted = cli.json("handshake", "probe", "--inventory", str(unpinned), "--insecure-any-peer")
    assert accepted["ok"] and accepted["peers"][0]["pinned"] is None
