"""The environment switches the mesh's code really reads, and what each value makes it do.

domain.md names one guard (`X0TTA6BL4_PRODUCTION`, `X0TTA6BL4_ALLOW_MOCK_PQC`); the mesh's source
reads others, each component with its own parsing:

- `X0TTA6BL4_PRODUCTION`: the production dependency checks (src/core/production_checks.py) compare
  the raw value with `.lower() == "true"`, so `1`, `yes`, `on` and ` true` are off there; the app's
  production lifespan (src/core/app/production_lifespan.py) accepts 1/true/yes/on. x0ctl reads
  1/true/yes/on as on and refuses anything that is not a boolean.
- `X0TTA6BL4_ALLOW_SIMULATED_PQC` (Python tunnel, src/libx0t/network/pqc_tunnel.py; 1/true/yes/on):
  without liboqs the tunnel runs a simulated key exchange instead of refusing.
- `X0TTA6BL4_ALLOW_INSECURE_PQC_VERIFY` (src/libx0t/core/app.py; only "true"): without liboqs every
  signature verifies. The production lifespan refuses it (1/true/yes/on) in production.
- `X0T_PQC_ENABLED` (Go agent, agent/internal/config/config.go): only "false" (any case) turns PQC
  off; every other value, `0` and `no` included, leaves it on.
- `X0TTA6BL4_ALLOW_MOCK_PQC`: read only by a test double in the mesh's test suite (production +
  flag lets that non-real PQC run with a warning); x0ctl's guard refuses the combination.
- `X0TTA6BL4_DISABLE_PQC`: x0ctl's own fallback switch; the mesh never reads it.

A node counts as production when any reader, the mesh's or x0ctl's, takes X0TTA6BL4_PRODUCTION as on:
the mesh's components disagree, and the strictest reading is the one an operator must plan for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from x0ctl.pqc.guard import ALLOW_MOCK_VAR

PRODUCTION = "X0TTA6BL4_PRODUCTION"
ALLOW_SIMULATED_PQC = "X0TTA6BL4_ALLOW_SIMULATED_PQC"
ALLOW_INSECURE_PQC_VERIFY = "X0TTA6BL4_ALLOW_INSECURE_PQC_VERIFY"
AGENT_PQC_ENABLED = "X0T_PQC_ENABLED"
DISABLE_PQC = "X0TTA6BL4_DISABLE_PQC"

_TRUE_SET = {"1", "true", "yes", "on"}
_FALSE_SET = {"", "0", "false", "no", "off"}
SHOWN_VALUE_LENGTH = 32


def _true_set(raw: str) -> bool:
    return raw.strip().lower() in _TRUE_SET


def _lower_equals_true(raw: str) -> bool:
    return raw.lower() == "true"


def _lower_equals_false(raw: str) -> bool:
    return raw.lower() == "false"


def _x0ctl_flag(raw: str) -> bool | None:
    """x0ctl's strict boolean (x0ctl.pqc.guard.env_flag); None for a value it refuses."""
    value = raw.strip().lower()
    if value in _TRUE_SET:
        return True
    if value in _FALSE_SET:
        return False
    return None


@dataclass(frozen=True)
class Reader:
    """One place that reads a variable: what 'on' means there, and what it then does."""

    component: str
    source: str
    parse: str  # how the value is compared, as documentation
    when_on: str
    when_off: str
    weakens_when_on: bool = False  # taking the value as on lowers this component's security

    def reads_on(self, raw: str) -> bool:
        return _PARSERS[self.parse](raw)


_PARSERS = {
    "1/true/yes/on": _true_set,
    'lower() == "true"': _lower_equals_true,
    'lower() == "false"': _lower_equals_false,
}


@dataclass(frozen=True)
class Switch:
    variable: str
    meaning: str
    readers: tuple[Reader, ...]
    x0ctl_reads: bool
    x0ctl_weakens_when_on: bool = False
    # what an operator setting this value most likely meant, as an "on" of the readers: a boolean
    # read the usual way, except for the agent's switch, whose readers are "on" when PQC is disabled
    intent_is_disabling: bool = False

    def intended_on(self, raw: str) -> bool | None:
        flag = _x0ctl_flag(raw)
        if flag is None:
            return None
        return not flag if self.intent_is_disabling else flag


