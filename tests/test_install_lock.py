"""The hash-pinned locks in x0ctl/locks/ against pyproject.toml, and scripts/install's use of them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

from .conftest import REPO

LOCK_SCRIPT = REPO / "scripts" / "lock"
LOCKS = REPO / "x0ctl" / "locks"


def lock_check(pyproject=REPO / "pyproject.toml", locks=LOCKS) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(LOCK_SCRIPT), "--check", "--pyproject", str(pyproject),
                           "--locks", str(locks)], capture_output=True, text=True, timeout=60)


def test_the_locks_satisfy_pyproject():
    done = lock_check()
    assert done.returncode == 0, done.stderr


def test_a_dependency_added_without_refreshing_fails_with_the_refresh_command(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    text = (REPO / "pyproject.toml").read_text()
    pyproject.write_text(text.replace('dependencies = [\n', 'dependencies = [\n    "etcd3>=0.12",\n', 1))
    done = lock_check(pyproject)
    assert done.returncode == 1
    assert "runtime.txt does not pin etcd3" in done.stderr
    assert done.stderr.strip().endswith("Refresh them with: scripts/lock")


def test_a_raised_floor_the_pin_no_longer_meets_fails(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    text = (REPO / "pyproject.toml").read_text()
    assert '"pyyaml>=6"' in text
    pyproject.write_text(text.replace('"pyyaml>=6"', '"pyyaml>=99"'))
    done = lock_check(pyproject)
    assert done.returncode == 1
    assert "pins pyyaml==" in done.stderr and "outside pyproject.toml's 'pyyaml>=99'" in done.stderr


def test_a_pin_without_hash_or_out_of_step_across_locks_fails(tmp_path):
    locks = tmp_path / "locks"
    shutil.copytree(LOCKS, locks)
    runtime = (locks / "runtime.txt").read_text()
    unhashed = re.sub(r"(\nmdurl==\S+) \\\n(\s+--hash=\S+(?: \\)?\n)+", r"\1\n", runtime)
    assert unhashed != runtime
    (locks / "runtime.txt").write_text(unhashed)
    test_lock = (locks / "test.txt").read_text()
    (locks / "test.txt").write_text(re.sub(r"\nrich==[^ ]+", "\nrich==0.0.1", test_lock, count=1))
    done = lock_check(locks=locks)
    assert done.returncode == 1
    assert "runtime.txt: mdurl==" in done.stderr and "has no --hash" in done.stderr
    assert "rich is pinned differently across locks" in done.stderr and "test.txt 0.0.1" in done.stderr


def test_cryptography_vectors_follow_the_cryptography_pin():
    import tomllib

    pins = {}
    for line in (LOCKS / "test.txt").read_text().splitlines():
        if line.startswith(("cryptography==", "cryptography-vectors==")):
            name, version = line.split()[0].split("==")
            pins[name] = version
    assert pins["cryptography"] == pins["cryptography-vectors"]
    assert "release" in tomllib.loads((REPO / "pyproject.toml").read_text())["dependency-groups"]


def load_script(name: str):
    from importlib.machinery import SourceFileLoader
    from importlib.util import module_from_spec, spec_from_loader

    loader = SourceFileLoader(f"x0ctl_script_{name}", str(REPO / "scripts" / name))
    module = module_from_spec(spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def test_audit_fails_on_a_vulnerable_pin_and_skips_only_when_it_learned_nothing():
    audit = load_script("audit")
    # pip-audit's `-f json` report shape (exit 1 when it found something).
    found = {"dependencies": [
        {"name": "pyyaml", "version": "5.3", "vulns": [{"id": "PYSEC-2021-142", "fix_versions": ["5.4"]}]},
        {"name": "rich", "version": "15.0.0", "vulns": []}], "fixes": []}
    status, message = audit.classify(1, json.dumps(found), "")
    assert status == 1 and "pyyaml==5.3: PYSEC-2021-142 (fixed in 5.4)" in message and "scripts/lock" in message
    unknown = {"dependencies": [{"name": "rich", "skip_reason": "Dependency not found on PyPI"}], "fixes": []}
    status, message = audit.classify(0, json.dumps(unknown), "")
    assert status == 0 and "SKIPPED" in message
    partly = {"dependencies": [{"name": "rich", "version": "15.0.0", "vulns": []},
                               {"name": "x", "skip_reason": "Dependency not found on PyPI"}], "fixes": []}
    status, message = audit.classify(0, json.dumps(partly), "")
    assert status == 0 and "no known vulnerabilities in 1 locked pins; not audited" in message
    status, message = audit.classify(1, "", "requests.exceptions.ConnectionError: ... NameResolutionError")
    assert status == 0 and "unreachable" in message
    status, message = audit.classify(2, "", "pip-audit: error: unrecognized arguments")
    assert status == 1

