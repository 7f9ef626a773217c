"""Shared fixtures: the CLI runner, backend availability, the mesh's shared reference folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def liboqs_status():
    from x0ctl.pqc import backend_status

    return backend_status("liboqs")


def liboqs_found_with(env: dict) -> bool:
    """Whether x0ctl's own search finds liboqs under `env` (a fresh process: the search is cached)."""
    code = "from x0ctl.pqc.liboqs import locate_liboqs; print(locate_liboqs().found)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() == "True"


@pytest.fixture(scope="session")
def liboqs_backend():
    """The liboqs backend, or a skip that says why it is absent on this machine."""
    status = liboqs_status()
    if not status.available:
        pytest.skip(status.reason)
    from x0ctl.pqc import get_backend

    return get_backend("liboqs")


@pytest.fixture(scope="session")
def openssl_backend():
    from x0ctl.pqc import get_backend

    return get_backend("openssl")


def available_backend_names() -> list[str]:
    from x0ctl.pqc import BACKEND_NAMES, backend_status

    return [name for name in BACKEND_NAMES if backend_status(name).available]


@pytest.fixture(params=["openssl", "liboqs"])
def backend(request):
    """Each real backend in turn; liboqs is skipped with the reason when it is absent."""
    if request.param == "liboqs":
        return request.getfixturevalue("liboqs_backend")
    return request.getfixturevalue("openssl_backend")


@pytest.fixture(scope="session")
def xwing_vectors() -> list[dict]:
    path = SHARED / "vectors" / "xwing-test-vectors.json"
    if not path.exists():
        pytest.skip(f"shared X-Wing vectors not found at {path}")
    return json.loads(path.read_text())


class Cli:
    """Runs x0ctl in-process through Typer's CliRunner (stdout and stderr kept apart)."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict | None = None, input: str | None = None):
        from x0ctl.cli.main import app

        result = self.runner.invoke(app, list(args), env=env, input=input)
        assert "Traceback" not in result.stderr, result.stderr
        assert "Traceback" not in result.stdout, result.stdout
        return result

    def json(self, *args: str, expect: int = 0, env: dict | None = None):
        result = self(*args, "-o", "json", env=env) if args else self(env=env)
        assert result.exit_code == expect, (result.exit_code, result.stdout, result.stderr)
        return json.loads(result.stdout)


@pytest.fixture
def cli() -> Cli:
    return Cli()


def run_x0ctl(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """x0ctl in a fresh interpreter, for what an in-process runner cannot show (imports, env)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "x0ctl", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=REPO)


def assert_one_line_error(stderr: str, *fragments: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("x0ctl: error: ")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
