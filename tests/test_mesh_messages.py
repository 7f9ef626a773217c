"""`x0ctl quorum verify --format mesh-gossip|mesh-beacon`: captured mesh messages, verified as the mesh signs them.

Messages come from tests/mesh_encoder.py, written from the mesh's documented encoding with
pyca/cryptography's ML-DSA-65, independently of x0ctl.mesh.messages.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from x0ctl.mesh import mesh_key_id
from x0ctl.mesh.messages import beacon_signed_bytes, gossip_signed_bytes
from x0ctl.schemas import load_schema

from .conftest import assert_one_line_error
from .mesh_encoder import MeshNode, beacon_line, gossip_body, gossip_line

jsonschema = pytest.importorskip("jsonschema", reason="the `test` extra provides jsonschema")

T0 = 1748736000.25


@pytest.fixture(scope="module")
def nodes():
    return {name: MeshNode.new(name) for name in ("node-a", "node-b", "mallory")}


@pytest.fixture
def pins(nodes, tmp_path):
    path = tmp_path / "pins.yaml"
    path.write_text("".join(f"{name}: {node.public_key.hex()}\n" for name, node in nodes.items()
                            if name != "mallory"))
    return path


@pytest.fixture
def verify(cli, tmp_path):
    def run(lines: list[str], *args: str, fmt: str = "mesh-gossip", expect: int = 0):
        capture = tmp_path / "capture.jsonl"
        capture.write_text("\n".join(lines) + "\n")
        data = cli.json("quorum", "verify", "--format", fmt, str(capture), *args, expect=expect)
        validator = jsonschema.Draft202012Validator(load_schema("quorum verify"))
        assert not list(validator.iter_errors(data))
        return data

    return run


def codes(message: dict) -> set[str]:
    return {f["code"] for f in message["findings"]}


def test_the_encoder_matches_the_mesh_bytes_written_out():
    """The signed bytes, spelled out: Python's default separators for gossip, compact for beacons."""
    assert gossip_body("node_failure", "node-a", 1.5, 7, 0, {"b": 1, "a": [1, 2]}) == (
        b'{"epoch": 0, "nonce": 7, "payload": {"a": [1, 2], "b": 1}, "sender": "node-a", "timestamp": 1.5, '
        b'"type": "node_failure"}')
    assert gossip_signed_bytes({"type": "node_failure", "sender": "node-a", "timestamp": 1.5, "nonce": 7, "epoch": 0,
                                "payload": {"b": 1, "a": [1, 2]}}) == gossip_body("node_failure", "node-a", 1.5, 7,
                                                                                  0, {"b": 1, "a": [1, 2]})
    assert beacon_signed_bytes("n1", 5, "x", ["b", "a"]) == \
        b'{"neighbors":["a","b"],"node_id":"n1","nonce":"x","timestamp":5.0}'


def test_mesh_key_id_is_the_first_8_bytes_of_sha256(nodes):
    key = nodes["node-a"].public_key
    assert mesh_key_id(key) == hashlib.sha256(key).digest()[:8].hex()


def test_genuine_pinned_gossip_is_ok(verify, nodes, pins):
    lines = [gossip_line(nodes["node-a"], timestamp=T0 + i, epoch=0, extra={"received_at": T0 + i + 1})
             for i in range(3)]
    lines.append(gossip_line(nodes["node-b"], message_type="key_rotation", timestamp=T0, payload={"epoch": 1},
                             encoding="base64", extra={"received_at": T0}))
    data = verify(lines, "--keys", str(pins))
    assert data["ok"] is True and data["summary"]["verdicts"] == {"ok": 4, "warn": 0, "fail": 0}
    assert data["summary"]["signatures"]["valid"] == 4 and data["summary"]["pinned"] == 4
    first = data["messages"][0]
    assert first["key_id"] == mesh_key_id(nodes["node-a"].public_key) and first["binding"] == "pinned"
    assert first["sender"] == "node-a" and first["type"] == "node_failure" and first["epoch"] == 0


def test_separators_are_part_of_the_signature(verify, nodes):
    gossip = verify([gossip_line(nodes["node-a"], compact=True)], expect=1)
    assert gossip["messages"][0]["signature"] == "invalid"
    beacon = verify([beacon_line(nodes["node-a"], spaced=True)], fmt="mesh-beacon", expect=1)
    assert beacon["messages"][0]["signature"] == "invalid"


