"""x0ctl in a real terminal: tables and colour on a TTY, plain text when piped, progress on stderr.

Each command runs in a detached tmux session of a fixed size on a private tmux server; the screen
is read back with `capture-pane` (`-e` keeps the escape sequences, so colour can be checked).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from .conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")

EXIT_MARK = "__x0ctl_exit="
BOX = set("┏┓┗┛┃━┡┩│─└┘╇┳┻╋")
# SGR parameters that set a colour. tmux itself writes 0, 39 and 49 (resets) around every cell.
COLOUR_SGR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")
ANY_ESCAPE = re.compile(r"\x1b|\r")
X0CTL = f"{shlex.quote(sys.executable)} -m x0ctl"


class Terminal:
    """A private tmux server; each run() gets a new window of the given size and waits for the command."""

    def __init__(self, socket_path, base_env: dict[str, str]) -> None:
        self.socket = str(socket_path)  # a private server: never the user's tmux
        self.env = base_env

    def start(self) -> None:
        # A session that outlives every run: tmux exits with its last session, and a run starting
        # while the previous server shuts down would race it.
        self.tmux("new-session", "-d", "-s", "keepalive", "sleep 3600")

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(["tmux", "-S", self.socket, "-f", os.devnull, *args], capture_output=True,
                                text=True, env=self.env, timeout=15, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def run(self, command: str, width: int = 120, height: int = 50, timeout: float = 60.0, during=None):
        """Run `command` (bash) in the terminal; returns (exit code, plain screen, screen with escapes).

        `during(screen)` is called on each screen seen while the command runs; polling stops when it
        returns True (used to catch transient output such as progress bars).
        """
        session = f"s{uuid.uuid4().hex[:8]}"
        script = f"cd {shlex.quote(str(REPO))}; {command}; printf '\\n{EXIT_MARK}%s\\n' \"$?\"; sleep 600"
        self.tmux("new-session", "-d", "-s", session, "-x", str(width), "-y", str(height),
                  "bash", "-o", "pipefail", "-c", script)
        try:
            deadline = time.monotonic() + timeout
            watching = during is not None
            while True:
                screen = self.capture(session)
                if watching and during(screen):
                    watching = False
                if EXIT_MARK in screen:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"command did not finish within {timeout} s: {command}\n{screen}")
                time.sleep(0.02 if watching else 0.1)
            code = int(re.search(rf"{EXIT_MARK}(\d+)", screen).group(1))
            return code, _before_mark(screen), _before_mark(self.capture(session, escapes=True))
        finally:
            self.tmux("kill-session", "-t", session, check=False)

    def capture(self, session: str, escapes: bool = False) -> str:
        args = ["capture-pane", "-p", "-J", "-S", "-", "-t", session]
        return self.tmux(*args, *(["-e"] if escapes else [])).stdout

    def close(self) -> None:
        self.tmux("kill-server", check=False)


def _before_mark(screen: str) -> str:
    return screen.split(EXIT_MARK)[0].rstrip()


@pytest.fixture(scope="module")
def terminal(tmp_path_factory):
    home = tmp_path_factory.mktemp("terminal")
    env = {key: value for key, value in os.environ.items()
           if key not in {"NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES", "X0CTL_OUTPUT", "TMUX", "X0CTL_PROFILE"}}
    # doctor must not depend on this machine's keystore, config or Prometheus
    env.update(TERM="xterm-256color", X0CTL_KEYSTORE=str(home / "keystore"), X0CTL_PROMETHEUS_URL="",
               XDG_CONFIG_HOME=str(home / "config"), X0CTL_CONFIG="")
    term = Terminal(home / "tmux.sock", env)
    try:
        term.start()
        yield term
    finally:
        term.close()


def has_table(screen: str) -> bool:
    return len(BOX & set(screen)) >= 4


def test_table_with_colour_on_a_terminal(terminal):
    code, screen, raw = terminal.run(f"{X0CTL} doctor --no-measure")
    assert code == 0, screen
    assert has_table(screen), screen
    header = next(line for line in screen.splitlines() if "check" in line and "status" in line)
    assert "detail" in header and header.startswith("┃")
    assert "backend openssl" in screen and "production guard" in screen
    assert COLOUR_SGR.search(raw), "a terminal gets colour (the statuses)"
    assert all(len(line) <= 120 for line in screen.splitlines())


def test_table_fits_a_narrow_terminal(terminal):
    code, screen, _ = terminal.run(f"{X0CTL} doctor --no-measure", width=60)
    assert code == 0, screen
    assert has_table(screen)
    assert all(len(line) <= 60 for line in screen.splitlines()), screen


@pytest.mark.parametrize("command", [
    pytest.param(f"NO_COLOR=1 {X0CTL} doctor --no-measure", id="NO_COLOR"),
    pytest.param(f"{X0CTL} --no-color doctor --no-measure", id="--no-color"),
])
def test_no_colour(terminal, command):
    code, screen, raw = terminal.run(command)
    assert code == 0, screen
    assert has_table(screen), "still a table, just without colour"
    assert not COLOUR_SGR.search(raw), COLOUR_SGR.findall(raw)[:5]


def test_verify_kat_table(terminal):
    code, screen, _ = terminal.run(f"{X0CTL} verify kat -a ML-KEM-768")
    assert code == 0, screen
    assert "Known-answer tests" in screen and has_table(screen)
    header = next(line for line in screen.splitlines() if "algorithm" in line)
    for column in ("backend", "source", "passed", "failed", "skipped", "time"):
        assert column in header
    assert re.search(r"ML-KEM-768\s+│\s+(openssl|liboqs)\s+│\s+embedded", screen), screen


def test_piped_output_is_plain_text(terminal, tmp_path):
    out = tmp_path / "doctor.txt"
    code, screen, _ = terminal.run(f"{X0CTL} doctor --no-measure | cat > {out}")
    assert code == 0, screen
    text = out.read_text()
    assert not ANY_ESCAPE.search(text), repr(text[:300])
    assert "backend openssl" in text and "production guard" in text
    assert "backend openssl" not in screen, "the result went to the pipe, not the terminal"


def test_json_through_a_pipe(terminal, tmp_path):
    out = tmp_path / "kat.json"
    code, screen, _ = terminal.run(f"{X0CTL} verify kat -a ML-KEM-768 -o json | cat > {out}")
    assert code == 0, screen
    assert json.loads(out.read_text())["ok"] is True


def test_progress_goes_to_the_terminal_and_stdout_stays_clean(terminal, tmp_path):
    out = tmp_path / "selftest.txt"
    bars: list[str] = []

    def progress_visible(screen: str) -> bool:
        line = next((line for line in screen.splitlines() if re.search(r"handshakes .*\d+/400", line)), None)
        if line:
            bars.append(line)
        return line is not None

    code, screen, _ = terminal.run(f"{X0CTL} handshake selftest --count 400 | cat > {out}", during=progress_visible)
    assert code == 0, screen
    assert bars, "a progress bar was shown on the terminal (stderr) while the handshakes ran"
    assert not re.search(r"\d+/400", screen), "the bar is transient: gone once the run ends"
    text = out.read_text()
    assert not ANY_ESCAPE.search(text), repr(text[:300])
    assert "━" not in text and "0:00:" not in text, "no bar or elapsed-time column in the piped result"
    assert "Handshake self-test" in text and "handshakes  400/400 ok" in text


def test_json_with_progress_stays_parseable(terminal, tmp_path):
    out = tmp_path / "selftest.json"
    code, screen, _ = terminal.run(f"{X0CTL} handshake selftest --count 200 -o json | cat > {out}")
    assert code == 0, screen
    assert json.loads(out.read_text())["successes"] == 200
