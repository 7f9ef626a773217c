"""`x0ctl version -o json`: provenance from the real install, and the lock comparison."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources

from x0ctl.provenance import compare_with_lock, installed_versions, read_lock

from .conftest import REPO


def runtime_lock() -> str:
    return resources.files("x0ctl").joinpath("locks/runtime.txt").read_text()


def test_version_reports_this_checkout_and_the_libraries(cli):
    data = cli.json("version")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert data["git_commit"] == head and data["commit_source"] == "checkout"
    import cryptography
    from cryptography.hazmat.backends.openssl.backend import backend

    assert data["cryptography"] == {"version": cryptography.__version__,
                                    "openssl": backend.openssl_version_text(), "error": None}
    from importlib.metadata import version

    assert data["liboqs_python"]["version"] == version("liboqs-python")
    from x0ctl.pqc.liboqs import locate_liboqs

    location = locate_liboqs()
    assert (data["liboqs"]["found"], data["liboqs"]["path"], data["liboqs"]["version"]) == (
        location.found, location.path, location.version)
    if not location.found:
        assert "not bundled" in data["liboqs"]["reason"]
    # scripts/install made this venv from the locks.
    assert data["lock"]["matches"] is True, data["lock"]
    assert data["lock"]["checked"] >= 10


def test_version_never_imports_oqs():
    code = ("import sys; from x0ctl.provenance import collect; collect(); "
            "sys.exit('oqs imported' if 'oqs' in sys.modules else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr + done.stdout


def test_a_package_off_its_pin_or_missing_is_reported():
    installed = installed_versions()
    installed["rich"] = "0.0.1"
    del installed["pyyaml"]
    result = compare_with_lock(runtime_lock(), installed)
    assert result.matches is False
    assert [m["name"] for m in result.mismatched] == ["rich"] and result.mismatched[0]["installed"] == "0.0.1"
    assert result.missing == ["pyyaml"]


def test_a_marker_pin_for_another_platform_is_not_applicable():
    pins = {pin.name: pin for pin in read_lock(runtime_lock())}
    assert pins["colorama"].marker == "sys_platform == 'win32'"
    installed = {name: pin.version for name, pin in pins.items() if name != "colorama"}
    result = compare_with_lock(runtime_lock(), installed)
    assert result.matches is True and result.not_applicable == ["colorama"]


def test_version_full_prints_the_provenance_table(cli):
    done = cli("version", "--full")
    assert done.exit_code == 0
    for label in ("cryptography", "liboqs-python", "liboqs", "lock", "commit"):
        assert label in done.stdout
    assert "matches x0ctl/locks/runtime.txt" in " ".join(done.stdout.split())
