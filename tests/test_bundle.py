"""scripts/bundle: an offline bundle that installs with no network, the same bytes when built twice.

The bundle is built twice per session (dependency wheels are kept, hash-checked, in
build/bundle-cache, so only the first build ever downloads), then installed into a fresh venv
inside a network namespace with no network (`unshare -n`; CI runs as root), where
`x0ctl doctor && x0ctl verify kat` must pass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from .conftest import REPO

BUNDLE = REPO / "scripts" / "bundle"


def no_network_prefix() -> list[str]:
    """`unshare -n` as root; a user namespace (-rn) elsewhere, where the kernel allows it."""
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) is not installed: cannot run the install without network")
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        if subprocess.run([*prefix, "true"], capture_output=True, timeout=30).returncode == 0:
            return prefix
    pytest.skip("this user cannot create a network namespace (unshare -n needs root; CI runs as root)")


def hermetic_env(home: Path) -> dict[str, str]:
    """No pip configuration (no local wheel folders or mirrors), no x0ctl settings from outside."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "PIP_CONFIG_FILE": os.devnull,
            "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local" / "share"),
            "LC_ALL": "C.UTF-8"}


def build(out: Path) -> Path:
    done = subprocess.run([sys.executable, str(BUNDLE), "--out", str(out)], capture_output=True, text=True,
                          timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    (archive,) = out.glob("x0ctl-*-bundle.tar.gz")
    return archive


def unpack(archive: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    (folder,) = into.iterdir()
    return folder


def sums(folder: Path) -> dict[str, str]:
    return {name: digest for digest, name in
            (line.split("  ", 1) for line in (folder / "SHA256SUMS").read_text().splitlines())}


@pytest.fixture(scope="session")
def bundles(tmp_path_factory):
    base = tmp_path_factory.mktemp("bundles")
    return build(base / "first"), build(base / "second")


def test_two_builds_give_the_same_wheels(bundles, tmp_path):
    first, second = (unpack(archive, tmp_path / name) for archive, name in zip(bundles, ("a", "b"), strict=True))
    first_wheels = {k: v for k, v in sums(first).items() if k.startswith("wheels/")}
    second_wheels = {k: v for k, v in sums(second).items() if k.startswith("wheels/")}
    assert first_wheels == second_wheels
    assert any(name.startswith("wheels/x0ctl-") for name in first_wheels)
    # SOURCE_DATE_EPOCH makes the whole tarball reproducible, not only the wheels.
    assert bundles[0].read_bytes() == bundles[1].read_bytes()


def test_the_bundle_holds_the_lock_sums_and_an_sbom(bundles, tmp_path):
    folder = unpack(bundles[0], tmp_path)
    assert (folder / "runtime.txt").read_text() == (REPO / "x0ctl" / "locks" / "runtime.txt").read_text()
    listed = sums(folder)
    on_disk = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    assert sorted(listed) == on_disk
    assert subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=folder).returncode == 0
    sbom = json.loads((folder / "sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    from x0ctl import __version__

    assert sbom["metadata"]["component"]["purl"] == f"pkg:pypi/x0ctl@{__version__}"
    assert {"cryptography", "typer", "liboqs-python"} <= {c["name"] for c in sbom["components"]}
    build_info = json.loads((folder / "BUILD.json").read_text())
    assert "not bundled" in build_info["liboqs"]
    if shutil.which("shellcheck"):
        linted = subprocess.run(["shellcheck", "-s", "sh", "install"], cwd=folder, capture_output=True, text=True)
        assert linted.returncode == 0, linted.stdout
    assert not list((folder / "wheels").glob("liboqs.so*"))


def test_offline_install_runs_doctor_and_verify_kat(bundles, tmp_path):
    prefix = no_network_prefix()
    folder = unpack(bundles[0], tmp_path / "bundle")
    venv = tmp_path / "x0ctl"
    script = (f"./install {venv} {sys.executable} && {venv}/bin/x0ctl doctor --no-measure && "
              f"{venv}/bin/x0ctl verify kat && {venv}/bin/x0ctl version -o json > {tmp_path}/version.json")
    done = subprocess.run([*prefix, "sh", "-c", script], cwd=folder, capture_output=True, text=True, timeout=300,
                          env=hermetic_env(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "liboqs is not bundled" in done.stdout
    version = json.loads((tmp_path / "version.json").read_text())
    assert version["commit_source"] == "build"
    assert version["git_commit"] == json.loads((folder / "BUILD.json").read_text())["git_commit"]
    assert version["lock"]["matches"] is True and version["python_executable"].startswith(str(venv))


def test_a_tampered_wheel_is_refused_even_with_matching_sums(bundles, tmp_path):
    prefix = no_network_prefix()
    folder = unpack(bundles[0], tmp_path / "bundle")
    (wheel,) = (folder / "wheels").glob("mdurl-*.whl")
    wheel.write_bytes(wheel.read_bytes() + b"\0")
    install = [*prefix, "./install", str(tmp_path / "venv"), sys.executable]
    done = subprocess.run(install, cwd=folder, capture_output=True, text=True, timeout=300, env=hermetic_env(tmp_path))
    assert done.returncode != 0 and "FAILED" in done.stdout + done.stderr
    # Someone who can rewrite the wheel can rewrite SHA256SUMS: the lock's hashes still refuse it.
    lines = [line for line in (folder / "SHA256SUMS").read_text().splitlines() if not line.endswith(wheel.name)]
    digest = subprocess.run(["sha256sum", wheel.name], cwd=wheel.parent, capture_output=True, text=True).stdout.split()[0]
    (folder / "SHA256SUMS").write_text("\n".join([*lines, f"{digest}  wheels/{wheel.name}"]) + "\n")
    shutil.rmtree(tmp_path / "venv", ignore_errors=True)
    done = subprocess.run(install, cwd=folder, capture_output=True, text=True, timeout=300, env=hermetic_env(tmp_path))
    assert done.returncode != 0
    assert "DO NOT MATCH THE HASHES" in done.stderr and "mdurl" in done.stderr
