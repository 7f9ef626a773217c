"""Simulation scenarios: the dataclasses, their defaults, and a strict YAML loader.

Every field has a default, so `Scenario()` is the `x0ctl quorum simulate` default run. A YAML file
may set any subset; unknown keys, wrong types and impossible values (f >= n, negative durations)
are refused with the file and the field's dotted path in the message (exit code 2).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from x0ctl.durations import parse_duration
from x0ctl.errors import UsageError
from x0ctl.textfile import nested_too_deeply, read_text

MAX_NODES = 5000  # ~2 s of CPU per simulated second at this size; beyond it is a typo, not a plan
MAX_DURATION_S = 7 * 86400  # a week of simulated time; beyond it is a typo, not a plan
STRATEGIES = ("silent", "false_report", "replay", "forge", "key_substitution", "flood", "equivocate")
# The default mix: Byzantine nodes take these in turn, so every attack is present in one run.
MIXED = STRATEGIES
# Every Byzantine node colludes on both quorum attacks: the worst case for the safety sweep.
COLLUDE = "equivocate+false_report"


@dataclass
class Network:
    latency_median_ms: float = 20.0  # per-link base latency ~ lognormal(median, sigma), drawn once per link
    latency_sigma: float = 0.5
    jitter_ms: float = 5.0  # per-message uniform extra delay
    loss: float = 0.01  # per-message drop probability


@dataclass
class Protocol:
    beacon_period_s: float = 3.0
    suspect_after_s: float = 10.0  # no beacon for this long: the failure detector suspects the node
    sync_period_s: float = 5.0  # anti-entropy: attestations pushed to one random peer
    rate_limit: float = 10.0  # messages per second per sender (shared/domain.md)
    send_rate: float = 8.0  # honest nodes pace their own messages below the limit
    freshness_window_s: float = 30.0
    key_rotation_at_s: float | None = None  # default: half the duration; every honest node rotates
    proposal_at_s: float | None = None  # an honest GOVERNANCE_PROPOSAL; default: a quarter of the duration


@dataclass
class Attack:
    start_s: float = 5.0  # silent nodes crash and the other strategies start here
    period_s: float = 2.0  # replay, forge and key substitution attempts, each Byzantine node
    accuse_period_s: float = 10.0  # colluding false reports pick a new honest victim this often
    flood_rate: float = 30.0  # messages per second while flooding
    flood_seconds: float = 3.0
    equivocate_at_s: float | None = None  # default: a third of the duration


@dataclass
class Partition:
    start_s: float
    heal_s: float
    split: float = 0.5  # nodes with index < split * n form side A, the rest side B


@dataclass
class Scenario:
    name: str = "default"
    nodes: int = 50
    byzantine: int = 16
    duration_s: float = 60.0
    seed: int = 7
    strategies: tuple[str, ...] = MIXED
    network: Network = field(default_factory=Network)
    protocol: Protocol = field(default_factory=Protocol)
    attack: Attack = field(default_factory=Attack)
    partitions: tuple[Partition, ...] = ()

    def validate(self, source: str = "scenario") -> Scenario:
        def fail(path: str, problem: str) -> None:
            raise UsageError(f"{source}: field '{path}': {problem}")

        # Infinity and NaN pass every comparison below the wrong way (a NaN is neither negative
        # nor positive; an infinite rate limit turns the token bucket's arithmetic into NaN).
        numbers = [("duration", self.duration_s)]
        for section in ("network", "protocol", "attack"):
            numbers += [(f"{section}.{_yaml_name(item.name)}", getattr(getattr(self, section), item.name))
                        for item in dataclasses.fields(getattr(self, section))]
        for index, partition in enumerate(self.partitions):
            numbers += [(f"partitions[{index}].{_yaml_name(item.name)}", getattr(partition, item.name))
                        for item in dataclasses.fields(partition)]
        for path, value in numbers:
            if isinstance(value, float) and not math.isfinite(value):
                fail(path, f"must be a finite number, got {value}")
        if not 1 <= self.nodes <= MAX_NODES:
            fail("nodes", f"must be between 1 and {MAX_NODES}")
        if self.byzantine < 0:
            fail("byzantine", "must not be negative")
        if self.byzantine >= self.nodes:
            fail("byzantine", f"f = {self.byzantine} must be smaller than n = {self.nodes} (at least one honest node)")
        if not 0 < self.duration_s <= MAX_DURATION_S:
            fail("duration", "must be positive and at most 7d")
        if not self.strategies:
            fail("strategies", "needs at least one strategy")
        for entry in self.strategies:
            for part in entry.split("+"):
                if part not in STRATEGIES:
                    fail("strategies", f"unknown strategy {part!r}; known: {', '.join(STRATEGIES)}")
        if not 0.0 <= self.network.loss < 1.0:
            fail("network.loss", "must be in [0, 1)")
        for name in ("latency_median_ms", "latency_sigma", "jitter_ms"):
            if getattr(self.network, name) < 0:
                fail(f"network.{name}", "must not be negative")
        for name in ("beacon_period_s", "suspect_after_s", "sync_period_s", "rate_limit", "send_rate",
                     "freshness_window_s"):
            if getattr(self.protocol, name) <= 0:
                fail(f"protocol.{_yaml_name(name)}", "must be positive")
        if self.protocol.send_rate > self.protocol.rate_limit:
            fail("protocol.send_rate", "honest nodes must pace below the rate limit")
        for name in ("key_rotation_at_s", "proposal_at_s"):
            if (getattr(self.protocol, name) or 0) < 0:
                fail(f"protocol.{_yaml_name(name)}", "must not be negative")
        for name in ("start_s", "period_s", "accuse_period_s", "flood_rate", "flood_seconds", "equivocate_at_s"):
            value = getattr(self.attack, name)
            if value is not None and (value < 0 or (value == 0 and name in ("period_s", "accuse_period_s"))):
                fail(f"attack.{_yaml_name(name)}", "must be positive" if name.endswith("period_s") else "must not be negative")
        for index, partition in enumerate(self.partitions):
            if partition.start_s < 0:
                fail(f"partitions[{index}].start", "must not be negative")
            if partition.heal_s <= partition.start_s:
                fail(f"partitions[{index}].heal", "must be after start")
            if not 0.0 < partition.split < 1.0:
                fail(f"partitions[{index}].split", "must be in (0, 1)")
        return self

    def resolved(self) -> Scenario:
        """A copy with the duration-relative defaults filled in."""
        copy = dataclasses.replace(self, protocol=dataclasses.replace(self.protocol),
                                   attack=dataclasses.replace(self.attack))
        if copy.protocol.key_rotation_at_s is None:
            copy.protocol.key_rotation_at_s = self.duration_s / 2
        if copy.protocol.proposal_at_s is None:
            copy.protocol.proposal_at_s = self.duration_s / 4
        if copy.attack.equivocate_at_s is None:
            copy.attack.equivocate_at_s = self.duration_s / 3
        return copy

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["strategies"] = list(self.strategies)
        data["partitions"] = [dataclasses.asdict(p) for p in self.partitions]
        return data

    @classmethod
    def from_dict(cls, data, source: str = "scenario") -> Scenario:
        """The inverse of `to_dict()` (as written in counterexample files), strictly checked."""
        if not isinstance(data, dict):
            raise UsageError(f"{source}: expected a scenario object")
        sections = {"network": Network, "protocol": Protocol, "attack": Attack}
        known = {item.name for item in dataclasses.fields(cls)}
        values = {}
        for key, value in data.items():
            if key not in known:
                raise UsageError(f"{source}: field '{key}': unknown key")
            if key in sections:
                values[key] = _section_from_dict(sections[key], value, f"{source}: field '{key}'")
            elif key == "partitions":
                if not isinstance(value, list):
                    raise UsageError(f"{source}: field 'partitions': expected a list")
                values[key] = tuple(_section_from_dict(Partition, item, f"{source}: field 'partitions[{index}]'")
                                    for index, item in enumerate(value))
            elif key == "strategies":
                if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                    raise UsageError(f"{source}: field 'strategies': expected a list of names")
                values[key] = tuple(value)
            else:
                expected = {"name": str, "nodes": int, "byzantine": int, "seed": int, "duration_s": (int, float)}[key]
                if isinstance(value, bool) or not isinstance(value, expected):
                    raise UsageError(f"{source}: field '{key}': wrong type {type(value).__name__}")
                values[key] = float(value) if key == "duration_s" else value
        return cls(**values).validate(source)


def _section_from_dict(kind: type, value, where: str):
    if not isinstance(value, dict):
        raise UsageError(f"{where}: expected an object")
    names = {item.name for item in dataclasses.fields(kind)}
    for key, item in value.items():
        if key not in names:
            raise UsageError(f"{where}.{key}: unknown key")
        if item is not None and (isinstance(item, bool) or not isinstance(item, (int, float))):
            raise UsageError(f"{where}.{key}: expected a number")
    try:
        return kind(**{key: None if item is None else float(item) for key, item in value.items()})
    except TypeError:
        raise UsageError(f"{where}: missing fields; expected {', '.join(sorted(names))}") from None


def _yaml_name(attribute: str) -> str:
    return attribute.removesuffix("_s")


# Section -> {YAML key: kind}. Durations are written without the _s suffix and accept units.
_SECTIONS = {
    "network": {"latency_median_ms": "number", "latency_sigma": "number", "jitter_ms": "number", "loss": "number"},
    "protocol": {"beacon_period": "duration", "suspect_after": "duration", "sync_period": "duration",
                 "rate_limit": "number", "send_rate": "number", "freshness_window": "duration",
                 "key_rotation_at": "duration?", "proposal_at": "duration?"},
    "attack": {"start": "duration", "period": "duration", "accuse_period": "duration",
               "flood_rate": "number", "flood_seconds": "number", "equivocate_at": "duration?"},
}
_TOP = {"name": "string", "nodes": "int", "byzantine": "int", "duration": "duration", "seed": "int",
        "strategies": "strategies", "network": "section", "protocol": "section", "attack": "section",
        "partitions": "partitions"}


def _convert(value, kind: str, where: str):
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    if value is None and optional:
        return None
    if kind == "string":
        if not isinstance(value, str):
            raise UsageError(f"{where}: expected a string, got {type(value).__name__}")
        return value
    if kind == "int":
        if type(value) is not int:
            raise UsageError(f"{where}: expected an integer, got {type(value).__name__}")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"{where}: expected a number, got {type(value).__name__}")
        return float(value)
    if kind == "duration":
        return parse_duration(value, where)
    raise AssertionError(kind)


def load_scenario(path: str | Path, base: Scenario | None = None) -> Scenario:
    """Read and validate a scenario file (fields not in the file keep `base`'s values)."""
    import yaml

    path = Path(path)
    text = read_text(path, "scenario")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UsageError(f"{path}: not valid YAML{where}") from None
    except RecursionError:
        raise nested_too_deeply(path, "scenario") from None
    if document is None:
        raise UsageError(f"{path}: the scenario file is empty (a file of defaults would hide a wrong path)")
    if not isinstance(document, dict):
        raise UsageError(f"{path}: expected a mapping of scenario fields at the top level")
    scenario = dataclasses.replace(base or Scenario())
    for key, value in document.items():
        where = f"{path}: field '{key}'"
        kind = _TOP.get(key)
        if kind is None:
            raise UsageError(f"{where}: unknown key; known: {', '.join(_TOP)}")
        if kind == "section":
            fields = _SECTIONS[key]
            if not isinstance(value, dict):
                raise UsageError(f"{where}: expected a mapping, got {type(value).__name__}")
            current = dataclasses.replace(getattr(scenario, key))
            for sub, sub_value in value.items():
                sub_where = f"{path}: field '{key}.{sub}'"
                if sub not in fields:
                    raise UsageError(f"{sub_where}: unknown key; known: {', '.join(fields)}")
                attribute = sub + "_s" if fields[sub].startswith("duration") else sub
                setattr(current, attribute, _convert(sub_value, fields[sub], sub_where))
            setattr(scenario, key, current)
        elif kind == "strategies":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise UsageError(f"{where}: expected a list of strategy names")
            scenario.strategies = tuple(expand_strategies(value, f"{path}: field 'strategies'"))
        elif kind == "partitions":
            if not isinstance(value, list):
                raise UsageError(f"{where}: expected a list of partitions, got {type(value).__name__}")
            partitions = []
            for index, item in enumerate(value):
                item_where = f"{path}: field 'partitions[{index}]'"
                if not isinstance(item, dict):
                    raise UsageError(f"{item_where}: expected a mapping with start, heal, split")
                unknown = set(item) - {"start", "heal", "split"}
                if unknown:
                    raise UsageError(f"{path}: field 'partitions[{index}].{min(unknown)}': unknown key; "
                                     f"known: start, heal, split")
                for required in ("start", "heal"):
                    if required not in item:
                        raise UsageError(f"{path}: field 'partitions[{index}].{required}': missing")
                partitions.append(Partition(
                    _convert(item["start"], "duration", f"{path}: field 'partitions[{index}].start'"),
                    _convert(item["heal"], "duration", f"{path}: field 'partitions[{index}].heal'"),
                    _convert(item.get("split", 0.5), "number", f"{path}: field 'partitions[{index}].split'"),
                ))
            scenario.partitions = tuple(partitions)
        else:
            converted = _convert(value, kind, where)
            setattr(scenario, "duration_s" if key == "duration" else key, converted)
    return scenario.validate(str(path))


def expand_strategies(names, where: str = "--strategy") -> list[str]:
    """Strategy names as given (`mixed` and `collude` are shorthands), checked."""
    expanded: list[str] = []
    for name in names:
        name = name.strip()
        if name == "mixed":
            expanded.extend(MIXED)
        elif name == "collude":
            expanded.append(COLLUDE)
        else:
            for part in name.split("+"):
                if part not in STRATEGIES:
                    raise UsageError(f"{where}: unknown strategy {part!r}; known: {', '.join(STRATEGIES)}, "
                                     f"mixed, collude")
            expanded.append(name)
    return expanded
