"""Rollout plans: steps with bake times, the driver that acts on the mesh, and the gates that judge it.

A plan comes from flags (`--step 10`, `--steps 1:5m,10:10m,50:15m,100`) or a YAML file with the same
keys. It is validated completely before anything is touched: every problem names its field (and file).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from x0ctl.durations import DurationError, parse_duration as _parse_duration
from x0ctl.errors import UsageError
from x0ctl.rollout.fields import PlanError
from x0ctl.rollout.inventory import load_inventory
from x0ctl.textfile import nested_too_deeply, read_text
from x0ctl.urls import redact_url

DEFAULT_STEPS = (1, 10, 50, 100)  # the mesh's canary plan: 1% first, then 10% -> 50% -> 100%
DEFAULT_BAKE = 300
DEFAULT_INTERVAL = 30
# Gates with no data yet are waited out this long after each weight change before their action is
# taken: two scrapes at Prometheus' default 1m interval, so a fresh canary is not paused for being new.
DEFAULT_DATA_WAIT = 120
ACTIONS = ("rollback", "pause", "warn")
VERDICTS = ("pass", "fail", "inconclusive", "error")
GATE_KINDS = ("slo", "promql", "baseline")
DRIVER_KINDS = ("command", "nodes", "argo")
CONDITION = re.compile(r"^\s*(<=|>=|==|!=|<|>)\s*(-?[0-9.]+(?:[eE][+-]?\d+)?)\s*$")
TEMPLATE_KEYS = ("weight", "step", "version", "rollout", "target", "node", "host")
WINDOW_PLACEHOLDER = "{{window}}"  # the gate's window, in every query
RESOLUTION_PLACEHOLDER = "{{resolution}}"  # a baseline sample's range: one resolution step
VERSION_PLACEHOLDER = "{{version}}"  # the plan's version
_LABEL_VALUE = re.compile(r'^[^"\\\n\r]*$')
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def parse_duration(value: Any, field_name: str, source: str | None = None, *, allow_zero: bool = True) -> float:
    """A plan field's duration (the `x0ctl.durations` grammar) in seconds; errors name the field and file."""
    try:
        return _parse_duration(value, field_name, allow_zero=allow_zero)
    except DurationError as exc:
        raise PlanError(field_name, exc.problem, source) from None


@dataclass(frozen=True)
class Step:
    weight: int
    bake: float  # seconds to watch the gates at this weight before moving on


