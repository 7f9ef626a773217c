"""What this x0ctl install is made of: `x0ctl version -o json`.

    from x0ctl.provenance import collect
    info = collect()              # Provenance; info.to_dict() is the JSON schema version.json

The x0ctl release and the git commit it was built from, Python, cryptography and the OpenSSL it
carries, liboqs-python and the liboqs shared library (located with the liboqs backend's own
search; `oqs` is never imported here), and whether the installed packages are the ones pinned by
the runtime lock shipped inside the package (x0ctl/locks/runtime.txt).

The commit comes from git when x0ctl runs from a checkout (an editable install), otherwise from
x0ctl/_build.json, which scripts/install and scripts/bundle write before they build the wheel.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata, resources
from pathlib import Path

from x0ctl import __version__

LIBOQS_NOT_BUNDLED = "liboqs is not bundled with x0ctl or its offline bundle (it has no redistributable binary): install it on the node"
RUNTIME_LOCK = "locks/runtime.txt"
BUILD_INFO = "_build.json"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]*?))?\s*\\?$")


@dataclass(frozen=True)
class LockPin:
    name: str  # normalised (PEP 503)
    version: str
    marker: str | None
    hashes: tuple[str, ...]


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(text: str) -> list[LockPin]:
    """The pins of a hash-pinned requirements file as `uv pip compile --generate-hashes` writes it."""
    pins: list[LockPin] = []
    logical, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current += " " + line.removesuffix("\\").strip()
        if not line.endswith("\\"):
            logical.append(current.strip())
            current = ""
    if current:
        logical.append(current.strip())
    for entry in logical:
        words = entry.split(" --hash=")
        match = _PIN.match(words[0].strip())
        if not match:
            raise ValueError(f"not a pinned requirement: {words[0].strip()!r}")
        name, version, marker = match.groups()
        pins.append(LockPin(canonical_name(name), version, marker or None, tuple(w.strip() for w in words[1:])))
    return pins


@dataclass
class LockComparison:
    lock: str
    matches: bool | None
    checked: int = 0
    mismatched: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)
    error: str | None = None


def compare_with_lock(lock_text: str, installed: dict[str, str], lock_name: str = RUNTIME_LOCK) -> LockComparison:
    """Installed versions (canonical name -> version) against the lock's pins.

    A pin with an environment marker whose package is not installed is counted as not applicable
    here (the marker excludes this platform); a pin without a marker must be installed.
    """
    try:
        pins = read_lock(lock_text)
    except ValueError as exc:
        return LockComparison(lock_name, None, error=str(exc))
    result = LockComparison(lock_name, True)
    for pin in pins:
        version = installed.get(pin.name)
        if version is None:
            (result.not_applicable if pin.marker else result.missing).append(pin.name)
            continue
        result.checked += 1
        if version != pin.version:
            result.mismatched.append({"name": pin.name, "locked": pin.version, "installed": version})
    result.matches = not result.mismatched and not result.missing
    return result


def installed_versions() -> dict[str, str]:
    return {canonical_name(dist.metadata["Name"]): dist.version
            for dist in metadata.distributions() if dist.metadata["Name"]}


@dataclass
class Provenance:
    x0ctl: str
    git_commit: str | None
    git_dirty: bool | None
    commit_source: str | None  # "checkout", "build" or None
    python: str
    python_implementation: str
    python_executable: str
    platform: str
    cryptography: dict
    liboqs_python: dict
    liboqs: dict
    lock: LockComparison

    def to_dict(self) -> dict:
        return asdict(self)


def _git_commit() -> tuple[str | None, bool | None, str | None]:
    """(commit, dirty, source): from git for a checkout, else from _build.json, else unknown."""
    package = Path(__file__).resolve().parent
    checkout = package.parent
    if (checkout / ".git").exists() and (checkout / "pyproject.toml").is_file():
        try:
            head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True,
                                  text=True, timeout=5)
            status = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=5)
            if head.returncode == 0:
                return head.stdout.strip(), bool(status.stdout.strip()) if status.returncode == 0 else None, "checkout"
        except (OSError, subprocess.TimeoutExpired):
            pass
    build_info = package / BUILD_INFO
    try:
        data = json.loads(build_info.read_text())
        return data.get("git_commit"), data.get("git_dirty"), "build"
    except (OSError, ValueError):
        return None, None, None


def _cryptography() -> dict:
    try:
        import cryptography
        from cryptography.hazmat.backends.openssl.backend import backend
    except ImportError as exc:
        return {"version": None, "openssl": None, "error": f"not importable: {exc}"}
    return {"version": cryptography.__version__, "openssl": backend.openssl_version_text(), "error": None}


def _liboqs() -> dict:
    from x0ctl.pqc.liboqs import locate_liboqs  # a ctypes probe of the library; never `import oqs`

    location = locate_liboqs()
    return {"found": location.found, "path": location.path, "version": location.version,
            "reason": None if location.found else f"{location.reason}; {LIBOQS_NOT_BUNDLED}"}


def collect() -> Provenance:
    commit, dirty, source = _git_commit()
    installed = installed_versions()
    try:
        lock_text = resources.files("x0ctl").joinpath(RUNTIME_LOCK).read_text()
        lock = compare_with_lock(lock_text, installed, f"x0ctl/{RUNTIME_LOCK}")
    except OSError as exc:
        lock = LockComparison(f"x0ctl/{RUNTIME_LOCK}", None, error=f"the lock is not installed with x0ctl: {exc}")
    return Provenance(
        x0ctl=__version__,
        git_commit=commit,
        git_dirty=dirty,
        commit_source=source,
        python=platform.python_version(),
        python_implementation=platform.python_implementation(),
        python_executable=sys.executable,
        platform=f"{sys.platform}-{platform.machine()}",
        cryptography=_cryptography(),
        liboqs_python={"version": installed.get("liboqs-python")},
        liboqs=_liboqs(),
        lock=lock,
    )
