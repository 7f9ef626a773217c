"""Rollout state on a real etcd (Debian's etcd-server, started here on 127.0.0.1, stopped after).

Operators are separate processes with separate HOME and XDG directories; one names the store with
X0CTL_STATE, the other with a profile. Every test uses its own key prefix on the shared etcd;
tests that stop etcd start their own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from x0ctl.errors import IOFailure
from x0ctl.rollout import resume
from x0ctl.rollout.state import EtcdOptions, LeaseLost, open_state

from .conftest import REPO, assert_one_line_error
from .etcdserver import start_etcd, stop_process, tls_material
from .test_json_schemas import assert_valid
from .promserver import MESH_END, closed_port, mesh_history, prometheus_fixture
from .rollout_helpers import read_until

prometheus = prometheus_fixture(mesh_history, scope="module")

END = str(MESH_END)
HEALTHY = '{instance="node-a"}'
TTL = "3s"


@pytest.fixture(scope="module")
def etcd(tmp_path_factory):
    server = start_etcd(tmp_path_factory.mktemp("etcd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_etcd(tmp_path):
    """An etcd this test may stop and restart."""
    (tmp_path / "etcd-own").mkdir()
    server = start_etcd(tmp_path / "etcd-own")
    try:
        yield server
    finally:
        server.stop()


class Operator:
    """One person on one machine: own HOME, XDG dirs and user name; x0ctl runs as a separate process."""

    def __init__(self, tmp_path, name: str, state_url: str, *, profile: bool = False) -> None:
        self.home = tmp_path / name
        self.name = name
        (self.home / "config" / "x0ctl").mkdir(parents=True)
        self.env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.home), "USER": name,
                    "XDG_STATE_HOME": str(self.home / "state"), "XDG_CONFIG_HOME": str(self.home / "config"),
                    "PYTHONPATH": str(REPO), "X0CTL_ETCD_LEASE_TTL": TTL}
        if profile:
            (self.home / "config" / "x0ctl" / "config.yaml").write_text(
                f"default-profile: shared\nprofiles:\n  shared:\n    state: {state_url}\n")
        else:
            self.env["X0CTL_STATE"] = state_url
        self.weight = self.home / "weight"

    def driver(self) -> list[str]:
        return ["--set-weight-cmd", f"echo {{weight}} > {self.weight}", "--rollback-cmd", f"echo 0 > {self.weight}",
                "--cmd-retries", "0"]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "x0ctl", *args], capture_output=True, text=True, cwd=REPO,
                              env=self.env, timeout=timeout)

    def json(self, *args: str, expect: int = 0):
        result = self.run(*args, "-o", "json")
        assert result.returncode == expect, (result.returncode, result.stdout, result.stderr)
        return json.loads(result.stdout)

    def spawn(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "x0ctl", *args, "-o", "json"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=REPO, env=self.env)

    def canary(self, prometheus, steps: str, target: str = "app") -> subprocess.Popen:
        return self.spawn("rollout", "canary", "--target", target, "--steps", steps, "--interval", "0.4s",
                          "--selector", HEALTHY, "--prometheus", prometheus.url, "--at", END, *self.driver())


def drain(process: subprocess.Popen) -> list[dict]:
    """Keep reading the process' NDJSON in the background (a full pipe would stall it); returns the list."""
    lines: list[dict] = []

    def read() -> None:
        for line in process.stdout:
            if line.strip():
                lines.append(json.loads(line))

    threading.Thread(target=read, daemon=True).start()
    return lines


