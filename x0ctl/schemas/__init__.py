"""JSON Schemas (draft 2020-12) of every command's `-o json` output, shipped as package data.

One file per command, named after the command path (`verify-kat.json` for `x0ctl verify kat`).
A command whose output depends on an option has one more file per variant, `<command>.<variant>.json`
(`handshake-probe.mesh-agent-udp.json` for `handshake probe --protocol mesh-agent-udp`).
They are the stable contract documented in docs/json-output.md: fields are only added, never
renamed or removed without a new major version of x0ctl.

    from x0ctl.schemas import load_schema
    schema = load_schema("verify kat")
"""

from __future__ import annotations

import json
from importlib import resources


def _file_name(command: str) -> str:
    return "-".join(command.split()) + ".json"


# Command groups: a file `keys-backup-identity.json` is `keys backup-identity`, not `keys backup identity`.
GROUPS = ("config", "handshake", "keys", "quorum", "rollout", "slo", "verify")
# Groups inside groups: `rollout-state-migrate.json` is `rollout state migrate`.
SUBGROUPS = ("rollout-state",)


def schema_names() -> list[str]:
    """Every command that has a schema, as its path ("keys rotate")."""
    names = []
    for entry in resources.files(__name__).iterdir():
        if entry.name.endswith(".json") and entry.name.count(".") == 1:
            stem = entry.name.removesuffix(".json")
            nested = next((sub for sub in SUBGROUPS if stem.startswith(f"{sub}-")), None)
            if nested:
                names.append(f"{nested.replace('-', ' ')} {stem.removeprefix(f'{nested}-')}")
                continue
            group, _, rest = stem.partition("-")
            names.append(f"{group} {rest}" if rest and group in GROUPS else stem)
    return sorted(names)


def load_schema(command: str, variant: str | None = None) -> dict:
    """The schema of `x0ctl <command> -o json` (or of one variant); raises KeyError for a command without one."""
    name = _file_name(command) if variant is None else _file_name(command).replace(".json", f".{variant}.json")
    entry = resources.files(__name__).joinpath(name)
    if not entry.is_file():
        raise KeyError(f"no JSON schema for 'x0ctl {command}'")
    return json.loads(entry.read_text(encoding="utf-8"))