def test_forged_payload_fails(verify, nodes, pins, cli, tmp_path):
    line = gossip_line(nodes["node-a"], tamper={"payload": {"node": "node-b", "reason": "unreachable"}})
    data = verify([line, gossip_line(nodes["node-b"])], "--keys", str(pins), expect=1)
    assert data["messages"][0]["signature"] == "invalid" and "signature_invalid" in codes(data["messages"][0])
    assert data["messages"][1]["verdict"] == "ok"
    capture = tmp_path / "capture.jsonl"
    result = cli("quorum", "verify", "--format", "mesh-gossip", str(capture), "--keys", str(pins),
                 env={"COLUMNS": "160"})
    assert result.exit_code == 1
    assert_one_line_error(result.stderr, "1 of 2 messages failed", "signature_invalid 1")
    assert "node-a" in result.stdout and "signature_invalid" in result.stdout


def test_substituted_key_passes_the_mesh_but_not_the_pins(verify, nodes, pins):
    """Public-key manipulation: mallory signs as node-a with her own key; the mesh checks only the embedded key."""
    line = gossip_line(nodes["mallory"], sender="node-a")
    unpinned = verify([line])
    assert unpinned["messages"][0]["signature"] == "valid"
    assert unpinned["messages"][0]["binding"] == "unpinned" and unpinned["messages"][0]["verdict"] == "warn"
    pinned = verify([line], "--keys", str(pins), expect=1)
    assert pinned["messages"][0]["binding"] == "mismatch" and "key_mismatch" in codes(pinned["messages"][0])
    stranger = verify([gossip_line(nodes["mallory"])], "--keys", str(pins), expect=1)
    assert stranger["messages"][0]["binding"] == "unknown-sender"


def test_pins_by_fingerprint(verify, cli, nodes, tmp_path):
    from x0ctl.pqc.fingerprint import fingerprint

    pins = tmp_path / "fp.json"
    pins.write_text(json.dumps({"node-a": [fingerprint("ML-DSA-65", nodes["node-a"].public_key)[:7 + 40]]}))
    data = verify([gossip_line(nodes["node-a"])], "--keys", str(pins))
    assert data["messages"][0]["binding"] == "pinned"
    pins.write_text(json.dumps({"node-a": "sha256:abcd"}))  # a short prefix could be met by grinding keys
    result = cli("quorum", "verify", "--format", "mesh-gossip", str(tmp_path / "capture.jsonl"), "--keys", str(pins))
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "fingerprint")


def test_replayed_gossip(verify, nodes, pins):
    line = gossip_line(nodes["node-a"], nonce=42)
    data = verify([line, gossip_line(nodes["node-b"], nonce=42), line], "--keys", str(pins), expect=1)
    verdicts = [m["verdict"] for m in data["messages"]]
    assert verdicts == ["ok", "ok", "fail"]  # the same nonce from another sender is no replay
    assert "nonce_replayed" in codes(data["messages"][2])


def test_a_forged_copy_does_not_burn_the_nonce(verify, nodes, pins):
    forged = gossip_line(nodes["node-a"], nonce=5, tamper={"payload": {}})
    data = verify([forged, gossip_line(nodes["node-a"], nonce=5)], "--keys", str(pins), expect=1)
    assert data["messages"][1]["verdict"] == "ok"


def test_epochs_behind_the_senders_newest(verify, nodes, pins):
    lines = [gossip_line(nodes["node-a"], epoch=3, nonce=1), gossip_line(nodes["node-a"], epoch=2, nonce=2),
             gossip_line(nodes["node-a"], epoch=1, nonce=3)]
    data = verify(lines, "--keys", str(pins), expect=1)
    assert [m["verdict"] for m in data["messages"]] == ["ok", "warn", "fail"]
    assert "epoch_previous" in codes(data["messages"][1]) and "epoch_stale" in codes(data["messages"][2])


def test_key_change_without_a_new_epoch(verify, nodes):
    lines = [gossip_line(nodes["node-a"], nonce=1), gossip_line(nodes["mallory"], sender="node-a", nonce=2)]
    data = verify(lines)
    assert "key_changed_same_epoch" in codes(data["messages"][1])


