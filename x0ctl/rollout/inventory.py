"""The nodes driver's inventory and its stable order.

Weight w% runs the new version on the first ceil(w% of n) nodes of an order fixed by
sha256(seed/node), so the 10% set stays inside the 50% set whatever the inventory's order.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from x0ctl.rollout.fields import PlanError
from x0ctl.textfile import nested_too_deeply, read_text


def load_inventory(path: str | Path) -> list[dict]:
    """Nodes from YAML (a list of names or {name, host, ...}, or {nodes: [...]}) or a text file, one per line."""
    import yaml

    source = str(path)
    text = read_text(path, "inventory")
    try:
        data = yaml.safe_load(text) if text.strip() else []
    except yaml.YAMLError:
        raise PlanError("inventory", "not valid YAML", source) from None
    except RecursionError:
        raise nested_too_deeply(path, "inventory") from None
    if isinstance(data, dict):
        data = data.get("nodes")
    if isinstance(data, str):
        data = data.split()
    if not isinstance(data, list) or not data:
        raise PlanError("nodes", "an inventory is a non-empty list of nodes", source)
    nodes, seen = [], set()
    for index, item in enumerate(data):
        node = {"name": item} if isinstance(item, str) else item
        if not isinstance(node, dict) or not str(node.get("name") or "").strip():
            raise PlanError(f"nodes[{index}].name", "missing", source)
        name = str(node["name"]).strip()
        if name in seen:
            raise PlanError(f"nodes[{index}].name", f"{name!r} is listed twice", source)
        seen.add(name)
        nodes.append({"name": name, "host": str(node.get("host") or name)})
    return nodes


def node_order(nodes: list[dict], seed: str) -> list[dict]:
    """A stable order: a node's place depends only on the seed and its name, not on the inventory order."""
    return sorted(nodes, key=lambda n: hashlib.sha256(f"{seed}/{n['name']}".encode()).hexdigest())


def nodes_for(weight: int, ordered: list[dict]) -> list[dict]:
    """The first ceil(w% of n) nodes of the stable order: any weight above 0 moves at least one node."""
    count = math.ceil(len(ordered) * weight / 100) if weight > 0 else 0
    return ordered[:count]
