"""The PQC backend layer: real ML-KEM / ML-DSA implementations behind one interface.

    from x0ctl.pqc import get_backend, XWing
    backend = get_backend("auto")          # or "openssl" / "liboqs"
    kem = backend.kem("ML-KEM-768"); sig = backend.sig("ML-DSA-65")
    xwing = XWing(backend)

Importing this package is cheap: backends load their native libraries on first use.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from x0ctl.errors import UsageError
from x0ctl.pqc.base import (
    KEM_ALGORITHMS,
    SIG_ALGORITHMS,
    Backend,
    BackendUnavailable,
    Encapsulation,
    KemPrivateKey,
    KemScheme,
    PQCError,
    SigPrivateKey,
    SigPublicKey,
    SigScheme,
    UnsupportedAlgorithm,
    UnsupportedOperation,
)

BACKEND_NAMES = ("openssl", "liboqs")
BACKEND_CHOICES = ("auto", *BACKEND_NAMES)

__all__ = [
    "BACKEND_CHOICES",
    "BACKEND_NAMES",
    "KEM_ALGORITHMS",
    "SIG_ALGORITHMS",
    "Backend",
    "BackendStatus",
    "BackendUnavailable",
    "Encapsulation",
    "KemPrivateKey",
    "KemScheme",
    "PQCError",
    "SigPrivateKey",
    "SigPublicKey",
    "SigScheme",
    "UnsupportedAlgorithm",
    "UnsupportedOperation",
    "XWing",
    "backend_status",
    "get_backend",
    "resolve_backend_names",
]


def __getattr__(name: str):
    if name == "XWing":  # keeps `import x0ctl.pqc` free of cryptography until X-Wing is used
        from x0ctl.pqc.xwing import XWing

        return XWing
    raise AttributeError(name)


@dataclass
class BackendStatus:
    name: str
    available: bool
    version: str | None = None
    reason: str | None = None
    hint: str | None = None
    kem_algorithms: tuple[str, ...] = ()
    sig_algorithms: tuple[str, ...] = ()
    details: dict = field(default_factory=dict)


_instances: dict[str, Backend] = {}
_failures: dict[str, BackendUnavailable] = {}
_lock = threading.Lock()
_auto_choice: dict | None = None


def _load(name: str) -> Backend:
    """Instantiate a backend once per process (raises BackendUnavailable with the reason)."""
    with _lock:
        if name in _instances:
            return _instances[name]
        if name in _failures:
            raise _failures[name]
        try:
            if name == "openssl":
                from x0ctl.pqc.openssl import OpenSSLBackend

                backend: Backend = OpenSSLBackend()
            elif name == "liboqs":
                from x0ctl.pqc.liboqs import LiboqsBackend

                backend = LiboqsBackend()
            else:
                raise UsageError(f"unknown backend {name!r}; choose one of: {', '.join(BACKEND_CHOICES)}")
        except BackendUnavailable as exc:
            _failures[name] = exc
            raise
        _instances[name] = backend
        return backend


def backend_status(name: str) -> BackendStatus:
    """Whether a backend can be used here, and why not; never raises for a missing library."""
    try:
        backend = _load(name)
    except BackendUnavailable as exc:
        return BackendStatus(name, False, reason=exc.message, hint=exc.hint)
    details = {}
    if name == "liboqs":
        details["library"] = backend.library_path  # type: ignore[attr-defined]
    return BackendStatus(
        name, True, version=backend.version(), kem_algorithms=backend.kem_algorithms(),
        sig_algorithms=backend.sig_algorithms(), details=details,
    )


def _measure(backend: Backend, rounds: int = 8) -> float:
    """Seconds for `rounds` of the mesh's hot path: ML-KEM-768 encaps+decaps, ML-DSA-65 sign+verify."""
    kem, sig = backend.kem("ML-KEM-768"), backend.sig("ML-DSA-65")
    dk, sk = kem.generate(), sig.generate()
    ek, vk = dk.public_key(), sig.public_key(sk.public_key())
    message = b"x0ctl backend speed probe"
    best = float("inf")
    for _ in range(3):  # best of three damps scheduler noise on a busy node
        start = time.perf_counter()
        for _ in range(rounds):
            dk.decapsulate(kem.encapsulate(ek).ciphertext)
            vk.verify(message, sk.sign(message))
        best = min(best, time.perf_counter() - start)
    return best


def auto_choice() -> dict:
    """Which backend `auto` picks and the measurements behind the choice (cached per process)."""
    global _auto_choice
    if _auto_choice is None:
        usable = []
        for name in BACKEND_NAMES:
            try:
                usable.append(_load(name))
            except BackendUnavailable:
                continue
        if len(usable) == 1:
            _auto_choice = {"chosen": usable[0].name, "measured": {}, "why": "only available backend"}
        else:
            timings = {backend.name: _measure(backend) for backend in usable}
            chosen = min(timings, key=timings.get)
            _auto_choice = {"chosen": chosen, "measured": timings, "why": "fastest on this node"}
    return _auto_choice


def resolve_backend_names(selection: str) -> list[str]:
    """Names for a --backend value: one backend, `auto`, or `all` (every available one)."""
    if selection == "all":
        return [name for name in BACKEND_NAMES if backend_status(name).available]
    if selection == "auto":
        return [auto_choice()["chosen"]]
    if selection not in BACKEND_NAMES:
        raise UsageError(f"unknown backend {selection!r}; choose one of: {', '.join((*BACKEND_CHOICES, 'all'))}")
    return [selection]


def get_backend(selection: str = "auto") -> Backend:
    """The backend to use for `selection` (auto/openssl/liboqs), after the production guard."""
    from x0ctl.pqc.guard import enforce

    (name,) = resolve_backend_names(selection) if selection != "all" else (None,)
    if name is None:
        raise UsageError("--backend all names several backends; this command needs exactly one")
    backend = _load(name)
    enforce(backend)
    return backend
