"""`x0ctl slo`: SLOs, error budgets and burn rates from Prometheus.

The work is done by x0ctl.slo (imported lazily in each command); this module parses options and
renders results.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from x0ctl.cli.app import OutputOption, get_app
from x0ctl.cli.options import PrometheusConnection, prometheus_options
from x0ctl.durations import promql_duration
from x0ctl.errors import UsageError
from x0ctl.fsutil import atomic_write

HELP = """SLOs, error budgets and burn rates from Prometheus.

Evaluates the mesh's SLOs (handshake success >= 99%, handshake p95 < 100 ms, no PQC fallback, no key-rotation failures; 30-day window) or your own spec (x0ctl YAML or OpenSLO v1) against any Prometheus HTTP API, and writes recording rules and multiwindow multi-burn-rate alerts. Exit codes: 0 ok, 1 SLO breach, 2 usage or bad PromQL, 4 Prometheus unreachable or HTTP error, 5 no data.

Examples:
  x0ctl slo status --prometheus http://prometheus:9090
  x0ctl slo check && echo healthy
  x0ctl slo rules --out x0-slo.yml
"""

app = typer.Typer(help=HELP, short_help="SLOs, error budgets and burn rates from Prometheus.", no_args_is_help=True)

SpecOption = Annotated[
    Path | None,
    typer.Option("--spec", "-f", show_default=False, metavar="FILE",
                 help="SLO spec (x0ctl YAML or OpenSLO v1). Default: the mesh's built-in SLOs."),
]
AtOption = Annotated[
    str | None,
    typer.Option("--at", metavar="TIME", show_default=False,
                 help="Evaluate at this instant (RFC 3339 or unix seconds) instead of now."),
]
SelectorOption = Annotated[
    str | None,
    typer.Option("--selector", "-l", metavar="'{label=\"v\"}'", show_default=False,
                 help="Label matchers added to every series, e.g. '{job=\"x0\",instance=~\"node-.*\"}'."),
]
ByOption = Annotated[
    list[str] | None,
    typer.Option("--by", metavar="LABEL", show_default=False,
                 help="One result per value of this label (repeatable or comma-separated), worst first."),
]


def _spec(path: Path | None):
    from x0ctl.slo import default_spec, load_spec

    return load_spec(path) if path else default_spec()


def _by(values: list[str] | None) -> tuple[str, ...]:
    import re

    labels = tuple(label.strip() for value in values or () for label in value.split(",") if label.strip())
    for label in labels:
        if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", label) or label.startswith("__"):
            raise UsageError(f"--by: {label!r} is not a label name")
    return labels


def _report(spec_path, at, selector, by, prom: PrometheusConnection):
    from x0ctl.durations import parse_time
    from x0ctl.slo import status_report

    spec = _spec(spec_path)
    labels = _by(by)
    moment = parse_time(at, "--at") if at is not None else None
    client = prom.client()
    try:
        return status_report(spec, client, at=moment, selector=selector, by=labels)
    finally:
        client.close()


@app.command("status")
@prometheus_options
def status(
    ctx: typer.Context,
    prom: PrometheusConnection,
    spec: SpecOption = None,
    at: AtOption = None,
    selector: SelectorOption = None,
    by: ByOption = None,
    output: OutputOption = None,
) -> None:
    """Show each SLO's SLI and burn rate over 5m, 30m, 1h, 2h, 6h, 1d, 3d and its window, the error budget left, and a verdict.

    Verdicts: ok, breach (budget spent, or a page-level burn: 1h and 5m above 14.4x, or 6h and 30m above 6x), no-data (never ok). One query per SLO, all sent concurrently and pinned to one instant. Exit 0 whatever the verdicts; use 'x0ctl slo check' to gate on them.

    Examples:
      x0ctl slo status
      x0ctl slo status --prometheus https://thanos.example:9090 --token-file /run/secrets/prom-token
      x0ctl slo status --selector '{job="x0"}' --by instance -o json
      x0ctl slo status --spec slos.yaml --at 2025-06-05T00:00:00Z
    """
    app_ = get_app(ctx, output)
    report = _report(spec, at, selector, by, prom)
    app_.emit(report.to_dict(), lambda console: _status_table(console, report))


@app.command("check")
@prometheus_options
def check(
    ctx: typer.Context,
    prom: PrometheusConnection,
    spec: SpecOption = None,
    at: AtOption = None,
    selector: SelectorOption = None,
    by: ByOption = None,
    output: OutputOption = None,
) -> None:
    """Gate on the SLOs: silent and exit 0 when all are ok, exit 1 on any breach, exit 5 when any has no data.

    The same evaluation as 'x0ctl slo status'. A breach wins over no-data. With -o json the full status document is printed whatever the outcome. For runbooks and rollout gates.

    Examples:
      x0ctl slo check && echo healthy
      x0ctl slo check --selector '{instance="node-7"}'; echo "exit $?"
      x0ctl slo check --spec slos.yaml -o json
    """
    app_ = get_app(ctx, output)
    report = _report(spec, at, selector, by, prom)
    if app_.json:
        app_.emit(report.to_dict())
    report.raise_for_verdicts()


@app.command("rules")
def rules(
    ctx: typer.Context,
    spec: SpecOption = None,
    selector: SelectorOption = None,
    out: Annotated[Path | None, typer.Option("--out", show_default=False, help="Write the rules to this file.")] = None,
    output: OutputOption = None,
) -> None:
    """Print Prometheus recording rules and multiwindow multi-burn-rate alerts for the spec.

    Recording rules slo:sli_error:ratio_rate<window>{slo=...} for every window; alerts SLOErrorBudgetBurn (page: 1h/5m above 14.4x or 6h/30m above 6x; ticket: 1d/2h above 3x or 3d/6h above 1x, for a 30-day window) and, for 100% objectives, SLOZeroToleranceViolation. The output passes 'promtool check rules'.

    Examples:
      x0ctl slo rules > /etc/prometheus/rules/x0-slo.yml && promtool check rules /etc/prometheus/rules/x0-slo.yml
      x0ctl slo rules --spec slos.yaml --selector '{job="x0"}' --out x0-slo.yml
    """
    import json

    from x0ctl.slo import generate_rules, rules_yaml

    app_ = get_app(ctx, output)
    spec_ = _spec(spec)
    data = generate_rules(spec_, selector)
    text = json.dumps(data, indent=2) + "\n" if app_.json else rules_yaml(spec_, selector)
    counts = {"groups": len(data["groups"]),
              "recording_rules": sum("record" in r for g in data["groups"] for r in g["rules"]),
              "alerts": sum("alert" in r for g in data["groups"] for r in g["rules"])}
    if out is None:
        sys.stdout.write(text)
        return
    atomic_write(Path(out), text.encode("utf-8"), mode=0o644)  # Prometheus may be reading the old file
    app_.info(f"wrote {counts['groups']} groups, {counts['recording_rules']} recording rules and "
              f"{counts['alerts']} alerts to {out}")


@app.command("analysis-template")
def analysis_template(
    ctx: typer.Context,
    spec: SpecOption = None,
    selector: SelectorOption = None,
    name: Annotated[str, typer.Option("--name", help="metadata.name of the AnalysisTemplate.")] = "x0ctl-slos",
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", show_default=False,
                                                  help="metadata.namespace (default: none, kubectl's).")] = None,
    address: Annotated[str, typer.Option("--address", help="Prometheus URL as Argo's controller reaches it.")]
    = "http://prometheus:9090",
    window: Annotated[str, typer.Option("--window", help="Window of each SLO query.")] = "5m",
    interval: Annotated[str, typer.Option("--interval", help="How often Argo measures.")] = "1m",
    count: Annotated[int | None, typer.Option("--count", show_default=False,
                                              help="Measurements per analysis (default: until the step ends).")] = None,
    failure_limit: Annotated[int, typer.Option("--failure-limit", help="Failed measurements tolerated.")] = 0,
    out: Annotated[Path | None, typer.Option("--out", show_default=False, help="Write it to this file.")] = None,
    output: OutputOption = None,
) -> None:
    """Print an Argo Rollouts AnalysisTemplate whose Prometheus metrics are the spec's SLO queries.

    One metric per SLO: its error ratio over --window (the query 'slo status' and rollout 'slo' gates use, the mesh's metric names included), successCondition at or below the error budget (1 - objective), failureCondition above it; no data is Inconclusive. Reference it from a Rollout's analysis step or background analysis so Argo gates the canary on the mesh's SLOs. YAML by default (for kubectl apply); -o json prints the same object as JSON.

    Examples:
      x0ctl slo analysis-template --selector '{role="canary"}' -n mesh | kubectl apply -f -
      x0ctl slo analysis-template --spec slos.yaml --address http://prometheus.monitoring:9090 --out at.yaml
    """
    import json

    import yaml

    from x0ctl.durations import parse_duration
    from x0ctl.slo.argo import analysis_template as build

    app_ = get_app(ctx, output)
    template = build(_spec(spec), name=name, namespace=namespace, address=address,
                     window_seconds=int(parse_duration(window, "--window")),
                     interval_seconds=int(parse_duration(interval, "--interval")), count=count,
                     failure_limit=failure_limit, selector=selector)
    document = template.to_dict()
    text = (json.dumps(document, indent=2) + "\n" if app_.json
            else yaml.safe_dump(document, sort_keys=False, width=1_000_000))
    if out is None:
        sys.stdout.write(text)
        return
    atomic_write(Path(out), text.encode("utf-8"), mode=0o644)  # Prometheus may be reading the old file
    app_.info(f"wrote AnalysisTemplate {name} with {len(template.metrics)} metric(s) to {out}")


@app.command("query")
@prometheus_options
def query(
    ctx: typer.Context,
    promql: Annotated[str, typer.Argument(metavar="PROMQL", help="Any PromQL expression.")],
    prom: PrometheusConnection,
    at: AtOption = None,
    output: OutputOption = None,
) -> None:
    """Run one instant PromQL query and show the series as a table or JSON.

    NaN and infinite values are shown as null in JSON (raw keeps Prometheus' text). Bad PromQL exits 2; an unreachable server or HTTP error exits 4.

    Examples:
      x0ctl slo query 'sum by (instance) (rate(pqc_handshake_failure_total[5m]))'
      x0ctl slo query 'pqc_fallback_enabled == 1' --at 2025-06-05T00:00:00Z -o json
    """
    import time

    from x0ctl.durations import format_time, parse_time

    app_ = get_app(ctx, output)
    if not promql.strip():
        raise UsageError("PROMQL is empty")
    moment = parse_time(at, "--at") if at is not None else time.time()
    client = prom.client()
    try:
        result = client.query(promql, moment)
    finally:
        client.close()
    data = {
        "prometheus": client.display_url, "query": promql, "at": format_time(moment), "at_unix": moment,
        "result_type": result.result_type, "seconds": round(result.seconds, 6),
        "series": [{"labels": s.labels, "value": s.value, "raw": s.raw} for s in result.samples],
    }
    app_.emit(data, lambda console: _query_table(console, data))


@app.command("validate")
def validate(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="x0ctl SLO YAML or OpenSLO v1 file.")],
    output: OutputOption = None,
) -> None:
    """Check an SLO spec file and list every problem with its file and field; exit 2 if there is any.

    Accepts x0ctl's SLO YAML and OpenSLO v1 `kind: SLO` documents with ratio metrics. Nothing is sent to Prometheus.

    Examples:
      x0ctl slo validate slos.yaml
      x0ctl slo validate openslo-handshake.yaml -o json
    """
    from x0ctl.slo import SpecError, load_spec

    app_ = get_app(ctx, output)
    try:
        spec = load_spec(file)
    except SpecError as exc:
        problems = [{"file": exc.source, "field": where, "message": message} for where, message in exc.problems]
        data = {"file": str(file), "valid": False, "errors": problems, "slos": []}
        app_.emit(data, lambda console: [console.print(f"{p['file']}: {p['field']}: {p['message']}", markup=False,
                                                       soft_wrap=True) for p in problems])
        raise UsageError(f"{file}: {len(problems)} problem(s) in the SLO spec") from None
    data = {"file": str(file), "valid": True, "errors": [], "slos": [s.to_dict() for s in spec.slos]}
    app_.emit(data, lambda console: console.print(
        f"{file}: valid, {len(spec.slos)} SLO(s): " + ", ".join(s.name for s in spec.slos), markup=False,
        soft_wrap=True))


def _percent(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def _burn(window) -> str:
    if window is None or window.error_ratio is None:
        return "-"
    if window.burn_rate is None:  # a bad event against a 100% objective
        return "inf"
    return f"{window.burn_rate:.3g}"


def _named(result) -> str:
    from x0ctl.slo.evaluate import result_name

    return result_name(result)


def _status_table(console, report) -> None:
    from x0ctl.durations import format_time

    marks = {"ok": "[green]ok[/green]", "breach": "[red]BREACH[/red]", "no-data": "[yellow]no-data[/yellow]",
             "no-events": "[cyan]no-events[/cyan]"}
    right = {"justify": "right"}
    table = console.table("slo", "verdict", ("SLI", right), ("objective", right), ("budget left", right),
                          ("burn 5m/1h/6h/1d/3d", right), title=f"SLOs at {format_time(report.at)} from {report.prometheus}")
    notes = []
    for result in report.results:
        burns = " ".join(_burn(result.window(w)) for w in ("5m", "1h", "6h", "1d", "3d"))
        window = promql_duration(result.slo.window)
        table.add_row(_named(result), marks[result.verdict], f"{_percent(result.sli)} {window}",
                      _percent(result.slo.objective, 2), _percent(result.budget_remaining, 1), burns)
        one_hour = result.window("1h")
        if result.slo.quantile is not None and one_hour and one_hour.quantile_seconds is not None:
            notes.append(f"{_named(result)}: p{result.slo.quantile * 100:g} over 1h "
                         f"{one_hour.quantile_seconds * 1000:.1f} ms")
        notes.extend(f"{_named(result)}: {reason}" for reason in result.reasons)
    console.print(table)
    for note in notes:
        console.print(f"  {note}", markup=False, soft_wrap=True)


def _query_table(console, data: dict) -> None:
    title = f"{data['result_type']} at {data['at']} ({data['seconds'] * 1000:.0f} ms)"
    table = console.table("series", ("value", {"justify": "right"}), title=title)
    for series in data["series"]:
        labels = dict(series["labels"])
        name = labels.pop("__name__", "")
        text = name + ("{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
        table.add_row(text or "{}", series["raw"])
    console.print(table)
    if not data["series"]:
        console.print("(no series)")


@app.command("lint")
@prometheus_options
def lint(
    ctx: typer.Context,
    prom: PrometheusConnection,
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Prometheus rule files, PrometheusRule "
                                                "objects (YAML) and Grafana dashboards (JSON).")],
    lookback: Annotated[str, typer.Option("--lookback", metavar="DURATION",
                                          help="A selector is dead when it matched no series over this long.")] = "1d",
    at: AtOption = None,
    output: OutputOption = None,
) -> None:
    """Find alerts, recording rules and dashboard panels that query series the Prometheus does not have.

    Like pint: every series selector of every rule and panel query is looked up over --lookback. Findings: dead_selector (matches no series: the alert never fires, the panel stays empty; the metric's real label values, or the name the mesh exports instead, are named), unknown_label (a matcher on a label the metric does not have), rate_over_gauge (rate/irate/increase over a gauge or a name not following counter naming). Exit 1 on any finding, 2 on an unreadable rule or dashboard, 4 when Prometheus cannot be queried.

    Examples:
      x0ctl slo lint monitoring/prometheus/alerts.yaml dashboards/pqc.json -p http://prometheus:9090
      x0ctl slo lint rules.yml --lookback 7d -o json
    """
    import time

    from x0ctl.durations import parse_duration, parse_time
    from x0ctl.errors import CheckFailed
    from x0ctl.slo.lint import lint as run_lint

    app_ = get_app(ctx, output)
    lookback_seconds = int(parse_duration(lookback, "--lookback", allow_zero=False))
    moment = parse_time(at, "--at") if at is not None else time.time()
    client = prom.client()
    try:
        report = run_lint([str(f) for f in files], client, at=moment, lookback=lookback_seconds)
    finally:
        client.close()
    data = report.to_dict()
    app_.emit(data, lambda console: _lint_table(console, data))
    if not report.ok:
        codes = ", ".join(f"{code} {count}" for code, count in data["summary"]["by_code"].items())
        raise CheckFailed(f"{len(report.findings)} findings in {data['summary']['expressions']} expressions ({codes})")


def _lint_table(console, data: dict) -> None:
    fold = {"overflow": "fold"}
    table = console.table(*((column, fold) for column in ("file", "rule / panel", "check", "selector", "detail")),
                          title=f"slo lint against {data['prometheus']}")
    for item in data["findings"]:
        table.add_row(item["file"], f"{item['kind']} {item['name']}", item["code"], item["selector"], item["detail"])
    if data["findings"]:
        console.print(table)
    summary = data["summary"]
    console.print(f"{summary['expressions']} expressions, {summary['selectors']} selectors: "
                  f"{summary['findings']} findings", markup=False)
    for skipped in data["skipped"]:
        console.print(f"  skipped {skipped['file']} {skipped['name']}: {skipped['reason']}", markup=False)