@dataclass(frozen=True)
class Gate:
    name: str
    kind: str  # slo | promql | baseline
    window: float = 300
    on_fail: str = "rollback"
    on_inconclusive: str = "pause"
    on_error: str = "pause"
    consecutive: int = 1  # consecutive non-pass results of one verdict before its action is taken
    min_requests: float | None = None  # below this volume over the window the result is inconclusive
    volume_query: str | None = None
    # slo
    spec: str | None = None  # an x0ctl slo spec file; None = the mesh's handshake SLOs
    selector: str | None = None
    # promql
    query: str | None = None
    pass_when: str | None = None  # '< 0.01'
    # baseline
    canary: str | None = None
    stable: str | None = None
    higher_is_worse: bool = True
    alpha: float = 0.05
    min_effect: float = 0.33  # |Cliff's delta| below this is not a meaningful difference
    min_samples: int = 10
    resolution: float = 30

    def action_for(self, verdict: str) -> str | None:
        return {"fail": self.on_fail, "inconclusive": self.on_inconclusive, "error": self.on_error}.get(verdict)

    def condition(self) -> tuple[str, float]:
        match = CONDITION.match(self.pass_when or "")
        assert match is not None  # validated when the plan was built
        return match.group(1), float(match.group(2))

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Driver:
    kind: str = "command"
    set_weight: str | None = None
    promote: str | None = None
    rollback: str | None = None
    timeout: float = 60
    retries: int = 2
    retry_delay: float = 1.0
    # nodes
    inventory: str | None = None
    upgrade: str | None = None
    downgrade: str | None = None
    concurrency: int = 4
    seed: str | None = None
    # argo
    rollout: str | None = None
    namespace: str | None = None
    kubectl: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Plan:
    target: str
    steps: tuple[Step, ...]
    driver: Driver
    gates: tuple[Gate, ...]
    version: str = ""
    interval: float = DEFAULT_INTERVAL
    initial_delay: float = 0
    data_wait: float = DEFAULT_DATA_WAIT
    prometheus: str | None = None
    notify_webhook: str | None = None
    source: str = "command line"
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "target": self.target, "version": self.version, "source": self.source,
            "steps": [{"weight": s.weight, "bake_seconds": s.bake} for s in self.steps],
            "interval_seconds": self.interval, "initial_delay_seconds": self.initial_delay,
            "data_wait_seconds": self.data_wait,
            "driver": self.driver.to_dict(), "gates": [g.to_dict() for g in self.gates],
            # journals and output keep URLs without their secrets; resume takes them from flags again
            "prometheus": redact_url(self.prometheus) if self.prometheus else None,
            "notify_webhook": redact_url(self.notify_webhook) if self.notify_webhook else None,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        """Rebuild the plan saved in a journal (it was validated when it was created)."""
        return cls(
            target=data["target"], version=data.get("version") or "", source=data.get("source", "journal"),
            steps=tuple(Step(int(s["weight"]), float(s["bake_seconds"])) for s in data["steps"]),
            interval=float(data["interval_seconds"]), initial_delay=float(data["initial_delay_seconds"]),
            data_wait=float(data.get("data_wait_seconds", DEFAULT_DATA_WAIT)),
            driver=Driver(**data["driver"]), gates=tuple(Gate(**g) for g in data["gates"]),
            prometheus=data.get("prometheus"), notify_webhook=data.get("notify_webhook"),
        )

    def eta_seconds(self) -> float:
        return sum(self.initial_delay + s.bake for s in self.steps)

    def worst_case_rollback_seconds(self) -> float:
        """From the first bad sample to a rollback command done: the slowest gate's detection plus the driver."""
        detection = max((self.initial_delay + g.consecutive * self.interval for g in self.gates), default=0)
        driver = (self.driver.retries + 1) * self.driver.timeout + self.driver.retries * self.driver.retry_delay
        return detection + driver


def parse_steps(text: str, default_bake: float, field_name: str = "--steps", source: str | None = None) -> list[Step]:
    """'1,10,50,100' or '1:5m,10:10m,50:15m,100' -> steps (a step without a bake time bakes default_bake)."""
    items = [part.strip() for part in str(text).split(",")]
    if not items or any(not part for part in items):
        raise PlanError(field_name, f"{text!r} is not a list like 1,10,50,100 or 1:5m,10:10m,100", source)
    steps = []
    for index, part in enumerate(items):
        weight_text, _, bake_text = part.partition(":")
        where = f"{field_name}[{index}]"
        weight = _weight(weight_text, where, source)
        # the 100% step ends the rollout: without an explicit bake it is judged once, then promoted
        implicit = 0 if index == len(items) - 1 and weight == 100 else default_bake
        steps.append(Step(weight, parse_duration(bake_text, f"{where} bake", source) if bake_text else implicit))
    return steps


def step_every(increment: Any, default_bake: float, field_name: str = "--step") -> list[Step]:
    """--step 10 -> 10, 20, ..., 100; --step 30 -> 30, 60, 90, 100 (the last step always reaches 100)."""
    size = _weight(increment, field_name, None)
    weights = list(range(size, 100, size)) + [100]
    return [Step(w, default_bake if w < 100 else 0) for w in weights]


def _weight(value: Any, where: str, source: str | None) -> int:
    if isinstance(value, bool):
        raise PlanError(where, f"{value!r} is not a weight (a whole percentage 1..100)", source)
    try:
        number = float(str(value).strip().rstrip("%"))
    except ValueError:
        raise PlanError(where, f"{value!r} is not a weight (a whole percentage 1..100)", source) from None
    if not number.is_integer():
        raise PlanError(where, f"{value!r} is not a whole percentage", source)
    if number > 100:
        raise PlanError(where, f"weight {value} is above 100", source)
    if number < 1:
        raise PlanError(where, f"weight {value} is below 1", source)
    return int(number)