def test_freshness_from_received_at_or_at(verify, nodes, pins):
    old = gossip_line(nodes["node-a"], timestamp=T0, extra={"received_at": T0 + 3600})
    data = verify([old], "--keys", str(pins), expect=1)
    [finding] = [f for f in data["messages"][0]["findings"] if f["code"] == "too_old"]
    assert "the mesh accepts it" in finding["detail"]
    assert verify([old], "--keys", str(pins), "--max-age", "2h")["ok"] is True
    bare = gossip_line(nodes["node-a"], timestamp=T0)
    assert "freshness_unchecked" in codes(verify([bare], "--keys", str(pins))["messages"][0])
    future = verify([bare], "--keys", str(pins), "--at", str(T0 - 600), expect=1)
    assert "from_future" in codes(future["messages"][0])


def test_beacons_as_posted(verify, nodes, pins):
    lines = [beacon_line(nodes["node-a"], timestamp=1748736000, nonce="n-1", neighbors=["z", "b"],
                         extra={"received_at": 1748736001.5}),
             beacon_line(nodes["node-b"], timestamp=1748736000.5, nonce="n-2", extra={"received_at": 1748736001})]
    data = verify(lines, "--keys", str(pins), fmt="mesh-beacon")
    assert [m["verdict"] for m in data["messages"]] == ["ok", "ok"]
    assert data["messages"][0]["type"] == "beacon" and data["messages"][0]["epoch"] is None
    # The beacon app keeps one nonce set for every node: another node reusing a nonce is refused too.
    reuse = verify([lines[0], beacon_line(nodes["node-b"], nonce="n-1")], "--keys", str(pins), fmt="mesh-beacon",
                   expect=1)
    assert "nonce_replayed" in codes(reuse["messages"][1])
    stale = verify([beacon_line(nodes["node-a"], extra={"received_at": 1748736000 + 61})], "--keys", str(pins),
                   fmt="mesh-beacon", expect=1)
    [finding] = [f for f in stale["messages"][0]["findings"] if f["code"] == "too_old"]
    assert "refuses it too" in finding["detail"]


def test_malformed_lines_are_reported_with_the_rest(verify, nodes, pins):
    lines = ["not json", "[1, 2]", json.dumps({"type": "node_failure"}),
             gossip_line(nodes["node-a"], tamper={"signature": "00ff"}), gossip_line(nodes["node-a"])]
    data = verify(lines, "--keys", str(pins), expect=1)
    assert [m["signature"] for m in data["messages"]] == ["malformed"] * 4 + ["valid"]
    assert data["messages"][4]["line"] == 5


def test_unescaped_unicode_in_a_capture(verify, nodes, pins):
    """A capture tool writing UTF-8 as is (U+2028 included) still yields the bytes the mesh signed."""
    line = json.loads(gossip_line(nodes["node-a"], payload={"note": "line\u2028separator \u00e9"}))
    data = verify([json.dumps(line, ensure_ascii=False)], "--keys", str(pins))
    assert data["summary"]["messages"] == 1 and data["messages"][0]["signature"] == "valid"


def test_unknown_gossip_type_is_a_warning(verify, nodes):
    data = verify([gossip_line(nodes["node-a"], message_type="NODE_FAILURE")])
    assert "unknown_type" in codes(data["messages"][0])


def test_stdin(cli, nodes, pins):
    capture = gossip_line(nodes["node-a"]) + "\n"
    result = cli("quorum", "verify", "--format", "mesh-gossip", "-", "--keys", str(pins), input=capture)
    assert result.exit_code == 0, result.stderr
    assert "node-a" in result.stdout


@pytest.mark.parametrize(("args", "code", "fragment"), [
    (("--format", "mesh-gossip", "{empty}"), 2, "no messages"),
    (("--format", "mesh-gossip", "{missing}"), 4, "cannot read capture"),
    (("--format", "quic", "{capture}"), 2, "--format"),
    (("--format", "mesh-gossip", "{capture}", "--keys", "{badpins}"), 2, "pins"),
    (("--format", "mesh-gossip", "{capture}", "--max-age", "soon"), 2, "--max-age"),
])
def test_bad_input(cli, tmp_path, nodes, args, code, fragment):
    paths = {"empty": tmp_path / "empty.jsonl", "missing": tmp_path / "missing.jsonl",
             "capture": tmp_path / "c.jsonl", "badpins": tmp_path / "pins.yaml"}
    paths["empty"].write_text("\n\n")
    paths["capture"].write_text(gossip_line(nodes["node-a"]) + "\n")
    paths["badpins"].write_text("node-a: not-a-key\n")
    result = cli("quorum", "verify", *[a.format(**{k: str(v) for k, v in paths.items()}) for a in args])
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert_one_line_error(result.stderr, fragment)
