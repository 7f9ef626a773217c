"""`x0ctl quorum simulate` as an operator meets it: JSON schema, scenario files, errors, sweep and plot."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest

from .conftest import REPO, assert_one_line_error

EXAMPLES = sorted((REPO / "examples" / "quorum").glob("*.yaml"))
SMALL = ("quorum", "simulate", "--nodes", "7", "--byzantine", "2", "--duration", "15s", "--seed", "5")


def test_single_run_json_schema(cli):
    data = cli.json(*SMALL, "--strategy", "replay,forge")
    assert data["schema"] == "x0ctl.quorum.simulate/v1" and data["mode"] == "single"
    assert data["backend"] in ("openssl", "liboqs")
    assert data["scenario"]["nodes"] == 7 and data["scenario"]["strategies"] == ["replay", "forge"]
    result = data["result"]
    assert set(result) == {"seed", "nodes", "byzantine", "honest", "duration_s", "quorum_threshold",
                           "tolerated_faults", "within_bound", "safety", "liveness", "quarantine", "rejections",
                           "equivocations_detected", "agreement", "messages", "strategies", "partitions", "timing"}
    assert set(result["safety"]) == {"violations", "ok", "false_events_validated", "conflicting_decisions",
                                     "honest_quarantined", "false_accusations_attempted"}
    assert set(result["liveness"]["time_to_quorum_s"]) == {"p50", "p95", "count"}
    assert set(result["rejections"]["by_cause"]) == {"replay", "forgery", "rate_limit", "quarantine",
                                                     "false_report", "equivocation", "other"}
    assert set(result["messages"]) == {"signed", "sent", "delivered", "verified", "verification_cache_hits"}
    assert result["rejections"]["by_cause"]["replay"] > 0 and result["rejections"]["by_cause"]["forgery"] > 0


def test_table_output_names_the_outcome(cli):
    done = cli(*SMALL)
    assert done.exit_code == 0, done.stderr
    for fragment in ("safety violations", "time to quorum", "Rejections by cause", "Byzantine strategies"):
        assert fragment in done.stdout


def test_trials_aggregate_with_confidence_intervals(cli):
    data = cli.json(*SMALL, "--trials", "2")
    assert data["mode"] == "trials" and [run["seed"] for run in data["runs"]] == [5, 6]
    aggregate = data["aggregate"]
    assert aggregate["trials"] == 2 and aggregate["safety_violation"]["count"] == 0
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


def test_same_seed_same_result_across_processes_and_hash_seeds():
    import json

    from .conftest import run_x0ctl

    outputs = []
    for hash_seed in ("1", "2"):
        done = run_x0ctl(*SMALL, "-o", "json", env={"PYTHONHASHSEED": hash_seed})
        assert done.returncode == 0, done.stderr
        document = json.loads(done.stdout)
        document["result"].pop("timing")
        outputs.append(document)
    assert outputs[0] == outputs[1]
