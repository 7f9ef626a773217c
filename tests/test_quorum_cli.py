"""`x0ctl quorum simulate` as an operator meets it: JSON schema, scenario files, errors, sweep and plot."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest

from .conftest import REPO, assert_one_line_error

EXAMPLES = sorted((REPO / "examples" / "quorum").glob("*.yaml"))
ADVERSARIES = REPO / "examples" / "quorum" / "adversaries"
SMALL = ("quorum", "simulate", "--nodes", "7", "--byzantine", "2", "--duration", "15s", "--seed", "5")


def test_single_run_json_schema(cli):
    data = cli.json(*SMALL, "--strategy", "replay,forge")
    assert data["schema"] == "x0ctl.quorum.simulate/v2" and data["mode"] == "single"
    assert data["backend"] in ("openssl", "liboqs") and data["rules"] == "x0ctl" and data["adversary"] is None
    assert data["scenario"]["nodes"] == 7 and data["scenario"]["strategies"] == ["replay", "forge"]
    assert data["verdict"] == {"ok": True, "failures": []}
    result = data["result"]
    assert set(result) == {"seed", "nodes", "byzantine", "honest", "duration_s", "quorum_threshold",
                           "tolerated_faults", "within_bound", "safety", "agreement", "validity", "liveness",
                           "failure_detector", "reputation", "rejections", "equivocations_detected", "messages",
                           "strategies", "partitions", "timing"}
    assert set(result["safety"]) == {"violations", "ok"}
    assert set(result["agreement"]) == {"ok", "conflicting_decisions", "settled_events", "incomplete_events",
                                        "totality"}
    assert set(result["validity"]) == {"ok", "violations", "false_values", "false_failures"}
    assert set(result["failure_detector"]["false_suspicions_by_cause"]) == {"partition", "loss", "adversary"}
    assert set(result["liveness"]["time_to_quorum_s"]) == {"p50", "p95", "count"}
    assert set(result["rejections"]["by_cause"]) == {"replay", "forgery", "rate_limit", "quarantine",
                                                     "equivocation", "other"}
    assert set(result["messages"]) == {"signed", "sent", "delivered", "verified", "verification_cache_hits"}
    assert result["rejections"]["by_cause"]["replay"] > 0 and result["rejections"]["by_cause"]["forgery"] > 0


def test_table_output_names_the_outcome(cli):
    done = cli(*SMALL)
    assert done.exit_code == 0, done.stderr
    for fragment in ("conflicting decisions", "validity violations", "time to quorum", "Rejections by cause",
                     "Byzantine strategies", "honest nodes quarantined"):
        assert fragment in done.stdout


def test_trials_aggregate_with_confidence_intervals(cli):
    data = cli.json(*SMALL, "--trials", "2")
    assert data["mode"] == "trials" and [run["seed"] for run in data["runs"]] == [5, 6]
    aggregate = data["aggregate"]
    assert aggregate["trials"] == 2 and aggregate["safety_violation"]["count"] == 0
    assert aggregate["agreement"]["violation"]["of"] == aggregate["validity"]["violation"]["of"] == 2
    low, high = aggregate["safety_violation"]["ci95"]
    assert low == 0.0 and 0.5 < high < 1.0  # Wilson upper bound for 0 of 2
    assert "_time_to_quorum" not in data["runs"][0]


def test_parallel_trials_match_sequential_ones(cli):
    sequential = cli.json(*SMALL, "--trials", "2", "--jobs", "1")
    parallel = cli.json(*SMALL, "--trials", "2", "--jobs", "2")
    strip = lambda runs: [{k: v for k, v in run.items() if k != "timing"} for run in runs]
    assert strip(sequential["runs"]) == strip(parallel["runs"])


def test_sweep_writes_an_svg_and_reports_the_bound(cli, tmp_path):
    target = tmp_path / "sweep.svg"
    data = cli.json("quorum", "simulate", "--nodes", "7", "--duration", "20s", "--sweep-byzantine", "1..3",
                    "--plot", str(target))
    sweep = data["sweep"]
    assert data["mode"] == "sweep" and data["scenario"]["strategies"] == ["equivocate+false_report"]
    assert [p["byzantine"] for p in sweep["points"]] == [1, 2, 3]
    assert sweep["safe_within_bound"] and sweep["first_unsafe_byzantine"] == 3
    root = ElementTree.fromstring(target.read_text())
    assert root.tag.endswith("svg") and "f = n/3" in target.read_text()
    assert data["plot"] == str(target)


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_every_example_loads_and_states_its_outcome(example):
    from x0ctl.quorum.scenario import load_scenario

    scenario = load_scenario(example)
    assert scenario.byzantine < scenario.nodes
    assert "Outcome:" in example.read_text()


def test_split_brain_example_runs_clean(cli):
    data = cli.json("quorum", "simulate", "--scenario", str(REPO / "examples/quorum/split-brain.yaml"))
    (partition,) = data["result"]["partitions"]
    assert partition["converged"] and all(side["decisions_while_split"] == 0 for side in partition["sides"])


@pytest.mark.parametrize(
    "content, fragments",
    [
        ("nodes: 7\nbogus: 1\n", ["field 'bogus'", "unknown key"]),
        ("nodes: seven\n", ["field 'nodes'", "expected an integer"]),
        ("nodes: 7\nbyzantine: 7\n", ["field 'byzantine'", "smaller than n"]),
        ("duration: -5s\n", ["field 'duration'", "negative"]),
        ("network:\n  loss: lots\n", ["field 'network.loss'", "expected a number"]),
        ("network:\n  jitter: 3\n", ["field 'network.jitter'", "unknown key"]),
        ("partitions:\n  - start: 30s\n    heal: 10s\n", ["field 'partitions[0].heal'", "after start"]),
        ("strategies: [teleport]\n", ["field 'strategies'", "teleport"]),
        ("nodes: [1\n", ["not valid YAML"]),
    ],
)
def test_bad_scenario_files_name_the_file_and_field(cli, tmp_path, content, fragments):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    done = cli("quorum", "simulate", "--scenario", str(path))
    assert done.exit_code == 2, (done.stdout, done.stderr)
    assert_one_line_error(done.stderr, str(path), *fragments)


@pytest.mark.parametrize(
    "args, code, fragments",
    [
        (["--nodes", "4", "--byzantine", "4"], 2, ["byzantine", "smaller than n"]),
        (["--duration", "soon"], 2, ["--duration", "soon"]),
        (["--plot", "x.svg"], 2, ["--sweep-byzantine"]),
        (["--sweep-byzantine", "0..9", "--nodes", "7"], 2, ["smaller than n"]),
        (["--sweep-byzantine", "3..1"], 2, ["ascending"]),
        (["--strategy", "teleport"], 2, ["teleport"]),
        (["--scenario", "/nonexistent/s.yaml"], 4, ["/nonexistent/s.yaml"]),
        (["--max-false-suspicion-rate", "1.5"], 2, ["--max-false-suspicion-rate", "[0, 1]"]),
        (["--min-totality", "-1"], 2, ["--min-totality"]),
        (["--max-honest-quarantined", "-1"], 2, ["--max-honest-quarantined"]),
        (["--adversary", "x.py", "--strategy", "silent"], 2, ["--adversary", "--strategy"]),
    ],
)
def test_bad_flags_are_one_line_errors(cli, args, code, fragments):
    done = cli("quorum", "simulate", *args)
    assert done.exit_code == code, (done.stdout, done.stderr)
    assert_one_line_error(done.stderr, *fragments)


def test_png_without_matplotlib_is_an_environment_error(cli, tmp_path):
    try:
        import matplotlib  # noqa: F401

        pytest.skip("matplotlib is installed here, so PNG output works")
    except ImportError:
        pass
    done = cli("quorum", "simulate", "--nodes", "40", "--duration", "10m", "--sweep-byzantine", "0..13",
               "--plot", str(tmp_path / "sweep.png"))  # refused before any of this long sweep runs
    assert done.exit_code == 3
    assert_one_line_error(done.stderr, "matplotlib", ".svg")
    assert not Path(tmp_path / "sweep.png").exists()


def test_help_has_a_summary_and_examples(cli):
    done = cli("quorum", "simulate", "--help")
    assert done.exit_code == 0
    assert "Examples:" in done.stdout and "--sweep-byzantine" in done.stdout


def _without_timing(document: dict) -> dict:
    for run in [document.get("result")] + list(document.get("runs") or []):
        if run:
            run.pop("timing")
    return document


def test_same_seed_same_result_across_processes_and_hash_seeds():
    import json

    from .conftest import run_x0ctl

    outputs = []
    for hash_seed in ("1", "2"):
        done = run_x0ctl(*SMALL, "-o", "json", env={"PYTHONHASHSEED": hash_seed})
        assert done.returncode == 0, done.stderr
        outputs.append(_without_timing(json.loads(done.stdout)))
    assert outputs[0] == outputs[1]


def test_an_adversary_run_is_identical_across_hash_seeds_jobs_and_backends(liboqs_backend):
    """Same seed: the same JSON whatever PYTHONHASHSEED, --jobs (worker processes load the adversary
    themselves) and backend (keys come from the seed, and nothing depends on signature bytes)."""
    import json

    from .conftest import run_x0ctl

    args = ("quorum", "simulate", "-n", "7", "-f", "2", "--duration", "12s", "--seed", "4", "--trials", "2",
            "--adversary", str(ADVERSARIES / "split_rotate_equivocate.py"), "-o", "json")
    outputs = []
    for backend, hash_seed, jobs in (("openssl", "1", "1"), ("openssl", "7", "2"), ("liboqs", "3", "1")):
        done = run_x0ctl("--backend", backend, *args, "--jobs", jobs, env={"PYTHONHASHSEED": hash_seed})
        assert done.returncode == 0, done.stderr
        document = _without_timing(json.loads(done.stdout))
        assert document.pop("backend") == backend
        outputs.append(document)
    assert outputs[0]["aggregate"]["equivocations_detected"] > 0
    assert outputs[0] == outputs[1] == outputs[2]


@pytest.mark.parametrize(
    "spec, code, fragments",
    [
        ("{dir}/absent.py", 4, ["cannot read adversary", "absent.py"]),
        ("{dir}/broken.py", 2, ["broken.py", "does not load", "SyntaxError"]),
        ("{dir}/two.py", 2, ["two.py", "name the adversary class", "First, Second"]),
        ("{dir}/two.py:Third", 2, ["no Adversary subclass named 'Third'"]),
        ("{dir}/raises.py", 2, ["adversary raises.py:Raises failed", "ZeroDivisionError"]),
        ("{dir}/notes.txt", 2, ["FILE.py[:Class]"]),
    ],
)
def test_bad_adversaries_are_one_line_errors(cli, tmp_path, spec, code, fragments):
    (tmp_path / "broken.py").write_text("def start(:\n")
    (tmp_path / "two.py").write_text("from x0ctl.quorum.adversary import Adversary\n"
                                     "class First(Adversary): pass\nclass Second(Adversary): pass\n")
    (tmp_path / "raises.py").write_text("from x0ctl.quorum.adversary import Adversary\n"
                                        "class Raises(Adversary):\n    def start(self, net): 1 / 0\n")
    (tmp_path / "notes.txt").write_text("")
    done = cli("quorum", "simulate", "-n", "4", "-f", "1", "--duration", "2s", "--adversary",
               spec.format(dir=tmp_path))
    assert done.exit_code == code, (done.stdout, done.stderr)
    assert_one_line_error(done.stderr, *fragments)


def test_fuzz_below_the_bound_finds_nothing_with_the_default_campaign(cli, tmp_path):
    target = tmp_path / "ce.json"
    data = cli.json("quorum", "fuzz", "--counterexample", str(target))
    assert data["schema"] == "x0ctl.quorum.fuzz/v1" and data["settings"]["byzantine"] == "max"
    assert data["trials_run"] == data["settings"]["trials"] == 12
    assert not data["found"] and not target.exists()
    assert sum(trial["steps"] for trial in data["trials"]) > 20  # the adversary did act


def test_fuzz_beyond_the_bound_finds_shrinks_and_replays_exactly(cli, tmp_path):
    import json

    target = tmp_path / "ce.json"
    data = cli.json("quorum", "fuzz", "--byzantine", "beyond", "--counterexample", str(target))
    assert data["found"] and not data["within_bound"]  # beyond the bound: the expected find, exit 0
    document = json.loads(target.read_text())
    assert document == data["counterexample_document"]
    assert document["schema"] == "x0ctl.quorum.counterexample/v1"
    assert not document["expect"]["safety"]["ok"]
    assert len(document["actions"]) < document["found"]["steps_before_shrink"]
    replayed = cli.json("quorum", "replay", str(target))
    assert replayed["reproduced"] and replayed["violated"]
    assert replayed["digest"] == document["expect"]["digest"]

    document["actions"] = document["actions"][:1]  # a different schedule: no longer what the file says
    target.write_text(json.dumps(document))
    done = cli("quorum", "replay", str(target))
    assert done.exit_code == 1
    assert_one_line_error(done.stderr, "does not reproduce")


@pytest.mark.parametrize(
    "example, extra, limit, fragment",
    [
        ("minority-partition.yaml", [], ["--max-false-suspicion-rate", "0.5"], "false suspicion rate 1.000 > 0.5"),
        ("split-brain.yaml", ["--loss", "0.5"], ["--min-totality", "1"], "totality 0.889 < 1.0"),
        ("minority-partition.yaml", [], ["--max-honest-quarantined", "0"], None),
    ],
)
def test_thresholds_for_the_other_metrics_are_opt_in(cli, example, extra, limit, fragment):
    path = str(REPO / "examples" / "quorum" / example)
    assert cli("quorum", "simulate", "--scenario", path, *extra).exit_code == 0  # safe: no threshold, no failure
    done = cli("quorum", "simulate", "--scenario", path, *extra, *limit)
    if fragment is None:
        assert done.exit_code == 0, done.stderr
        return
    assert done.exit_code == 1, (done.stdout, done.stderr)
    assert_one_line_error(done.stderr, fragment)


@pytest.mark.parametrize(
    "content, code, fragment",
    [
        (None, 4, "cannot read counterexample"),
        ("{", 2, "not valid JSON"),
        ('{"schema": "other"}', 2, "not a counterexample file"),
        ('{"schema": "x0ctl.quorum.counterexample/v1", "rules": "x0ctl", "scenario": {"nodes": "7"}}', 2,
         "field 'nodes'"),
        ('{"schema": "x0ctl.quorum.counterexample/v1", "rules": "x0ctl", "scenario": {"nodes": 7, "byzantine": 2},'
         ' "actions": [{"op": "teleport"}]}', 2, "actions[0]"),
    ],
)
def test_bad_counterexample_files(cli, tmp_path, content, code, fragment):
    path = tmp_path / "ce.json"
    if content is not None:
        path.write_text(content)
    done = cli("quorum", "replay", str(path))
    assert done.exit_code == code, (done.stdout, done.stderr)
    assert_one_line_error(done.stderr, fragment)


def test_fuzz_time_budget_stops_starting_trials(cli, tmp_path):
    data = cli.json("quorum", "fuzz", "--trials", "50", "--time-budget", "1ms",
                    "--counterexample", str(tmp_path / "ce.json"))
    assert data["trials_run"] == 1 and data["settings"]["time_budget_s"] == 0.001