def wait_status(operator: Operator, rollout_id: str, predicate, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        result = operator.run("rollout", "status", rollout_id, "-o", "json")
        status = json.loads(result.stdout) if result.stdout else {}
        if status and predicate(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"status never matched: {status} {result.stderr}")
        time.sleep(0.3)


def wait_lease_lapsed(url: str, target: str, timeout: float = 20) -> None:
    store = open_state(url)
    deadline = time.monotonic() + timeout
    while store.owner(target) is not None:
        assert time.monotonic() < deadline, f"the lease on {target!r} never lapsed"
        time.sleep(0.2)


def assert_reported_were_journaled(reported: list[dict], journaled: list[dict]) -> None:
    """Every event a process reported (NDJSON) is in the journal, once, in the order reported."""
    def key(event):
        return json.dumps({k: v for k, v in event.items() if k not in ("rollout", "seq")}, sort_keys=True)
    stored = [key(e) for e in journaled]
    position = 0
    for event in reported:
        assert key(event) in stored[position:], f"reported but not journaled (or out of order): {event}"
        position = stored.index(key(event), position) + 1


def assert_gapless(events: list[dict]) -> None:
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    keys = [json.dumps(e, sort_keys=True) for e in events]
    assert len(set(keys)) == len(keys), "an event was written twice"


def test_second_operator_is_refused_and_sees_live_progress(etcd, prometheus, tmp_path) -> None:
    url = f"{etcd.url}/two-operators"
    alice, bob = Operator(tmp_path, "alice", url), Operator(tmp_path, "bob", url, profile=True)
    first = alice.canary(prometheus, "10:20s,100")
    try:
        rollout_id = read_until(first, lambda e: e["type"] == "gate")[0]["rollout"]
        drain(first)
        refused = bob.run("rollout", "canary", "--target", "app", "--steps", "10,100", *bob.driver(),
                          "--prometheus", prometheus.url)
        assert refused.returncode == 4
        assert_one_line_error(refused.stderr, "target 'app' is locked by", rollout_id, "alice@", "pid")
        assert not bob.weight.exists(), "the refused rollout touched nothing"
        seen = bob.json("rollout", "status", rollout_id)
        assert (seen["status"], seen["weight"], seen["step"]) == ("running", 10, 1) and seen["gates"]
        later = wait_status(bob, rollout_id, lambda s: s["events"] > seen["events"])
        assert later["gates"][0]["ts"] > seen["gates"][0]["ts"], "bob sees new gate rounds as they happen"
        assert [r["id"] for r in bob.json("rollout", "list")["rollouts"]] == [rollout_id]
        promoted = bob.json("rollout", "promote", rollout_id, "--reason", "looks good")
        assert promoted["delivered"] == "running"
        assert first.wait(timeout=30) == 0, first.stderr.read()
    finally:
        stop_process(first)
        first.stdout.close()
        first.stderr.close()
    assert alice.weight.read_text() == "100\n"
    history = bob.json("rollout", "history", rollout_id)["events"]
    assert_gapless(history)
    created = history[0]
    assert (created["user"], created["pid"]) == ("alice", first.pid) and created["host"]
    operator = next(e for e in history if e["type"] == "operator")
    assert (operator["action"], operator["user"], operator["reason"]) == ("promote", "bob", "looks good")
    assert operator["host"] and operator["pid"] != first.pid


def _local_kill_and_resume(tmp_path, prometheus) -> list[dict]:
    """The same scenario on local state: SIGKILL mid-bake, then resume."""
    local = Operator(tmp_path, "local", str(tmp_path / "local-state"))
    process = local.canary(prometheus, "10:2s,100", target="app")
    try:
        rollout_id = read_until(process, lambda e: e["type"] == "gate")[0]["rollout"]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        stop_process(process)
        process.stdout.close()
        process.stderr.close()
    resumed = local.run("rollout", "resume", rollout_id, "--prometheus", prometheus.url)
    assert resumed.returncode == 0, resumed.stderr
    return local.json("rollout", "history", rollout_id)["events"]


def test_killed_owner_is_orphaned_then_taken_over_with_gates_judged_again(etcd, prometheus, tmp_path) -> None:
    url = f"{etcd.url}/take-over"
    alice, bob = Operator(tmp_path, "alice", url), Operator(tmp_path, "bob", url, profile=True)
    first = alice.canary(prometheus, "10:2s,100")
    try:
        before = read_until(first, lambda e: e["type"] == "gate")
        rollout_id = before[0]["rollout"]
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop_process(first)
        first.stdout.close()
        first.stderr.close()
    # alice's lease outlives her process by up to its TTL: a take-over now is refused (checked in-process,
    # well inside the TTL however slow this machine starts a process)
    with pytest.raises(IOFailure, match=f"locked by {rollout_id} \\(alice@"):
        resume(rollout_id, None, state_dir=open_state(url), take_over=True)
    wait_lease_lapsed(url, "app")
    for operator in (alice, bob):
        status = wait_status(operator, rollout_id, lambda s: s["status"] == "orphaned")
        assert status["weight"] == 10
        assert_valid("rollout status", status)
    listed = bob.json("rollout", "list")
    assert_valid("rollout list", listed)
    assert [r["status"] for r in listed["rollouts"]] == ["orphaned"]
    orphaned = bob.run("rollout", "status", rollout_id)
    assert orphaned.returncode == 6 and "orphaned" in orphaned.stdout
    plain = bob.run("rollout", "resume", rollout_id, "--prometheus", prometheus.url)
    assert plain.returncode == 2
    assert_one_line_error(plain.stderr, "orphaned", "--take-over")
    again = bob.run("rollout", "canary", "--target", "app", "--steps", "10,100", *bob.driver(),
                    "--prometheus", prometheus.url)
    assert again.returncode == 4
    assert_one_line_error(again.stderr, rollout_id, "orphaned", "--take-over")

    taken = bob.run("rollout", "resume", rollout_id, "--take-over", "--reason", "alice's runner died",
                    "--prometheus", prometheus.url, "-o", "json")
    assert taken.returncode == 0, taken.stderr
    assert alice.weight.read_text() == "100\n"  # the plan's driver, run now by bob's process
    history = bob.json("rollout", "history", rollout_id)["events"]
    assert_gapless(history)
    take_over = next(e for e in history if e.get("action") == "take-over")
    assert (take_over["user"], take_over["reason"]) == ("bob", "alice's runner died")
    after = history[history.index(take_over):]
    restarted = next(e for e in after if e["type"] == "step")
    assert (restarted["step"], restarted["weight"]) == (1, 10) and "taken over" in restarted["note"]
    rejudged = [e for e in after if e["type"] == "gate" and e["at_step"] == 1]
    advanced = next(e for e in after if e["type"] == "step" and e["step"] == 2)
    assert rejudged and rejudged[0]["ts"] < advanced["ts"], "the step advanced only on gates judged after take-over"
    assert advanced["ts"] >= restarted["bake_until"]
    # nothing lost: every event alice's process reported is in the journal, in order, once
    assert_reported_were_journaled(before, history)

    local = _local_kill_and_resume(tmp_path, prometheus)
    def outline(events):
        return ([e["type"] for e in events if e["type"] in ("created", "promoted", "rolled-back", "failed")],
                sorted({(e["step"], e["weight"]) for e in events if e["type"] == "step"}))
    assert outline(history) == outline(local) == (["created", "promoted"], [(1, 10), (2, 100)])


def test_etcd_stopped_mid_rollout_pauses_it_and_state_survives_a_restart(own_etcd, prometheus, tmp_path) -> None:
    alice = Operator(tmp_path, "alice", f"{own_etcd.url}/outage")
    process = alice.canary(prometheus, "10:3s,100")
    try:
        confirmed = read_until(process, lambda e: e["type"] == "gate")
        own_etcd.stop()
        rest, stderr = process.communicate(timeout=30)
        code = process.returncode
        confirmed += [json.loads(line) for line in rest.splitlines() if line.strip()]
    finally:
        stop_process(process)
        process.stdout.close()
        process.stderr.close()
    rollout_id = confirmed[0]["rollout"]
    assert code == 4
    assert_one_line_error(stderr, "etcd unreachable", "took no further step", "--take-over")
    assert alice.weight.read_text() == "10\n", "the rollout never advanced without its journal"
    assert not any(e["type"] == "step" and e["weight"] == 100 for e in confirmed)

    down = alice.run("rollout", "status", rollout_id)
    assert down.returncode == 4
    assert_one_line_error(down.stderr, "etcd unreachable", "connection refused")

    own_etcd.start()  # same data dir
    history = alice.json("rollout", "history", rollout_id)["events"]
    assert_gapless(history)
    assert_reported_were_journaled([e for e in confirmed if e.get("type") != "result"], history)
    wait_lease_lapsed(f"{own_etcd.url}/outage", "app")
    wait_status(alice, rollout_id, lambda s: s["status"] == "orphaned")
    resumed = alice.run("rollout", "resume", rollout_id, "--take-over", "--prometheus", prometheus.url)
    assert resumed.returncode == 0, resumed.stderr
    assert alice.weight.read_text() == "100\n"


STRESS_WRITER = """
import sys
from x0ctl.rollout.state import open_state
journal = open_state(sys.argv[1]).journal("stress-1")
for i in range(int(sys.argv[3])):
    event = journal.append("gate", writer=sys.argv[2], n=i)
    print(event["seq"], flush=True)
"""


def test_concurrent_appends_never_interleave_or_lose(etcd, tmp_path) -> None:
    url = f"{etcd.url}/stress"
    store = open_state(url)
    store.journal("stress-1").append("created", plan={"target": "stress"})
    count = 60
    writers = [subprocess.Popen([sys.executable, "-c", STRESS_WRITER, url, name, str(count)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
               for name in ("a", "b", "c")]
    outputs = {}
    for name, writer in zip(("a", "b", "c"), writers, strict=True):
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        outputs[name] = [int(line) for line in out.split()]
    for seqs in outputs.values():
        assert len(seqs) == count and seqs == sorted(set(seqs)), "each writer's revisions strictly increase"
    events = store.journal("stress-1").events()
    assert_gapless(events)
    assert len(events) == 1 + 3 * count
    for name, seqs in outputs.items():
        mine = [e for e in events if e.get("writer") == name]
        assert [e["n"] for e in mine] == list(range(count)) and [e["seq"] for e in mine] == seqs


def test_appends_are_fenced_by_the_lease(etcd) -> None:
    store = open_state(f"{etcd.url}/fence", EtcdOptions(lease_ttl=2))
    journal = store.journal("fenced-1")
    lock = store.lock("fenced")
    lock.acquire("fenced-1")
    try:
        journal.append("created", plan={"target": "fenced"})
        etcd.etcdctl("lease", "revoke", f"{lock.lease_id:x}")  # as if the owner had stalled past its TTL
        with pytest.raises(LeaseLost, match="lost the lease"):
            journal.append("step", step=2, weight=100)
    finally:
        lock.release()
    assert [e["type"] for e in journal.events()] == ["created"]


def test_unreachable_and_malformed_state_urls_are_one_line_errors(cli, prometheus, tmp_path) -> None:
    url = f"etcd://127.0.0.1:{closed_port()}"
    for args in (("rollout", "list"), ("rollout", "status", "app-1"), ("rollout", "history", "app-1"),
                 ("rollout", "pause", "app-1"),
                 ("rollout", "canary", "--steps", "10,100", "--set-weight-cmd", "true", "--rollback-cmd", "true")):
        result = cli(*args, "--state", url)
        assert result.exit_code == 4, (args, result.stdout, result.stderr)
        assert_one_line_error(result.stderr, "etcd unreachable", "connection refused")
    for bad, fragment in (("etcd://user:hunter2@127.0.0.1:2379", "no user or password"),
                          ("etcd://127.0.0.1", "is not HOST:PORT"), ("etcd://127.0.0.1:2379/a b", "prefix"),
                          ("etcd://127.0.0.1:2379?password=hunter2", "no query"), ("s3://bucket", "unknown scheme")):
        result = cli("rollout", "list", "--state", bad)
        assert result.exit_code == 2, (bad, result.stderr)
        assert_one_line_error(result.stderr, fragment)
        assert "hunter2" not in result.stderr
    assert cli("rollout", "--lease-ttl", "1s", "list", "--state", url).exit_code == 2
    not_etcd = cli("rollout", "list", "--state", prometheus.url.replace("http://", "etcd://"))
    assert not_etcd.exit_code == 4
    assert_one_line_error(not_etcd.stderr, "etcd")


def test_migrate_copies_local_journals_verified(etcd, prometheus, tmp_path, cli) -> None:
    local = str(tmp_path / "local")
    done = cli("rollout", "canary", "--target", "web", "--steps", "10:0.3s,100", "--interval", "0.1s",
               "--selector", HEALTHY, "--prometheus", prometheus.url, "--at", END, "--state", local,
               "--set-weight-cmd", "true", "--rollback-cmd", "true", "-o", "json")
    assert done.exit_code == 0, done.stderr
    rollout_id = json.loads(done.stdout.splitlines()[-1])["id"]
    url = f"{etcd.url}/migrate"
    result = cli.json("rollout", "state", "migrate", "--from", local, "--to", url)
    assert_valid("rollout state migrate", result)
    assert (result["copied"], result["problems"]) == (1, 0)
    assert result["rollouts"][0] == {"id": rollout_id, "target": "web", "status": "promoted", "result": "copied",
                                     "reason": None, "events": result["rollouts"][0]["events"]}
    copied = cli.json("rollout", "history", rollout_id, "--state", url)["events"]
    original = cli.json("rollout", "history", rollout_id, "--state", local)["events"]
    assert [{k: v for k, v in e.items() if k != "seq"} for e in copied] == original
    assert cli.json("rollout", "status", rollout_id, "--state", url)["status"] == "promoted"
    again = cli.json("rollout", "state", "migrate", "--from", local, "--to", url)
    assert (again["copied"], again["identical"]) == (0, 1)
    other = tmp_path / "other"
    (other / "rollouts").mkdir(parents=True)
    (other / "rollouts" / f"{rollout_id}.jsonl").write_text(json.dumps(original[0]) + "\n")
    conflict = cli.json("rollout", "state", "migrate", "--from", str(other), "--to", url, expect=1)
    assert conflict["rollouts"][0]["result"] == "conflict"
    assert len(cli.json("rollout", "history", rollout_id, "--state", url)["events"]) == len(original)


def test_lock_refusal_names_the_owner_in_process(etcd) -> None:
    store = open_state(f"{etcd.url}/owner", EtcdOptions(lease_ttl=2))
    lock = store.lock("svc")
    lock.acquire("svc-1")
    try:
        assert store.owner("svc")["rollout"] == "svc-1"
        with pytest.raises(IOFailure, match="locked by svc-1"):
            open_state(f"{etcd.url}/owner").lock("svc").acquire("svc-2")
    finally:
        lock.release()
    assert store.owner("svc") is None


def test_tls_client_certificates_and_user_password(cli, prometheus, tmp_path) -> None:
    certs = tls_material(tmp_path)
    (tmp_path / "tls-etcd").mkdir()
    server = start_etcd(tmp_path / "tls-etcd", tls=certs)
    try:
        tls = ["--etcd-cacert", str(certs["ca"]), "--etcd-cert", str(certs["client_cert"]),
               "--etcd-key", str(certs["client_key"])]
        listed = cli.json("rollout", *tls, "list", "--state", server.url)
        assert listed == {"state_dir": f"{server.url}/x0ctl", "rollouts": []}
        env_only = cli.json("rollout", "list", "--state", server.url,
                            env={"X0CTL_ETCD_CACERT": str(certs["ca"]), "X0CTL_ETCD_CERT": str(certs["client_cert"]),
                                 "X0CTL_ETCD_KEY": str(certs["client_key"])})
        assert env_only["rollouts"] == []
        for args, fragment in ((tls[:2], "TLS"), (tls[2:], "TLS certificate verification failed"),
                               (tls[:4], "--etcd-cert and --etcd-key go together")):
            result = cli("rollout", *args, "list", "--state", server.url)
            assert result.exit_code in (2, 4), result.stderr
            assert_one_line_error(result.stderr, fragment)

        password = "s3cret-etcd-pw"
        server.etcdctl("user", "add", "root", "--new-user-password", password)
        server.etcdctl("auth", "enable")
        no_user = cli("rollout", *tls, "list", "--state", server.url)  # a certificate alone is no etcd user
        assert no_user.exit_code == 4
        assert_one_line_error(no_user.stderr, "refused")
        with_env = cli.json("rollout", *tls, "--etcd-user", "root", "list", "--state", server.url,
                            env={"X0CTL_ETCD_PASSWORD": password})
        assert with_env["rollouts"] == []
        secret_file = tmp_path / "etcd-password"
        secret_file.write_text(password + "\n")
        secret_file.chmod(0o644)
        loose = cli("rollout", *tls, "--etcd-user", "root", "--etcd-password-file", str(secret_file), "list",
                    "--state", f"{server.url}/authed")
        assert loose.exit_code == 2, loose.stderr
        assert_one_line_error(loose.stderr, "has mode 0644", "chmod 600")
        secret_file.chmod(0o600)
        store = f"{server.url}/authed"
        done = cli("rollout", *tls, "--etcd-user", "root", "--etcd-password-file", str(secret_file), "canary",
                   "--state", store, "--steps", "100", "--set-weight-cmd", "true", "--rollback-cmd", "true",
                   "--selector", HEALTHY, "--prometheus", prometheus.url, "--at", END, "-o", "json")
        assert done.exit_code == 0, done.stderr
        assert "s3cret" not in done.stdout + done.stderr
        history = cli.json("rollout", *tls, "--etcd-user", "root", "--etcd-password-file", str(secret_file),
                           "history", json.loads(done.stdout.splitlines()[-1])["id"], "--state", store)
        assert history["events"][0]["type"] == "created"
        wrong = tmp_path / "wrong"
        wrong.write_text("not-the-password\n")
        wrong.chmod(0o600)
        refused = cli("rollout", *tls, "--etcd-user", "root", "--etcd-password-file", str(wrong), "list",
                      "--state", server.url)
        assert refused.exit_code == 4
        assert_one_line_error(refused.stderr, "authentication failed")
        assert "not-the-password" not in refused.stderr
        missing = cli("rollout", *tls, "--etcd-user", "root", "list", "--state", server.url)
        assert missing.exit_code == 2
        assert_one_line_error(missing.stderr, "X0CTL_ETCD_PASSWORD")
    finally:
        server.stop()


def test_a_stalled_owner_is_fenced_off_after_a_take_over(etcd, prometheus, tmp_path) -> None:
    url = f"{etcd.url}/stalled"
    alice, bob = Operator(tmp_path, "alice", url), Operator(tmp_path, "bob", url, profile=True)
    stalled = alice.canary(prometheus, "10:3s,100")
    taker = None
    try:
        rollout_id = read_until(stalled, lambda e: e["type"] == "gate")[0]["rollout"]
        drain(stalled)
        stalled.send_signal(signal.SIGSTOP)  # a paused VM, a debugger: alive, but silent past its TTL
        wait_lease_lapsed(url, "app")
        wait_status(bob, rollout_id, lambda s: s["status"] == "orphaned")
        taker = bob.spawn("rollout", "resume", rollout_id, "--take-over", "--prometheus", prometheus.url)
        read_until(taker, lambda e: e.get("action") == "take-over")
        taken = drain(taker)
        stalled.send_signal(signal.SIGCONT)
        assert stalled.wait(timeout=30) == 4
        assert_one_line_error(stalled.stderr.read(), "lost the lease", "no further step")
        assert taker.wait(timeout=30) == 0, taker.stderr.read()
        assert taken[-1]["status"] == "promoted"
    finally:
        for process in (stalled, taker):
            if process is not None:
                if process.poll() is None:
                    process.send_signal(signal.SIGCONT)
                stop_process(process)
    history = bob.json("rollout", "history", rollout_id)["events"]
    assert_gapless(history)
    take_over = next(i for i, e in enumerate(history) if e.get("action") == "take-over")
    assert not any(e.get("pid") == stalled.pid for e in history[take_over:])
    assert [e["weight"] for e in history if e["type"] == "step"] == [10, 10, 100]


def test_the_lease_outlives_its_ttl_while_the_owner_lives(etcd) -> None:
    store = open_state(f"{etcd.url}/keepalive", EtcdOptions(lease_ttl=2))
    lock = store.lock("kept")
    lock.acquire("kept-1")
    try:
        time.sleep(4.5)  # more than two TTLs: only the keep-alive can have kept it
        assert store.owner("kept")["rollout"] == "kept-1"
        assert store.journal("kept-1").append("created", plan={"target": "kept"})["seq"] == 1
    finally:
        lock.release()


def test_pause_and_rollback_from_another_machine(etcd, prometheus, tmp_path) -> None:
    url = f"{etcd.url}/remote-actions"
    alice, bob = Operator(tmp_path, "alice", url), Operator(tmp_path, "bob", url, profile=True)
    running = alice.canary(prometheus, "10:30s,100")
    try:
        rollout_id = read_until(running, lambda e: e["type"] == "gate")[0]["rollout"]
        drain(running)
        paused = bob.json("rollout", "pause", rollout_id, "--reason", "incident")
        assert paused["delivered"] == "running"
        assert running.wait(timeout=30) == 6
    finally:
        stop_process(running)
    assert bob.json("rollout", "status", rollout_id, expect=6)["status"] == "paused"
    rolled = bob.json("rollout", "rollback", rollout_id, "--reason", "bad build")
    assert (rolled["delivered"], rolled["status"], rolled["weight"]) == ("applied", "rolled-back", 0)
    assert alice.weight.read_text() == "0\n"
    history = alice.json("rollout", "history", rollout_id)["events"]
    assert_gapless(history)
    actions = [(e["action"], e["user"], e["pid"] != running.pid) for e in history if e["type"] == "operator"]
    assert actions == [("pause", "bob", True), ("rollback", "bob", True)]


def test_the_next_endpoint_answers_when_the_first_is_down(etcd, cli) -> None:
    url = f"etcd://127.0.0.1:{closed_port()},{etcd.endpoint}/endpoints"
    store = open_state(url)
    store.journal("multi-1").append("created", plan={"target": "multi"})
    listed = cli.json("rollout", "list", "--state", url)
    assert [r["id"] for r in listed["rollouts"]] == ["multi-1"]
    assert listed["state_dir"] == url
