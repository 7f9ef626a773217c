"""`x0ctl quorum`: Byzantine control-plane quorum simulation with real ML-DSA signatures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from x0ctl.cli.app import OutputOption, get_app
from x0ctl.errors import CheckFailed, UsageError

app = typer.Typer(help="""Byzantine control-plane quorum simulation with real ML-DSA-65 signatures.

Simulates the mesh's control plane (signed gossip and beacons, nonce + epoch anti-replay, 10 msg/s rate limit, reputation and quarantine, 2/3 quorum on critical events) against Byzantine strategies and network partitions, and reports safety, liveness and quarantine accuracy. See docs/quorum.md and examples/quorum/.

Examples:
  x0ctl quorum simulate --nodes 50 --byzantine 16 --duration 60s --seed 7
  x0ctl quorum simulate --scenario examples/quorum/split-brain.yaml -o json
""", no_args_is_help=True)

@app.command("simulate")
def simulate(
    ctx: typer.Context,
    scenario_file: Annotated[
        Path | None, typer.Option("--scenario", help="Scenario YAML (see examples/quorum/); flags below override it.",
                                  show_default=False, metavar="FILE.yaml")] = None,
    nodes: Annotated[int | None, typer.Option("--nodes", "-n", help="Members n (default 50).", show_default=False)] = None,
    byzantine: Annotated[int | None, typer.Option("--byzantine", "-f", help="Byzantine members f (default 16).",
                                                  show_default=False)] = None,
    duration: Annotated[str | None, typer.Option("--duration", help="Simulated time, e.g. 60s, 2m (default 60s).",
                                                 show_default=False)] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed; the same seed gives the same result (default 7).",
                                             show_default=False)] = None,
    strategy: Annotated[
        list[str] | None,
        typer.Option("--strategy", "-s", help="Byzantine strategy, repeatable or comma-separated: silent, false_report, "
                     "replay, forge, key_substitution, flood, equivocate, a+b combinations, mixed (default) or collude.",
                     show_default=False)] = None,
    adversary: Annotated[
        str | None,
        typer.Option("--adversary", help="Python adversary controlling the Byzantine nodes instead of --strategy "
                     "(FILE.py[:Class], see examples/quorum/adversaries/). Its code runs with your privileges.",
                     show_default=False, metavar="FILE.py[:Class]")] = None,
    loss: Annotated[float | None, typer.Option("--loss", help="Per-message loss probability (default 0.01).",
                                               show_default=False)] = None,
    rules: Annotated[str, typer.Option("--rules", help="The rules honest nodes follow: x0ctl (this tool's protocol) "
                                       "or mesh (the mesh's code as published: int(0.67n)+1 quorum, sender and key "
                                       "not bound, expiring quarantine; see docs/mesh.md).",
                                       metavar="x0ctl|mesh")] = "x0ctl",
    trials: Annotated[int, typer.Option("--trials", help="Monte Carlo trials (seeds seed, seed+1, ...).")] = 1,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Parallel worker processes for trials and sweeps.")] = 1,
    sweep: Annotated[str | None, typer.Option("--sweep-byzantine", help="Sweep f over a range, e.g. 0..20.",
                                              show_default=False, metavar="LOW..HIGH")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="With --sweep-byzantine: draw the curve to .svg or .png.",
                                              show_default=False, metavar="FILE")] = None,
    max_false_suspicion_rate: Annotated[
        float | None, typer.Option("--max-false-suspicion-rate", help="Also fail (exit 1) when more than this share "
                                   "of failure reports is about live honest nodes.", show_default=False,
                                   metavar="RATE")] = None,
    max_honest_quarantined: Annotated[
        int | None, typer.Option("--max-honest-quarantined", help="Also fail (exit 1) when a run quarantines more "
                                 "honest nodes than this.", show_default=False, metavar="N")] = None,
    min_totality: Annotated[
        float | None, typer.Option("--min-totality", help="Also fail (exit 1) when a run's totality (share of honest "
                                   "nodes deciding the events decided anywhere) is below this.", show_default=False,
                                   metavar="RATE")] = None,
    crypto: Annotated[
        str | None, typer.Option("--crypto", help="real: ML-DSA-65 signs and verifies every message; modelled: a "
                                 "signature is the fact (key id, message digest), no ML-DSA work, identical decisions. "
                                 "Default: real for one run, modelled for --trials/--sweep-byzantine.",
                                 show_default=False, metavar="real|modelled")] = None,
    conformance_sample: Annotated[
        int, typer.Option("--conformance-sample", help="Runs of a modelled campaign re-run with real signatures; "
                          "any difference fails the run (exit 1).", metavar="N")] = 2,
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="Run the trials of --trials/--sweep-byzantine on a Dask "
                                 "scheduler (workers need x0ctl installed; the 'cluster' extra).",
                                 show_default=False, metavar="dask://HOST:PORT")] = None,
    output: OutputOption = None,
) -> None:
    """Simulate the control plane under Byzantine attack, with ML-DSA-65 signatures on every message (campaigns: modelled, re-checked with real).

    Honest nodes run x0ctl's protection (signature checks, nonce + epoch anti-replay, 10 msg/s rate limit, reputation and quarantine, proposer authority, 2/3 quorum on critical events); Byzantine nodes follow --strategy or an --adversary you write. The report separates agreement (conflicting decisions, totality), validity (values no honest owner proposed, failures nobody observed), liveness, failure-detector accuracy and reputation. Exit 1 when agreement or validity is violated with f <= floor((n-1)/3), where the quorum rule promises both, or when a --max-*/--min-* threshold you set is broken; violations beyond the bound are the expected finding, not a failure.

    Examples:
      x0ctl quorum simulate --nodes 50 --byzantine 16 --duration 60s --seed 7
      x0ctl quorum simulate --scenario examples/quorum/split-brain.yaml -o json
      x0ctl quorum simulate -n 16 -f 5 --duration 30s --adversary examples/quorum/adversaries/selective_beacon.py
      x0ctl quorum simulate -n 31 -f 10 --trials 20 --jobs 2
      x0ctl quorum simulate -n 16 --duration 30s --strategy collude --sweep-byzantine 0..10 --plot sweep.svg
      x0ctl quorum simulate --scenario examples/quorum/public-key-manipulation.yaml --rules mesh
      x0ctl quorum simulate -n 16 --duration 30s --sweep-byzantine 0..8 --trials 20 --cluster dask://127.0.0.1:8786
    """
    from x0ctl.pqc import get_backend, resolve_backend_names
    from x0ctl.quorum.montecarlo import parse_range
    from x0ctl.durations import parse_duration
    from x0ctl.quorum.verdict import Thresholds, build_scenario, run_simulation

    from x0ctl.quorum.rules import rules_named

    app_ = get_app(ctx, output)
    try:
        rules = rules_named(rules).name
    except ValueError as error:
        raise UsageError(f"--rules: {error}") from None
    if plot is not None and sweep is None:
        raise UsageError("--plot draws the Byzantine sweep: add --sweep-byzantine LOW..HIGH")
    if adversary is not None and strategy:
        raise UsageError("--adversary controls the Byzantine nodes: leave out --strategy")
    if plot is not None:
        from x0ctl.quorum.plot import check_plot_target

        check_plot_target(plot)
    thresholds = Thresholds(max_false_suspicion_rate, max_honest_quarantined, min_totality).validate()
    scenario = build_scenario(scenario_file, nodes=nodes, byzantine=byzantine,
                              duration_s=None if duration is None else parse_duration(duration, "--duration"),
                              seed=seed, strategies=strategy, loss=loss, sweeping=sweep is not None)
    counts = parse_range(sweep, scenario.nodes) if sweep is not None else None
    backend_name = resolve_backend_names(app_.backend)[0]
    get_backend(backend_name)  # the production guard and availability check, before any work

    if counts is not None:
        description, total = "sweeping f", len(counts) * trials
    elif trials > 1:
        description, total = "trials", trials
    else:
        description, total = "simulating", max(int(scenario.duration_s), 1)
    with app_.progress(description, total=total) as progress:
        callback = progress if counts is not None or trials > 1 else (
            lambda at, end: progress(int(at / 1000), int(end / 1000)))
        report = run_simulation(scenario, backend_name, trials=trials, jobs=jobs, sweep=counts, plot=plot,
                                adversary=adversary, rules=rules, thresholds=thresholds, progress=callback,
                                crypto=crypto, conformance_sample=conformance_sample, cluster=cluster)
    document = report.to_dict()
    table = {"single": _single_table, "trials": _trials_table, "sweep": _sweep_table}[report.mode]
    app_.emit(document, lambda console: table(console, document))
    if report.failures:
        more = f" (and {len(report.failures) - 1} more, see the report)" if len(report.failures) > 1 else ""
        raise CheckFailed(report.failures[0] + more)


@app.command("fuzz")
def fuzz(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option("--seed", help="Campaign seed: the same seed draws the same trials.")] = 1,
    trials: Annotated[int, typer.Option("--trials", help="Random scenarios to run (stops at the first violation).")] = 12,
    time_budget: Annotated[str | None, typer.Option("--time-budget", help="Stop starting trials after this long "
                                                    "(wall clock), e.g. 5m.", show_default=False)] = None,
    nodes: Annotated[str, typer.Option("--nodes", "-n", help="Range of n to draw from.", metavar="LOW..HIGH")] = "4..10",
    byzantine: Annotated[str, typer.Option("--byzantine", "-f", help="f per trial: max (floor((n-1)/3), the most the "
                                           "quorum rule tolerates), beyond (one more) or a count.")] = "max",
    duration: Annotated[str, typer.Option("--duration", help="Simulated time per trial.")] = "20s",
    counterexample: Annotated[Path, typer.Option("--counterexample", help="Where a found counterexample is written.",
                                                 metavar="FILE.json")] = Path("quorum-counterexample.json"),
    shrink_runs: Annotated[int, typer.Option("--shrink-runs", help="Most runs spent shrinking a find.")] = 120,
    crypto: Annotated[str, typer.Option("--crypto", help="Signatures for the trials: modelled (facts, no ML-DSA "
                                        "work; a sample is re-run with real ML-DSA-65) or real.",
                                        metavar="real|modelled")] = "modelled",
    conformance_sample: Annotated[
        int, typer.Option("--conformance-sample", help="Trials re-run with real signatures (always the violating "
                          "one); any difference fails the campaign (exit 1).", metavar="N")] = 2,
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="Run the trials on a Dask scheduler, 16 at a time (shrinking "
                                 "runs here).", show_default=False, metavar="dask://HOST:PORT")] = None,
    output: OutputOption = None,
) -> None:
    """Search random scenarios and random adversary schedules for an agreement or validity violation.

    Each trial draws n, f, loss, a partition, the proposal and key-rotation times and a schedule of adversary steps (equivocating proposals, pre-empting values, false failure reports, selective beaconing, key rotations) from the campaign seed. At the first violation the schedule and scenario are shrunk and written to --counterexample, which `x0ctl quorum replay` reproduces exactly. Exit 1 when a violation is found with f <= floor((n-1)/3) (a protocol bug); with --byzantine beyond a find is the expected demonstration (exit 0).

    Examples:
      x0ctl quorum fuzz --trials 50 --time-budget 5m
      x0ctl quorum fuzz --byzantine beyond --counterexample ce.json && x0ctl quorum replay ce.json
    """
    from x0ctl.pqc import get_backend, resolve_backend_names
    from x0ctl.quorum.fuzz import FuzzSettings, parse_node_range
    from x0ctl.quorum.fuzz import fuzz as run_fuzz
    from x0ctl.durations import parse_duration

    app_ = get_app(ctx, output)
    settings = FuzzSettings(seed=seed, trials=trials,
                            time_budget_s=None if time_budget is None else parse_duration(time_budget, "--time-budget"),
                            nodes=parse_node_range(nodes), byzantine=byzantine.strip().lower(),
                            duration_s=parse_duration(duration, "--duration"), shrink_runs=shrink_runs,
                            crypto=crypto.strip().lower(), conformance_sample=conformance_sample).validate()
    backend_name = resolve_backend_names(app_.backend)[0]
    get_backend(backend_name)
    with app_.progress("fuzzing", total=trials) as progress:
        report = run_fuzz(settings, backend_name, counterexample, progress=progress, cluster=cluster)
    document = report.to_dict()
    app_.emit(document, lambda console: _fuzz_table(console, document))
    if report.failure:
        raise CheckFailed(report.failure)


@app.command("replay")
def replay(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A counterexample written by `x0ctl quorum fuzz`.", metavar="FILE.json")],
    crypto: Annotated[str, typer.Option("--crypto", help="real (ML-DSA-65) or modelled signatures; the recorded "
                                        "outcome is the same with either.", metavar="real|modelled")] = "real",
    output: OutputOption = None,
) -> None:
    """Run a counterexample file again and check that it reproduces its recorded outcome exactly.

    Exit 0 when the outcome is identical (digest of the whole result but timings), 1 when it differs (for instance after a protocol change fixed what the file shows), 2 for a file that is not a counterexample, 4 when it cannot be read.

    Examples:
      x0ctl quorum replay quorum-counterexample.json
      x0ctl quorum replay quorum-counterexample.json -o json
    """
    from x0ctl.pqc import get_backend, resolve_backend_names
    from x0ctl.quorum.fuzz import replay as run_replay

    app_ = get_app(ctx, output)
    backend_name = resolve_backend_names(app_.backend)[0]
    get_backend(backend_name)
    report = run_replay(file, backend_name, crypto.strip().lower())
    document = report.to_dict()
    app_.emit(document, lambda console: _replay_table(console, document))
    if report.failure:
        raise CheckFailed(report.failure)


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _single_table(console, document: dict) -> None:
    r = document["result"]
    agreement, validity, liveness = r["agreement"], r["validity"], r["liveness"]
    detector, reputation = r["failure_detector"], r["reputation"]
    who = f", adversary {document['adversary']}" if document.get("adversary") else ""
    console.print(f"[bold]{document['scenario']['name']}[/bold]: n = {r['nodes']}, f = {r['byzantine']} "
                  f"({'within' if r['within_bound'] else 'beyond'} the bound f <= {r['tolerated_faults']}), "
                  f"quorum {r['quorum_threshold']}, {r['duration_s']:g}s simulated, seed {r['seed']}, "
                  f"backend {document['backend']}, rules {document['rules']}{who}")
    table = console.table("what", ("value", {"justify": "right"}), title="Outcome", show_header=False)

    def count(value: int) -> str:
        return "[green]0[/green]" if value == 0 else f"[red]{value}[/red]"

    table.add_row("agreement: conflicting decisions", count(agreement["conflicting_decisions"]))
    table.add_row("  totality (settled events)", f"{_fmt(agreement['totality'], 3)} ({agreement['settled_events']})")
    table.add_row("validity violations", count(validity["violations"]))
    table.add_row("  values no honest owner proposed", str(validity["false_values"]))
    table.add_row("  failures no honest node observed", str(validity["false_failures"]))
    table.add_row("true events (validated by all honest)",
                  f"{liveness['true_events']} ({liveness['validated_by_all_honest']})")
    table.add_row("validated rate (node x event)", _fmt(liveness["validated_rate"], 3))
    ttq = liveness["time_to_quorum_s"]
    table.add_row("time to quorum p50 / p95", f"{_fmt(ttq['p50'])}s / {_fmt(ttq['p95'])}s")
    causes = ", ".join(f"{cause} {n}" for cause, n in detector["false_suspicions_by_cause"].items() if n) or "-"
    table.add_row("failure reports (false: causes)", f"{detector['reports']} ({detector['false_suspicions']}: {causes})")
    table.add_row("live honest nodes declared failed", str(detector["false_failures_validated"]))
    table.add_row("honest nodes quarantined", str(reputation["honest_quarantined"]))
    table.add_row("reputation precision / recall",
                  f"{_fmt(reputation['precision'], 3)} / {_fmt(reputation['recall'], 3)}")
    table.add_row("equivocations detected", str(r["equivocations_detected"]))
    messages = r["messages"]
    table.add_row("messages signed / sent / delivered", f"{messages['signed']} / {messages['sent']} / {messages['delivered']}")
    table.add_row("ML-DSA verifications (cache hits)", f"{messages['verified']} ({messages['verification_cache_hits']})")
    console.print(table)
    causes = console.table("cause", ("count", {"justify": "right"}), title="Rejections by cause")
    for cause, number in r["rejections"]["by_cause"].items():
        causes.add_row(cause, str(number))
    console.print(causes)
    if r["strategies"]:
        right = {"justify": "right"}
        attacks = console.table("strategy", ("nodes", right), ("sent", right), ("quarantined by", right),
                                "rejected as", title="Byzantine strategies")
        for label, entry in r["strategies"].items():
            rejected = ", ".join(f"{reason} {n}" for reason, n in entry["rejected"].items()) or "-"
            attacks.add_row(label, str(entry["nodes"]), str(entry["messages_sent"]), str(entry["quarantined_by"]),
                            rejected)
        console.print(attacks)
    for number, partition in enumerate(r["partitions"]):
        console.print(f"partition {number}: {partition['start_s']:g}s -> {partition['heal_s']:g}s, "
                      f"converged: {partition['converged']} (after {_fmt(partition['convergence_s'])}s)")
        for side in partition["sides"]:
            console.print(f"  side {side['side']}: {side['nodes']} nodes ({side['honest']} honest), "
                          f"quorum reachable: {side['can_reach_quorum']}, detected by {side['detected_by']}, "
                          f"decisions while split: {side['decisions_while_split']}")


def _interval(rate: dict) -> str:
    if rate["rate"] is None:
        return "-"
    low, high = rate["ci95"]
    return f"{rate['rate']:.3f} [{low:.3f}, {high:.3f}]"


def _trials_table(console, document: dict) -> None:
    a = document["aggregate"]
    scenario = document["scenario"]
    console.print(f"[bold]{scenario['name']}[/bold]: {a['trials']} trials, n = {scenario['nodes']}, "
                  f"f = {scenario['byzantine']}, backend {document['backend']} (rates with Wilson 95% intervals)")
    table = console.table("what", ("value", {"justify": "right"}), show_header=False)
    table.add_row("trials with an agreement violation", _interval(a["agreement"]["violation"]))
    table.add_row("trials with a validity violation", _interval(a["validity"]["violation"]))
    table.add_row("totality (node x settled event)", _interval(a["agreement"]["totality"]))
    table.add_row("true events validated (node x event)", _interval(a["liveness"]))
    ttq = a["time_to_quorum_s"]
    table.add_row("time to quorum p50 / p95", f"{_fmt(ttq['p50'])}s / {_fmt(ttq['p95'])}s")
    detector = a["failure_detector"]
    table.add_row("false suspicions (of reports)", _interval(detector["false_suspicion"]))
    table.add_row("  by cause", ", ".join(f"{k} {v}" for k, v in detector["false_suspicions_by_cause"].items()))
    table.add_row("honest nodes quarantined", str(a["reputation"]["honest_quarantined"]))
    table.add_row("reputation precision", _interval(a["reputation"]["precision"]))
    table.add_row("reputation recall", _interval(a["reputation"]["recall"]))
    table.add_row("equivocations detected", str(a["equivocations_detected"]))
    table.add_row("rejections by cause", ", ".join(f"{k} {v}" for k, v in a["rejections_by_cause"].items()))
    if a["partitions_converged"]["of"]:
        table.add_row("partitions converged", _interval(a["partitions_converged"]))
    table.add_row("crypto", _crypto_line(document["crypto"]))
    console.print(table)


def _crypto_line(crypto: dict) -> str:
    conformance = crypto["conformance"]
    if conformance is None:
        return crypto["mode"]
    rechecked = len(conformance["rechecked"])
    verdict = "identical" if conformance["identical"] else "[red]DIFFERENT[/red]"
    return f"{crypto['mode']} ({rechecked} run(s) re-run with real ML-DSA-65: {verdict})"


def _sweep_table(console, document: dict) -> None:
    s = document["sweep"]
    console.print(f"Byzantine sweep: n = {s['nodes']}, quorum {s['quorum_threshold']}, tolerated f <= "
                  f"{s['tolerated_faults']}, {s['trials_per_point']} trial(s) per point, backend {document['backend']}")
    from rich import box

    cell = {"justify": "right", "no_wrap": True}
    table = console.table(*((column, cell) for column in ("f", "bound", "unsafe", "conflict", "invalid", "honest q",
                                                          "live", "total", "p50 s", "p95 s")), box=box.SIMPLE_HEAD)
    for p in s["points"]:
        unsafe = p["safety_violation"]["count"]
        table.add_row(str(p["byzantine"]), "within" if p["within_bound"] else "[yellow]beyond[/yellow]",
                      f"[red]{unsafe}[/red]" if unsafe else "0", str(p["conflicting_decisions"]),
                      str(p["validity_violations"]), str(p["honest_quarantined"]), _fmt(p["liveness"]["rate"], 3),
                      _fmt(p["totality"]["rate"], 3), _fmt(p["time_to_quorum_s"]["p50"]),
                      _fmt(p["time_to_quorum_s"]["p95"]))
    console.print(table)
    console.print("unsafe: trials with an agreement or validity violation; conflict: events with two validated "
                  "values; invalid: validity violations; honest q: honest nodes quarantined; live: true events "
                  "validated; total: totality; p50/p95: time to quorum")
    console.print(f"safe for every f within the bound: {s['safe_within_bound']}; first unsafe f: "
                  f"{_fmt(s['first_unsafe_byzantine'])}; first f with lost liveness: "
                  f"{_fmt(s['first_liveness_loss_byzantine'])}")
    console.print(f"crypto: {_crypto_line(document['crypto'])}")
    if document.get("plot"):
        console.print(f"plot written to {document['plot']}")


def _fuzz_table(console, document: dict) -> None:
    settings = document["settings"]
    console.print(f"fuzz campaign seed {settings['seed']}: {document['trials_run']} of {settings['trials']} trial(s), "
                  f"n in {settings['nodes'][0]}..{settings['nodes'][1]}, f = {settings['byzantine']}, "
                  f"{document['elapsed_s']:.1f}s, backend {document['backend']}")
    console.print(f"crypto: {_crypto_line(document['crypto'])}")
    if not document["found"]:
        console.print("[green]no agreement or validity violation found[/green]")
        return
    found = document["counterexample_document"]
    scenario, expect = found["scenario"], found["expect"]
    colour = "red" if document["within_bound"] else "yellow"
    console.print(f"[{colour}]violation[/{colour}] at n = {scenario['nodes']}, f = {scenario['byzantine']} "
                  f"({'within' if document['within_bound'] else 'beyond'} the bound): "
                  f"{expect['agreement']['conflicting_decisions']} conflicting decision(s), "
                  f"{expect['validity']['violations']} validity violation(s)")
    console.print(f"shrunk from {found['found']['steps_before_shrink']} to {len(found['actions'])} adversary step(s) "
                  f"in {found['found']['shrink_runs']} run(s); written to {document['counterexample']} "
                  f"(x0ctl quorum replay {document['counterexample']})")


def _replay_table(console, document: dict) -> None:
    result = document["result"]
    state = "[green]reproduced exactly[/green]" if document["reproduced"] else "[red]differs from the file[/red]"
    console.print(f"{document['file']}: {state}; n = {result['nodes']}, f = {result['byzantine']}, "
                  f"{result['agreement']['conflicting_decisions']} conflicting decision(s), "
                  f"{result['validity']['violations']} validity violation(s)")
    console.print(f"digest {document['digest']} ({document['crypto']} crypto)")


@app.command("verify")
def verify(
    ctx: typer.Context,
    capture: Annotated[str, typer.Argument(help="JSON Lines capture, one message per line; - for stdin.",
                                           metavar="FILE|-")],
    message_format: Annotated[str, typer.Option("--format", help="mesh-gossip (signed_gossip.py) or mesh-beacon "
                                                "(POST /mesh/beacon bodies).", metavar="FORMAT")],
    keys: Annotated[Path | None, typer.Option("--keys", help="Pins: YAML/JSON mapping node id -> ML-DSA-65 public "
                                              "key(s), hex/base64, or sha256: fingerprints.", show_default=False,
                                              metavar="FILE")] = None,
    at: Annotated[str | None, typer.Option("--at", help="Judge freshness at this instant (RFC 3339 or unix seconds) "
                                           "for lines without received_at.", show_default=False, metavar="TIME")] = None,
    max_age: Annotated[str, typer.Option("--max-age", help="Oldest acceptable message when captured (the mesh's "
                                         "beacon nonce TTL is 60s).", metavar="DURATION")] = "60s",
    output: OutputOption = None,
) -> None:
    """Verify captured mesh control-plane messages exactly as the mesh signs them, and report what the mesh does not check.

    Each line is re-encoded the way the mesh does (gossip: json.dumps(sort_keys=True) with default separators; beacons: compact sorted JSON) and its ML-DSA-65 signature (empty context) checked against the key carried in the message. Per message: signature valid or not, whether that key is the sender's pinned key (--keys) or merely trusted because it came with the message, nonce replays, epochs behind the sender's newest, and age when captured (received_at on the line, or --at). Exit 1 when any message has a failing finding (invalid signature, substituted key, unknown sender, replay, stale epoch, too old), 2 on a bad file or option, 4 when a file cannot be read. The capture format is in docs/mesh.md.

    Examples:
      x0ctl quorum verify --format mesh-gossip capture.jsonl --keys pins.yaml
      x0ctl quorum verify --format mesh-beacon beacons.jsonl -o json
    """
    from x0ctl.durations import parse_duration, parse_time
    from x0ctl.mesh.messages import verify_capture_file

    app_ = get_app(ctx, output)
    max_age_seconds = parse_duration(max_age, "--max-age", allow_zero=False)
    report = verify_capture_file(capture, message_format, keys=keys, backend=app_.backend,
                                 at=parse_time(at, "--at") if at is not None else None, max_age=max_age_seconds)
    data = report.to_dict()
    app_.emit(data, lambda console: _capture_table(console, data))
    if not report.ok:
        summary = data["summary"]
        codes = ", ".join(f"{code} {count}" for code, count in summary["findings"].items()
                          if count and _severity(code) == "fail")
        raise CheckFailed(f"{summary['verdicts']['fail']} of {summary['messages']} messages failed ({codes})")


def _severity(code: str) -> str:
    from x0ctl.mesh.messages import SEVERITY

    return SEVERITY[code]


def _capture_table(console, data: dict) -> None:
    marks = {"ok": "[green]ok[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]FAIL[/red]"}
    fold = {"overflow": "fold"}
    table = console.table(*((column, fold) for column in ("line", "sender", "type", "epoch", "signature", "key",
                                                          "verdict", "findings")),
                          title=f"{data['format']} {data['source']}: {data['algorithm']}, empty context")
    for message in data["messages"]:
        findings = ", ".join(f["code"] for f in message["findings"] if f["severity"] != "info")
        key = f"{message['key_id']} {message['binding']}" if message["key_id"] else ""
        table.add_row(str(message["line"]), message["sender"] or "", message["type"] or "",
                      "" if message["epoch"] is None else str(message["epoch"]), message["signature"], key,
                      marks[message["verdict"]], findings)
    console.print(table)
    summary = data["summary"]
    console.print(f"{summary['messages']} messages: {summary['signatures']['valid']} valid signatures, "
                  f"{summary['pinned']} from pinned keys; {summary['verdicts']['fail']} failed, "
                  f"{summary['verdicts']['warn']} with warnings")