def check_steps(steps: list[Step], field_name: str, source: str | None = None) -> tuple[Step, ...]:
    if not steps:
        raise PlanError(field_name, "no steps", source)
    for index in range(1, len(steps)):
        if steps[index].weight <= steps[index - 1].weight:
            raise PlanError(f"{field_name}[{index}]", f"weights must increase: {steps[index].weight} after "
                            f"{steps[index - 1].weight}", source)
    if steps[-1].weight != 100:
        raise PlanError(field_name, f"the last step is {steps[-1].weight}%: a rollout ends at 100", source)
    return tuple(steps)


def _action(value: Any, where: str, source: str | None) -> str:
    text = str(value).strip().lower()
    if text not in ACTIONS:
        raise PlanError(where, f"{value!r} is not one of {', '.join(ACTIONS)}", source)
    return text


def build_gate(data: dict, index: int, source: str | None = None, defaults: dict | None = None) -> Gate:
    where = f"gates[{index}]"
    if not isinstance(data, dict):
        raise PlanError(where, "must be a mapping", source)
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    defaults = dict(defaults or {})
    if str(data.get("kind", "slo")).strip().lower() != "slo" and not data.get("volume_query"):
        defaults.pop("min_requests", None)  # a traffic floor needs a volume query: SLO gates derive theirs
    data = {**defaults, **data}
    known = set(Gate.__dataclass_fields__)
    for key in data:
        if key not in known:
            raise PlanError(f"{where}.{key}", "unknown field", source)
    kind = str(data.get("kind", "slo")).strip().lower()
    if kind not in GATE_KINDS:
        raise PlanError(f"{where}.kind", f"{kind!r} is not one of {', '.join(GATE_KINDS)}", source)
    name = str(data.get("name") or f"{kind}-{index}")
    values: dict[str, Any] = {"name": name, "kind": kind}
    if "window" in data:
        values["window"] = parse_duration(data["window"], f"{where}.window", source, allow_zero=False)
    for key in ("on_fail", "on_inconclusive", "on_error"):
        if key in data:
            values[key] = _action(data[key], f"{where}.{key}", source)
    if "consecutive" in data:
        values["consecutive"] = _positive_int(data["consecutive"], f"{where}.consecutive", source)
    if data.get("min_requests") is not None:
        values["min_requests"] = _number(data["min_requests"], f"{where}.min_requests", source, minimum=0)
    for key in ("volume_query", "spec", "selector", "query", "canary", "stable"):
        if data.get(key) is not None:
            values[key] = str(data[key])
    if kind == "promql":
        if not values.get("query"):
            raise PlanError(f"{where}.query", "a promql gate needs a query", source)
        if not CONDITION.match(str(data.get("pass_when") or "")):
            raise PlanError(f"{where}.pass_when", f"{data.get('pass_when')!r} is not a condition like '< 0.01'",
                            source)
        values["pass_when"] = str(data["pass_when"]).strip()
        if values.get("min_requests") is not None and not values.get("volume_query"):
            raise PlanError(f"{where}.volume_query", "min_requests on a promql gate needs a volume_query", source)
    elif kind == "baseline":
        for key in ("canary", "stable"):
            if not values.get(key):
                raise PlanError(f"{where}.{key}", "a baseline gate needs canary and stable queries", source)
            if WINDOW_PLACEHOLDER in values[key]:
                # each sample must cover only its own step, or neighbouring samples share data and
                # the rank test sees far more evidence than there is
                raise PlanError(f"{where}.{key}", f"use {RESOLUTION_PLACEHOLDER} (one sample's range) in baseline "
                                f"queries; {WINDOW_PLACEHOLDER} would make every sample overlap the next", source)
        if "alpha" in data:
            values["alpha"] = _number(data["alpha"], f"{where}.alpha", source, minimum=0, maximum=1)
        if "min_effect" in data:
            values["min_effect"] = _number(data["min_effect"], f"{where}.min_effect", source, minimum=0, maximum=1)
        if "min_samples" in data:
            values["min_samples"] = _positive_int(data["min_samples"], f"{where}.min_samples", source)
        if "resolution" in data:
            values["resolution"] = parse_duration(data["resolution"], f"{where}.resolution", source, allow_zero=False)
        if "higher_is_worse" in data:
            values["higher_is_worse"] = bool(data["higher_is_worse"])
    elif kind == "slo":
        # no handshakes at all must never pass on the strength of a quiet gauge: require traffic
        values.setdefault("min_requests", 1.0)
        if values.get("selector"):
            from x0ctl.slo.spec import parse_label_selector

            try:
                parse_label_selector(values["selector"], f"{where}.selector")
            except UsageError as exc:
                raise PlanError(f"{where}.selector", exc.message, source) from None
        if values.get("spec"):
            from x0ctl.slo import load_spec

            load_spec(values["spec"])  # raises SpecError naming the spec file and field
    return Gate(**values)