SWITCHES: tuple[Switch, ...] = (
    Switch(PRODUCTION, "production mode", (
        Reader("mesh production checks", "src/core/production_checks.py", 'lower() == "true"',
               "checks production dependencies (liboqs, ...) at start", "skips the production dependency checks"),
        Reader("mesh app lifespan", "src/core/app/production_lifespan.py", "1/true/yes/on",
               "refuses insecure settings (mTLS off, insecure PQC verify, ...) at start",
               "starts without the production settings check"),
    ), x0ctl_reads=True),
    Switch(ALLOW_SIMULATED_PQC, "simulated PQC in the Python tunnel", (
        Reader("mesh Python tunnel", "src/libx0t/network/pqc_tunnel.py", "1/true/yes/on",
               "runs a simulated (not post-quantum) key exchange when liboqs is missing",
               "refuses to run the tunnel without liboqs", weakens_when_on=True),
    ), x0ctl_reads=False),
    Switch(ALLOW_INSECURE_PQC_VERIFY, "insecure PQC signature verification", (
        Reader("mesh PQC verify", "src/libx0t/core/app.py", 'lower() == "true"',
               "accepts EVERY signature as valid when liboqs is missing",
               "denies verification when liboqs is missing (fail-closed)", weakens_when_on=True),
        Reader("mesh app lifespan", "src/core/app/production_lifespan.py", "1/true/yes/on",
               "refuses to start in production", "no objection"),
    ), x0ctl_reads=False),
    Switch(AGENT_PQC_ENABLED, "PQC in the Go agent", (
        Reader("mesh Go agent", "agent/internal/config/config.go", 'lower() == "false"',
               "runs WITHOUT post-quantum cryptography (PQC disabled)",
               "keeps PQC enabled (the default; any value but 'false' means enabled)", weakens_when_on=True),
    ), x0ctl_reads=False, intent_is_disabling=True),
    Switch(ALLOW_MOCK_VAR, "non-real PQC (test-only override)", (
        Reader("mesh test suite", "tests only", "1/true/yes/on",
               "a non-real PQC test double runs, in production too (with a warning)", "no effect",
               weakens_when_on=True),
    ), x0ctl_reads=True),
    Switch(DISABLE_PQC, "x0ctl's PQC fallback (classical-only handshakes)", (), x0ctl_reads=True,
           x0ctl_weakens_when_on=True),
)


@dataclass(frozen=True)
class Reading:
    component: str
    source: str
    parse: str
    on: bool
    effect: str

    def to_dict(self) -> dict:
        return {"component": self.component, "source": self.source, "parse": self.parse, "on": self.on,
                "effect": self.effect}


@dataclass(frozen=True)
class SwitchFinding:
    variable: str
    meaning: str
    set: bool
    value: str | None  # shown as set, cut to SHOWN_VALUE_LENGTH characters; these are switches, not secrets
    x0ctl_on: bool | None  # None: x0ctl does not read it, or refuses the value
    readings: tuple[Reading, ...]
    insecure: bool  # set, and some reader takes it in the weakening sense
    disagreement: bool  # the readers (x0ctl's included) do not agree on on/off
    status: str  # ok | info | warn | fail
    detail: str

    def to_dict(self) -> dict:
        return {"variable": self.variable, "meaning": self.meaning, "set": self.set, "value": self.value,
                "x0ctl_on": self.x0ctl_on, "readings": [r.to_dict() for r in self.readings],
                "insecure": self.insecure, "disagreement": self.disagreement, "status": self.status,
                "detail": self.detail}


@dataclass(frozen=True)
class SwitchReport:
    production: bool  # some reader takes X0TTA6BL4_PRODUCTION as on
    findings: tuple[SwitchFinding, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not any(f.status == "fail" for f in self.findings)

    def to_dict(self) -> dict:
        return {"production": self.production, "ok": self.ok, "switches": [f.to_dict() for f in self.findings]}


def _shown(raw: str) -> str:
    return raw if len(raw) <= SHOWN_VALUE_LENGTH else raw[:SHOWN_VALUE_LENGTH] + "..."


def _finding(switch: Switch, raw: str | None, production: bool) -> SwitchFinding:
    if raw is None:
        return SwitchFinding(switch.variable, switch.meaning, False, None, None, (), False, False, "ok", "not set")
    readings = tuple(Reading(r.component, r.source, r.parse, r.reads_on(raw), r.when_on if r.reads_on(raw) else r.when_off)
                     for r in switch.readers)
    x0ctl_on = _x0ctl_flag(raw) if switch.x0ctl_reads else None
    intended = switch.intended_on(raw)
    opinions = [r.on for r in readings] + ([intended] if intended is not None else [])
    disagreement = len(set(opinions)) > 1
    insecure = (any(reader.weakens_when_on and reader.reads_on(raw) for reader in switch.readers)
                or (switch.x0ctl_weakens_when_on and bool(x0ctl_on)))
    parts = [f"{r.component}: {r.effect}" for r in readings]
    if switch.x0ctl_reads:
        parts.append("x0ctl: " + ("refuses the value" if x0ctl_on is None else "on" if x0ctl_on else "off"))
    if not switch.readers:
        parts.append("the mesh never reads it")
    elif disagreement:
        parts.append("the readers disagree (or differ from what the value usually means)")
    if insecure:
        status = "fail" if production else "warn"
    elif disagreement:
        status = "warn"
    else:
        status = "info"
    return SwitchFinding(switch.variable, switch.meaning, True, _shown(raw), x0ctl_on, readings, insecure,
                         disagreement, status, f"={_shown(raw)!r}: " + "; ".join(parts))


def assess_switches(environ: Mapping[str, str] | None = None) -> SwitchReport:
    """Every known switch, read from `environ` (default: this process's) the way each reader reads it."""
    environ = os.environ if environ is None else environ
    raw_production = environ.get(PRODUCTION)
    production = raw_production is not None and (
        any(r.reads_on(raw_production) for r in SWITCHES[0].readers) or bool(_x0ctl_flag(raw_production)))
    findings = tuple(_finding(switch, environ.get(switch.variable), production) for switch in SWITCHES)
    return SwitchReport(production, findings)
