"""The production guard of the mesh (shared/domain.md, "Cryptography").

A "simplified" PQC implementation once reached production. x0ctl ships no such thing, and with
X0TTA6BL4_PRODUCTION=true it proves it on every use: the backend must be one of the real
implementations x0ctl knows *and* must pass a known-answer power-on self-test (ML-KEM-768 and
ML-DSA-65 key generation from NIST KAT seeds) before any key is touched.

X0TTA6BL4_ALLOW_MOCK_PQC=true is the mesh's test-only override. x0ctl has no mock backend to
allow, so the variable changes nothing here; it is reported loudly (doctor, stderr) and in
production it is refused outright, because its presence means a test configuration leaked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from x0ctl.errors import EnvironmentProblem, UsageError

PRODUCTION_VAR = "X0TTA6BL4_PRODUCTION"
ALLOW_MOCK_VAR = "X0TTA6BL4_ALLOW_MOCK_PQC"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def env_flag(name: str) -> bool:
    """Strict boolean: a typo in a safety switch must not silently mean "off"."""
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError(f"{name}={raw!r} is not a boolean; use true or false")


def mesh_switch(name: str) -> bool:
    """A switch the mesh reads too, as `value.lower() == "true"`: only true or false (any case; unset or
    empty is false). The mesh takes `1`, `yes` or `on` as off, so x0ctl refuses them rather than read a
    node's safety switch differently from the mesh (../shared/mesh-interop.md)."""
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if value in ("true", "false", ""):
        return value == "true"
    if value in _TRUE | _FALSE:
        raise UsageError(f"{name}={raw!r}: use true or false (the mesh reads anything but 'true' as false, so "
                         f"'{raw.strip()}' would mean something else to it)")
    raise UsageError(f"{name}={raw!r} is not a boolean; use true or false")


@dataclass
class GuardState:
    production: bool
    allow_mock_requested: bool

    @property
    def warning(self) -> str | None:
        if self.allow_mock_requested:
            return (
                f"{ALLOW_MOCK_VAR}=true is set: it is a test-only override and x0ctl has no mock PQC; "
                "only real backends are used"
            )
        return None


def state() -> GuardState:
    return GuardState(mesh_switch(PRODUCTION_VAR), mesh_switch(ALLOW_MOCK_VAR))


_passed: set[str] = set()


def refuse_test_override_in_production(current: GuardState | None = None) -> GuardState:
    """Raise when the test-only override is set on a production node; also for paths with no PQC."""
    current = current or state()
    if current.production and current.allow_mock_requested:
        raise EnvironmentProblem(
            f"{PRODUCTION_VAR}=true together with {ALLOW_MOCK_VAR}=true: refusing to run",
            hint=f"unset {ALLOW_MOCK_VAR}; it is for test environments only",
        )
    return current


def enforce(backend) -> None:
    """Raise EnvironmentProblem unless `backend` may be used under the current guard settings."""
    current = refuse_test_override_in_production()
    if not current.production:
        return
    from x0ctl.pqc.liboqs import LiboqsBackend
    from x0ctl.pqc.openssl import OpenSSLBackend

    if type(backend) not in (OpenSSLBackend, LiboqsBackend):
        raise EnvironmentProblem(f"{PRODUCTION_VAR}=true: backend {backend!r} is not a known real PQC implementation")
    if backend.name in _passed:
        return
    from x0ctl.pqc.selftest import power_on_self_test

    power_on_self_test(backend)  # raises EnvironmentProblem naming the failed check
    _passed.add(backend.name)
