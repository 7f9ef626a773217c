"""Mesh control-plane messages as the mesh itself would produce them, for the verifier's tests.

Written from the mesh's documented behaviour (../shared/mesh-interop.md and its source), not from
x0ctl.mesh.messages: signing is pyca/cryptography's ML-DSA-65 directly (empty context), the
encodings are spelled out here.

- gossip: the six serialize() fields through json.dumps(sort_keys=True), default separators.
- beacon: {node_id, timestamp (a float), nonce, neighbours sorted} through compact sorted JSON.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import mldsa


@dataclass
class MeshNode:
    node_id: str
    key: mldsa.MLDSA65PrivateKey

    @classmethod
    def new(cls, node_id: str) -> MeshNode:
        return cls(node_id, mldsa.MLDSA65PrivateKey.generate())

    @property
    def public_key(self) -> bytes:
        return self.key.public_key().public_bytes_raw()


def gossip_body(message_type: str, sender: str, timestamp: float, nonce: int, epoch: int, payload: dict,
                *, compact: bool = False) -> bytes:
    fields = {"type": message_type, "sender": sender, "timestamp": timestamp, "nonce": nonce, "epoch": epoch,
              "payload": payload}
    if compact:  # what the mesh does NOT do for gossip: used to show that the spacing is part of the signature
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return json.dumps(fields, sort_keys=True).encode("utf-8")


def gossip_line(node: MeshNode, *, message_type: str = "node_failure", timestamp: float = 1748736000.25,
                nonce: int | None = None, epoch: int = 0, payload: dict | None = None, sender: str | None = None,
                compact: bool = False, encoding: str = "hex", extra: dict | None = None,
                tamper: dict | None = None) -> str:
    """One JSON line; `tamper` changes fields after signing (a forgery), `sender` lies about who signed."""
    sender = sender or node.node_id
    nonce = int(timestamp * 1_000_000) if nonce is None else nonce
    payload = {"node": "node-9", "reason": "unreachable"} if payload is None else payload
    signature = node.key.sign(gossip_body(message_type, sender, timestamp, nonce, epoch, payload, compact=compact))
    line = {"type": message_type, "sender": sender, "timestamp": timestamp, "nonce": nonce, "epoch": epoch,
            "payload": payload, "signature": _encode(signature, encoding),
            "public_key": _encode(node.public_key, encoding), **(extra or {}), **(tamper or {})}
    return json.dumps(line)


def beacon_body(node_id: str, timestamp: float, nonce: str, neighbors: list[str], *, spaced: bool = False) -> bytes:
    fields = {"node_id": node_id, "timestamp": float(timestamp), "nonce": nonce, "neighbors": sorted(neighbors)}
    separators = (", ", ": ") if spaced else (",", ":")
    return json.dumps(fields, sort_keys=True, separators=separators).encode()


def beacon_line(node: MeshNode, *, timestamp: float = 1748736000, nonce: str = "b-1",
                neighbors: list[str] | None = None, spaced: bool = False, extra: dict | None = None) -> str:
    neighbors = ["node-c", "node-a"] if neighbors is None else neighbors
    signature = node.key.sign(beacon_body(node.node_id, timestamp, nonce, neighbors, spaced=spaced))
    line = {"node_id": node.node_id, "timestamp": timestamp, "nonce": nonce, "neighbors": neighbors,
            "signature": signature.hex(), "public_key": node.public_key.hex(), **(extra or {})}
    return json.dumps(line)


def _encode(value: bytes, encoding: str) -> str:
    return value.hex() if encoding == "hex" else base64.b64encode(value).decode()