def _positive_int(value: Any, where: str, source: str | None) -> int:
    if isinstance(value, bool) or not re.fullmatch(r"\d+", str(value).strip()) or int(str(value).strip()) < 1:
        raise PlanError(where, f"{value!r} is not a positive whole number", source)
    return int(str(value).strip())


def _number(value: Any, where: str, source: str | None, minimum: float | None = None,
            maximum: float | None = None) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PlanError(where, f"{value!r} is not a number", source) from None
    if not math.isfinite(number) or (minimum is not None and number < minimum) or (
            maximum is not None and number > maximum):
        raise PlanError(where, f"{value!r} is out of range", source)
    return number


def build_driver(data: dict, source: str | None = None) -> Driver:
    if not isinstance(data, dict):
        raise PlanError("driver", "must be a mapping", source)
    data = {str(k).replace("-", "_"): v for k, v in data.items() if v is not None}
    for key in data:
        if key not in Driver.__dataclass_fields__:
            raise PlanError(f"driver.{key}", "unknown field", source)
    kind = str(data.get("kind", "command")).strip().lower()
    if kind not in DRIVER_KINDS:
        raise PlanError("driver.kind", f"{kind!r} is not a driver (one of {', '.join(DRIVER_KINDS)})", source)
    values: dict[str, Any] = {"kind": kind}
    for key in ("set_weight", "promote", "rollback", "inventory", "upgrade", "downgrade", "seed"):
        if data.get(key) is not None:
            values[key] = str(data[key])
            _check_template(values[key], f"driver.{key}", source)
    for key in ("rollout", "namespace", "kubectl"):
        if data.get(key) is not None:
            values[key] = str(data[key]).strip()
            if not values[key] or (key != "kubectl" and not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", values[key])):
                raise PlanError(f"driver.{key}", f"{data[key]!r} is not a Kubernetes name", source)
    if kind == "argo":
        if not values.get("rollout"):
            raise PlanError("driver.rollout", "the argo driver needs the Rollout's name", source)
        for key in ("set_weight", "promote", "rollback", "inventory", "upgrade", "downgrade"):
            if key in values:
                raise PlanError(f"driver.{key}", "the argo driver runs kubectl itself: no command templates", source)
    elif any(key in values for key in ("rollout", "namespace", "kubectl")):
        raise PlanError("driver.rollout", "rollout, namespace and kubectl are fields of the argo driver", source)
    if "timeout" in data:
        values["timeout"] = parse_duration(data["timeout"], "driver.timeout", source, allow_zero=False)
    if "retry_delay" in data:
        values["retry_delay"] = parse_duration(data["retry_delay"], "driver.retry_delay", source)
    if "retries" in data:
        if isinstance(data["retries"], bool) or not re.fullmatch(r"\d+", str(data["retries"]).strip()):
            raise PlanError("driver.retries", f"{data['retries']!r} is not a whole number", source)
        values["retries"] = int(str(data["retries"]).strip())
    if "concurrency" in data:
        values["concurrency"] = _positive_int(data["concurrency"], "driver.concurrency", source)
    if kind == "command" and not values.get("set_weight"):
        raise PlanError("driver.set_weight", "the command driver needs a set-weight command", source)
    if kind == "command" and not values.get("rollback"):
        raise PlanError("driver.rollback", "the command driver needs a rollback command", source)
    if kind == "nodes":
        for key in ("inventory", "upgrade", "downgrade"):
            if not values.get(key):
                raise PlanError(f"driver.{key}", "the nodes driver needs an inventory, upgrade and downgrade "
                                "commands", source)
        load_inventory(values["inventory"])
    return Driver(**values)


def _check_webhook(webhook: str, source: str | None) -> None:
    """Refuse a webhook urllib could not post to before the rollout moves any traffic: checked once
    here, so a notification never fails on the URL's shape half-way through a rollout."""
    try:
        parts = urlsplit(webhook)
        host, _ = parts.hostname, parts.port  # each raises ValueError on a malformed netloc or port
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host \
            or any(c.isspace() or not c.isprintable() for c in webhook):
        raise PlanError("notify_webhook", f"{redact_url(webhook)} is not an http(s) URL", source)


def _with_version(data: Any, index: int, version: str, source: str | None) -> Any:
    """A gate's PromQL with {{version}} replaced by the plan's version (it goes inside label values)."""
    if not isinstance(data, dict):
        return data
    rendered = dict(data)
    for key, value in data.items():
        if not isinstance(value, str) or VERSION_PLACEHOLDER not in value:
            continue
        where = f"gates[{index}].{str(key).replace('-', '_')}"
        if not version:
            raise PlanError(where, f"uses {VERSION_PLACEHOLDER} but the plan has no version (--version)", source)
        if not _LABEL_VALUE.match(version):
            raise PlanError("version", f"{version!r} cannot go into a PromQL label value ({VERSION_PLACEHOLDER} in "
                            f"{where}): no quotes, backslashes or line breaks", source)
        rendered[key] = value.replace(VERSION_PLACEHOLDER, version)
    return rendered


def _check_template(template: str, where: str, source: str | None) -> None:
    for name in re.findall(r"\{([^{}]*)\}", template.replace("{{", "").replace("}}", "")):
        if name not in TEMPLATE_KEYS:
            raise PlanError(where, f"unknown placeholder {{{name}}} (known: "
                            f"{', '.join('{' + k + '}' for k in TEMPLATE_KEYS)})", source)


def build_plan(data: dict, source: str | None = None) -> Plan:
    """A validated plan from a mapping (a parsed YAML file, or flags gathered into the same keys)."""
    if not isinstance(data, dict):
        raise PlanError("plan", "must be a mapping", source)
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    known = {"target", "version", "steps", "step", "bake", "interval", "initial_delay", "data_wait", "driver",
             "gates", "prometheus", "notify_webhook", "gate_defaults"}
    for key in data:
        if key not in known:
            raise PlanError(key, "unknown field", source)
    target = str(data.get("target") or "default")
    if not _NAME.match(target):
        raise PlanError("target", f"{target!r} must be letters, digits, '.', '_' or '-' (at most 63)", source)
    bake = parse_duration(data["bake"], "bake", source) if data.get("bake") is not None else DEFAULT_BAKE
    if data.get("steps") is not None and data.get("step") is not None:
        raise PlanError("steps", "give steps or step, not both", source)
    raw_steps = data.get("steps")
    if data.get("step") is not None:
        steps = step_every(data["step"], bake, "step" if source else "--step")
    elif raw_steps is None:
        steps = [Step(w, bake if w < 100 else 0) for w in DEFAULT_STEPS]
    elif isinstance(raw_steps, str | int):
        steps = parse_steps(str(raw_steps), bake, "steps" if source else "--steps", source)
    elif isinstance(raw_steps, list):
        steps = []
        for index, item in enumerate(raw_steps):
            where = f"steps[{index}]"
            if isinstance(item, dict):
                unknown = set(item) - {"weight", "bake"}
                if unknown:
                    raise PlanError(f"{where}.{min(unknown)}", "unknown field", source)
                if "weight" not in item:
                    raise PlanError(f"{where}.weight", "missing", source)
                steps.append(Step(_weight(item["weight"], f"{where}.weight", source),
                                  parse_duration(item["bake"], f"{where}.bake", source) if "bake" in item
                                  else (0 if item["weight"] == 100 else bake)))
            else:
                steps.extend(parse_steps(str(item), bake, where, source))
    else:
        raise PlanError("steps", "must be a list or a string like 1:5m,10:10m,100", source)
    checked = check_steps(steps, "steps" if source else ("--step" if data.get("step") else "--steps"), source)
    interval = parse_duration(data.get("interval", DEFAULT_INTERVAL), "interval", source, allow_zero=False)
    initial_delay = parse_duration(data.get("initial_delay", 0), "initial_delay", source)
    data_wait = parse_duration(data.get("data_wait", DEFAULT_DATA_WAIT), "data_wait", source)
    version = str(data.get("version") or "")
    driver = build_driver(data.get("driver") or {}, source)
    gate_defaults = data.get("gate_defaults") or {}
    raw_gates = data.get("gates")
    if raw_gates is None:
        raw_gates = [{"name": "slo", "kind": "slo"}]
    if not isinstance(raw_gates, list) or not raw_gates:
        raise PlanError("gates", "must be a non-empty list", source)
    gates = tuple(build_gate(_with_version(g, i, version, source), i, source, gate_defaults)
                  for i, g in enumerate(raw_gates))
    names = [g.name for g in gates]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise PlanError("gates", f"two gates are named {duplicate!r}", source)
    webhook = data.get("notify_webhook")
    if webhook:
        _check_webhook(str(webhook), source)
    return Plan(target=target, version=version, steps=checked, driver=driver, gates=gates,
                interval=interval, initial_delay=initial_delay, data_wait=data_wait, prometheus=data.get("prometheus"),
                notify_webhook=str(webhook) if webhook else None, source=source or "command line")


def load_plan(path: str | Path, overrides: dict | None = None) -> Plan:
    """A plan file (YAML); `overrides` (flags given on the command line) win over its keys."""
    import yaml

    source = str(path)
    text = read_text(path, "plan")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "yaml"
        raise PlanError(where, "not valid YAML", source) from None
    except RecursionError:
        raise nested_too_deeply(path, "plan") from None
    if not isinstance(data, dict):
        raise PlanError("plan", "must be a YAML mapping", source)
    _relative_to(data, Path(path).parent)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key in ("step", "steps"):
            data.pop("step", None)
            data.pop("steps", None)
        if key == "driver":
            data["driver"] = {**(data.get("driver") or {}), **value}
        else:
            data[key] = value
    return build_plan(data, source)


def _relative_to(data: dict, base: Path) -> None:
    """Files named in a plan (inventory, SLO specs) are relative to the plan, not to the working directory."""
    driver = data.get("driver")
    if isinstance(driver, dict) and isinstance(driver.get("inventory"), str) and not Path(driver["inventory"]).is_absolute():
        driver["inventory"] = str(base / driver["inventory"])
    for gate in data.get("gates") or []:
        if isinstance(gate, dict) and isinstance(gate.get("spec"), str) and not Path(gate["spec"]).is_absolute():
            gate["spec"] = str(base / gate["spec"])


@dataclass(frozen=True)
class PlanRequest:
    """A plan as `rollout canary` and `rollout plan` take it: an optional plan file plus flags, as given.

    Flags win over the file's keys. `--selector` and `--gate-promql` replace the file's gates; the
    gate flags (`--on-fail`, `--window`, ...) become gate defaults (a gate's own keys win).
    """

    plan_file: str | Path | None = None
    step: str | None = None
    steps: str | None = None
    target: str | None = None
    version: str | None = None
    bake: str | None = None
    interval: str | None = None
    initial_delay: str | None = None
    data_wait: str | None = None
    set_weight_cmd: str | None = None
    promote_cmd: str | None = None
    rollback_cmd: str | None = None
    cmd_timeout: str | None = None
    cmd_retries: int | None = None
    inventory: str | Path | None = None
    upgrade_cmd: str | None = None
    downgrade_cmd: str | None = None
    concurrency: int | None = None
    selector: str | None = None
    gate_promql: tuple[str, ...] = ()
    on_fail: str | None = None
    on_inconclusive: str | None = None
    on_error: str | None = None
    consecutive: int | None = None
    min_requests: float | None = None
    window: str | None = None
    prometheus: str | None = None
    notify_webhook: str | None = None


def promql_gate(text: str, index: int) -> dict:
    """'[NAME=]PROMQL OP THRESHOLD', e.g. 'errors=sum(rate(x[5m])) < 0.01' -> a promql gate mapping."""
    match = re.match(r"^(?:([A-Za-z][\w.-]*)=(?![=~]))?(.*?)\s*(<=|>=|==|!=|<|>)\s*(-?[0-9.]+(?:[eE][+-]?\d+)?)\s*$",
                     text, re.DOTALL)
    if not match or not match.group(2).strip():
        raise UsageError(f"--gate-promql: {text!r} is not 'PROMQL < THRESHOLD' (optionally NAME=PROMQL ...)")
    return {"name": match.group(1) or f"promql-{index}", "kind": "promql", "query": match.group(2).strip(),
            "pass_when": f"{match.group(3)} {match.group(4)}"}


def plan_from_request(request: PlanRequest, *, dry_run: bool = False) -> Plan:
    """The validated plan a command line asks for. A dry run without a driver gets `true` commands."""
    if request.step is not None and request.steps is not None:
        raise UsageError("give --step or --steps, not both")
    set_weight, rollback = request.set_weight_cmd, request.rollback_cmd
    if dry_run and request.plan_file is None and request.inventory is None:
        set_weight, rollback = set_weight or "true", rollback or "true"
    driver = {key: value for key, value in (
        ("set_weight", set_weight), ("promote", request.promote_cmd), ("rollback", rollback),
        ("timeout", request.cmd_timeout), ("retries", request.cmd_retries),
        ("inventory", str(request.inventory) if request.inventory else None), ("upgrade", request.upgrade_cmd),
        ("downgrade", request.downgrade_cmd), ("concurrency", request.concurrency)) if value is not None}
    if request.inventory is not None:
        driver["kind"] = "nodes"
    gate_defaults = {key: value for key, value in (
        ("on_fail", request.on_fail), ("on_inconclusive", request.on_inconclusive), ("on_error", request.on_error),
        ("consecutive", request.consecutive), ("min_requests", request.min_requests),
        ("window", request.window)) if value is not None}
    gates = None
    if request.gate_promql or request.selector is not None:
        gates = [] if request.selector is None else [{"name": "slo", "kind": "slo",
                                                      **({"selector": request.selector} if request.selector else {})}]
        gates.extend(promql_gate(text, index) for index, text in enumerate(request.gate_promql))
        if request.min_requests is not None:
            gate_defaults.pop("min_requests")
            for gate in gates:
                if gate["kind"] == "slo":
                    gate["min_requests"] = request.min_requests
    flags = {key: getattr(request, key) for key in ("target", "version", "bake", "interval", "initial_delay",
                                                    "data_wait", "prometheus", "notify_webhook", "step", "steps")}
    flags = {key: value for key, value in flags.items() if value is not None}
    if request.plan_file is not None:
        overrides = dict(flags)
        if driver:
            overrides["driver"] = driver
        if gates is not None:
            overrides["gates"] = gates
        if gate_defaults:
            overrides["gate_defaults"] = gate_defaults
        return load_plan(request.plan_file, overrides)
    data = {**flags, "driver": driver, "gate_defaults": gate_defaults}
    if gates is not None:
        data["gates"] = gates
    elif gate_defaults.get("min_requests") is not None:
        data["gates"] = [{"name": "slo", "kind": "slo", "min_requests": gate_defaults.pop("min_requests")}]
    return build_plan(data)
