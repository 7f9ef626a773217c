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

SCHEMA = "x0ctl.quorum.simulate/v1"


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
    loss: Annotated[float | None, typer.Option("--loss", help="Per-message loss probability (default 0.01).",
                                               show_default=False)] = None,
    trials: Annotated[int, typer.Option("--trials", help="Monte Carlo trials (seeds seed, seed+1, ...).")] = 1,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Parallel worker processes for trials and sweeps.")] = 1,
    sweep: Annotated[str | None, typer.Option("--sweep-byzantine", help="Sweep f over a range, e.g. 0..20.",
                                              show_default=False, metavar="LOW..HIGH")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="With --sweep-byzantine: draw the curve to .svg or .png.",
                                              show_default=False, metavar="FILE")] = None,
    output: OutputOption = None,
) -> None:
    """Simulate the control plane under Byzantine attack, with real ML-DSA-65 signatures on every message.

    Honest nodes run x0ctl's protection (signature checks, nonce + epoch anti-replay, 10 msg/s rate limit, reputation and quarantine, 2/3 quorum on critical events); Byzantine nodes replay, forge, substitute keys, flood, equivocate, falsely report failures or go silent. The report gives safety violations, liveness and time to quorum, quarantine precision/recall, rejections by cause, message counts and, for partitions, what each side decided while split. Exit 1 when safety is violated with f <= floor((n-1)/3), where the quorum rule promises it; above that bound violations are the expected finding, not a failure.

    Examples:
      x0ctl quorum simulate --nodes 50 --byzantine 16 --duration 60s --seed 7
      x0ctl quorum simulate --scenario examples/quorum/split-brain.yaml -o json
      x0ctl quorum simulate -n 31 -f 10 --trials 20 --jobs 2
      x0ctl quorum simulate -n 16 --duration 30s --strategy collude --sweep-byzantine 0..10 --plot sweep.svg
    """
    import dataclasses

    from x0ctl.pqc import get_backend, resolve_backend_names
    from x0ctl.durations import parse_duration
    from x0ctl.quorum.scenario import Scenario, expand_strategies, load_scenario

    app_ = get_app(ctx, output)
    if trials < 1:
        raise UsageError("--trials must be at least 1")
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if plot is not None and sweep is None:
        raise UsageError("--plot draws the Byzantine sweep: add --sweep-byzantine LOW..HIGH")
    if plot is not None:
        from x0ctl.quorum.plot import check_plot_target

        check_plot_target(plot)

    scenario = load_scenario(scenario_file) if scenario_file is not None else Scenario()
    overrides = {}
    if nodes is not None:
        overrides["nodes"] = nodes
    if byzantine is not None:
        overrides["byzantine"] = byzantine
    if duration is not None:
        overrides["duration_s"] = parse_duration(duration, "--duration")
    if seed is not None:
        overrides["seed"] = seed
    if strategy:
        names = [part for item in strategy for part in item.split(",") if part.strip()]
        overrides["strategies"] = tuple(expand_strategies(names))
    elif sweep is not None and scenario_file is None:
        overrides["strategies"] = tuple(expand_strategies(["collude"]))
    if loss is not None:
        overrides["network"] = dataclasses.replace(scenario.network, loss=loss)
    if sweep is not None and byzantine is None and scenario_file is None:
        overrides["byzantine"] = 0  # the sweep sets f itself; keep the default f from tripping f >= n
    scenario = dataclasses.replace(scenario, **overrides)
    scenario.validate("command line" if scenario_file is None else str(scenario_file))

    backend_name = resolve_backend_names(app_.backend)[0]
    get_backend(backend_name)  # the production guard and availability check, before any work
    document = {"schema": SCHEMA, "backend": backend_name, "scenario": scenario.to_dict()}

    if sweep is not None:
        from x0ctl.quorum.montecarlo import parse_range, run_sweep

        counts = parse_range(sweep, scenario.nodes)
        with app_.progress("sweeping f", total=len(counts) * trials) as progress:
            result = run_sweep(scenario, backend_name, counts, trials=trials, jobs=jobs, progress=progress)
        plotted = None
        if plot is not None:
            from x0ctl.quorum.plot import write_plot

            plotted = str(write_plot(result, plot))
        document.update(mode="sweep", sweep=result, plot=plotted)
        app_.emit(document, lambda console: _sweep_table(console, document))
        if not result["safe_within_bound"]:
            raise CheckFailed("safety violated within the tolerated bound f <= floor((n-1)/3); see the report")
        return

    if trials > 1:
        from x0ctl.quorum.montecarlo import run_trials

        with app_.progress("trials", total=trials) as progress:
            outcome = run_trials(scenario, backend_name, trials, jobs=jobs, progress=progress)
        document.update(mode="trials", aggregate=outcome["aggregate"], runs=outcome["runs"])
        app_.emit(document, lambda console: _trials_table(console, document))
        unsafe = [run["seed"] for run in outcome["runs"] if run["within_bound"] and not run["safety"]["ok"]]
        if unsafe:
            raise CheckFailed(f"safety violated within the tolerated bound in {len(unsafe)} trial(s), "
                              f"seeds {', '.join(map(str, unsafe[:10]))}")
        return

    from x0ctl.quorum.simulator import simulate as run_simulation

    total = int(scenario.duration_s)
    with app_.progress("simulating", total=max(total, 1)) as progress:
        result = run_simulation(scenario, get_backend(backend_name),
                                progress=lambda at, end: progress(int(at / 1000), int(end / 1000)))
    document.update(mode="single", result=result)
    app_.emit(document, lambda console: _single_table(console, document))
    if result["within_bound"] and not result["safety"]["ok"]:
        raise CheckFailed(f"safety violated with f = {result['byzantine']} <= {result['tolerated_faults']}: "
                          f"{result['safety']['violations']} violation(s)")


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _single_table(console, document: dict) -> None:
    from rich.table import Table

    r = document["result"]
    safety, liveness, quarantine = r["safety"], r["liveness"], r["quarantine"]
    console.print(f"[bold]{document['scenario']['name']}[/bold]: n = {r['nodes']}, f = {r['byzantine']} "
                  f"({'within' if r['within_bound'] else 'beyond'} the bound f <= {r['tolerated_faults']}), "
                  f"quorum {r['quorum_threshold']}, {r['duration_s']:g}s simulated, seed {r['seed']}, "
                  f"backend {document['backend']}")
    table = Table(title="Outcome", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    mark = "[green]0[/green]" if safety["ok"] else f"[red]{safety['violations']}[/red]"
    table.add_row("safety violations", mark)
    table.add_row("  false events validated", str(safety["false_events_validated"]))
    table.add_row("  conflicting decisions", str(safety["conflicting_decisions"]))
    table.add_row("  honest nodes quarantined", str(safety["honest_quarantined"]))
    table.add_row("true events (validated by all honest)",
                  f"{liveness['true_events']} ({liveness['validated_by_all_honest']})")
    table.add_row("validated rate (node x event)", _fmt(liveness["validated_rate"], 3))
    ttq = liveness["time_to_quorum_s"]
    table.add_row("time to quorum p50 / p95", f"{_fmt(ttq['p50'])}s / {_fmt(ttq['p95'])}s")
    table.add_row("quarantine precision / recall", f"{_fmt(quarantine['precision'], 3)} / {_fmt(quarantine['recall'], 3)}")
    table.add_row("equivocations detected", str(r["equivocations_detected"]))
    messages = r["messages"]
    table.add_row("messages signed / sent / delivered", f"{messages['signed']} / {messages['sent']} / {messages['delivered']}")
    table.add_row("ML-DSA verifications (cache hits)", f"{messages['verified']} ({messages['verification_cache_hits']})")
    console.print(table)
    causes = Table(title="Rejections by cause", title_justify="left")
    causes.add_column("cause")
    causes.add_column("count", justify="right")
    for cause, count in r["rejections"]["by_cause"].items():
        causes.add_row(cause, str(count))
    console.print(causes)
    if r["strategies"]:
        attacks = Table(title="Byzantine strategies", title_justify="left")
        for column in ("strategy", "nodes", "sent", "quarantined by", "rejected as"):
            attacks.add_column(column, justify="left" if column in ("strategy", "rejected as") else "right")
        for label, entry in r["strategies"].items():
            rejected = ", ".join(f"{reason} {count}" for reason, count in entry["rejected"].items()) or "-"
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
    from rich.table import Table

    a = document["aggregate"]
    scenario = document["scenario"]
    console.print(f"[bold]{scenario['name']}[/bold]: {a['trials']} trials, n = {scenario['nodes']}, "
                  f"f = {scenario['byzantine']}, backend {document['backend']} (rates with Wilson 95% intervals)")
    table = Table(show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("trials with a safety violation", _interval(a["safety_violation"]))
    table.add_row("true events validated (node x event)", _interval(a["liveness"]))
    ttq = a["time_to_quorum_s"]
    table.add_row("time to quorum p50 / p95", f"{_fmt(ttq['p50'])}s / {_fmt(ttq['p95'])}s")
    table.add_row("quarantine precision", _interval(a["quarantine_precision"]))
    table.add_row("quarantine recall", _interval(a["quarantine_recall"]))
    table.add_row("equivocations detected", str(a["equivocations_detected"]))
    table.add_row("rejections by cause", ", ".join(f"{k} {v}" for k, v in a["rejections_by_cause"].items()))
    if a["partitions_converged"]["of"]:
        table.add_row("partitions converged", _interval(a["partitions_converged"]))
    console.print(table)


def _sweep_table(console, document: dict) -> None:
    from rich.table import Table

    s = document["sweep"]
    console.print(f"Byzantine sweep: n = {s['nodes']}, quorum {s['quorum_threshold']}, tolerated f <= "
                  f"{s['tolerated_faults']}, {s['trials_per_point']} trial(s) per point, backend {document['backend']}")
    from rich import box

    table = Table(box=box.SIMPLE_HEAD)
    for column in ("f", "bound", "unsafe", "false", "conflict", "honest q", "live", "p50 s", "p95 s"):
        table.add_column(column, justify="right", no_wrap=True)
    for p in s["points"]:
        unsafe = p["safety_violation"]["count"]
        table.add_row(str(p["byzantine"]), "within" if p["within_bound"] else "[yellow]beyond[/yellow]",
                      f"[red]{unsafe}[/red]" if unsafe else "0", str(p["false_events_validated"]),
                      str(p["conflicting_decisions"]), str(p["honest_quarantined"]), _fmt(p["liveness"]["rate"], 3),
                      _fmt(p["time_to_quorum_s"]["p50"]), _fmt(p["time_to_quorum_s"]["p95"]))
    console.print(table)
    console.print("unsafe: trials with a safety violation; false: false events validated; conflict: events with "
                  "two validated values; honest q: honest nodes quarantined; live: true events validated; "
                  "p50/p95: time to quorum")
    console.print(f"safe for every f within the bound: {s['safe_within_bound']}; first unsafe f: "
                  f"{_fmt(s['first_unsafe_byzantine'])}; first f with lost liveness: "
                  f"{_fmt(s['first_liveness_loss_byzantine'])}")
    if document.get("plot"):
        console.print(f"plot written to {document['plot']}")


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
    from rich.table import Table

    marks = {"ok": "[green]ok[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]FAIL[/red]"}
    table = Table(title=f"{data['format']} {data['source']}: {data['algorithm']}, empty context", title_justify="left")
    for column in ("line", "sender", "type", "epoch", "signature", "key", "verdict", "findings"):
        table.add_column(column, overflow="fold")
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
