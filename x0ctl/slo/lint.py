"""`x0ctl slo lint`: alerts, recording rules and dashboard panels checked against what a Prometheus holds.

Like cloudflare's pint, without a full PromQL parser: a small lexer finds every series selector
(metric name and label matchers) in each expression, the function applied to it and the labels
compared in it, and one instant query per question asks the server what exists over the lookback:

- dead_selector    the selector matches no series (a dead alert never fires; a dead panel is empty);
                   the detail says whether the metric exists at all, which label values it has, and
                   the name the mesh exports when x0ctl knows an equivalent (x0ctl.mesh.metric_names)
- unknown_label    a matcher names a label that no series of that metric carries
- rate_over_gauge  rate/irate/increase over a gauge (x0ctl's table of the mesh's metrics) or over a
                   name that does not follow counter naming (_total, _count, _sum, _bucket)

Inputs: Prometheus rule files (`groups:`), PrometheusRule objects (`spec.groups`), Grafana dashboard
JSON (panels and rows, old and new layouts). Names recorded by a linted rule are not looked up
(the server may not evaluate those rules). Grafana variables inside label values make that matcher
unknowable: it is ignored; $__rate_interval and friends read as 5m.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from x0ctl.errors import UsageError
from x0ctl.mesh.metric_names import METRIC_NAMES, equivalent_names
from x0ctl.textfile import nested_too_deeply, read_text

DEFAULT_LOOKBACK = 86400
RATE_FUNCTIONS = {"rate", "irate", "increase"}
ABSENCE_FUNCTIONS = {"absent", "absent_over_time"}  # a selector there is meant to match nothing at times
COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket", "_created")
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
                "quantile", "limitk", "limit_ratio"}
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "start", "end"} | LABEL_LIST_KEYWORDS
GAUGES = {m.domain for m in METRIC_NAMES if m.kind == "gauge"} | {m.mesh for m in METRIC_NAMES if m.kind == "gauge"}
GRAFANA_VARIABLE_VALUE = "__x0ctl_grafana_variable__"
SHOWN_VALUES = 8

_TOKEN = re.compile(r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<duration>\[[^\]]*\])
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:ms|s|m|h|d|w|y)*)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^=<>@,(){}])
""", re.X)
_GRAFANA_BUILTIN = re.compile(r"\$\{?__(?:rate_interval|interval|range|interval_ms|range_ms|range_s)\}?")
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$[a-zA-Z_][a-zA-Z0-9_]*|\[\[[^\]]*\]\]")


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str

    def text(self) -> str:
        return f'{self.label}{self.op}"{_escape(self.value)}"'


@dataclass(frozen=True)
class Selector:
    metric: str | None
    matchers: tuple[Matcher, ...]
    function: str | None  # the function the selector is an argument of (rate, sum, ...)

    def promql(self, drop_variables: bool = True) -> str:
        matchers = [m for m in self.matchers if not (drop_variables and GRAFANA_VARIABLE_VALUE in m.value)]
        if self.metric is None and not any(m.label == "__name__" for m in matchers):
            matchers = [Matcher("__name__", "=~", ".+"), *matchers]
        inner = ",".join(m.text() for m in matchers)
        return f"{self.metric or ''}{{{inner}}}" if inner or not self.metric else self.metric

    def shown(self) -> str:
        inner = ",".join(m.text().replace(GRAFANA_VARIABLE_VALUE, "$var") for m in self.matchers)
        return f"{self.metric or ''}{{{inner}}}" if inner else (self.metric or "{}")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _unquote(token: str) -> str:
    if token.startswith("`"):
        return token[1:-1]
    body = token[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def expand_grafana(expression: str) -> str:
    """Grafana's interval variables -> 5m; other variables in label values -> a marker; elsewhere -> 5m."""
    expression = _GRAFANA_BUILTIN.sub("5m", expression)
    out, position = [], 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', expression):
        out.append(_GRAFANA_VARIABLE.sub("5m", expression[position:match.start()]))
        out.append(_GRAFANA_VARIABLE.sub(lambda _: GRAFANA_VARIABLE_VALUE, match.group(0)))
        position = match.end()
    out.append(_GRAFANA_VARIABLE.sub("5m", expression[position:]))
    return "".join(out)


def tokens(expression: str) -> list[tuple[str, str]]:
    result, position = [], 0
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            raise UsageError(f"cannot read PromQL at {expression[position:position + 20]!r}")
        kind = match.lastgroup
        if kind != "space":
            result.append((kind, match.group(0)))
        position = match.end()
    return result


def selectors(expression: str) -> list[Selector]:
    """Every series selector of a PromQL expression, with the function it is passed to."""
    items = tokens(expression)
    found: list[Selector] = []
    calls: list[str | None] = []  # the function (or None for grouping parentheses) of each open '('
    index = 0
    while index < len(items):
        kind, text = items[index]
        following = items[index + 1] if index + 1 < len(items) else ("", "")
        if kind == "ident" and text in LABEL_LIST_KEYWORDS and following == ("op", "("):
            index = _skip_parentheses(items, index + 1)
            continue
        if kind == "ident" and following == ("op", "(") and text not in KEYWORDS:
            calls.append(text)
            index += 2
            continue
        if kind == "ident" and text in AGGREGATIONS and following[0] == "ident":
            calls.append(text)  # `sum by (x) (...)`: the aggregation's own '(' comes after the label list
            index += 1
            index = _skip_parentheses(items, index + 1) if items[index][1] in LABEL_LIST_KEYWORDS else index
            if index < len(items) and items[index] == ("op", "("):
                index += 1
            continue
        if kind == "op" and text == "(":
            calls.append(None)
        elif kind == "op" and text == ")":
            if calls:
                calls.pop()
        elif (kind == "ident" and text not in KEYWORDS and text not in AGGREGATIONS) or (kind, text) == ("op", "{"):
            metric = text if kind == "ident" else None
            if kind == "ident" and following == ("op", "{"):
                index += 1
            matchers: tuple[Matcher, ...] = ()
            if items[index] == ("op", "{"):
                matchers, index = _matchers(items, index)
            found.append(Selector(metric, matchers, calls[-1] if calls else None))
        index += 1
    return found


def _skip_parentheses(items: list[tuple[str, str]], index: int) -> int:
    """From a '(' at index, past its matching ')'."""
    depth = 0
    while index < len(items):
        if items[index] == ("op", "("):
            depth += 1
        elif items[index] == ("op", ")"):
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return index


def _matchers(items: list[tuple[str, str]], index: int) -> tuple[tuple[Matcher, ...], int]:
    """From a '{' at index: the matchers and the index of the closing '}'."""
    matchers = []
    index += 1
    while index < len(items) and items[index] != ("op", "}"):
        if items[index][0] in ("ident", "string") and index + 2 < len(items) and items[index + 2][0] == "string":
            label = items[index][1] if items[index][0] == "ident" else _unquote(items[index][1])
            matchers.append(Matcher(label, items[index + 1][1], _unquote(items[index + 2][1])))
            index += 3
        else:
            index += 1
    return tuple(matchers), index


@dataclass(frozen=True)
class Expression:
    """One PromQL expression to lint and where it comes from."""

    file: str
    kind: str  # alert | record | panel
    name: str
    expr: str
    grafana: bool = False


@dataclass(frozen=True)
class LintFinding:
    file: str
    kind: str
    name: str
    code: str
    selector: str
    detail: str
    expr: str

    def to_dict(self) -> dict:
        return {"file": self.file, "kind": self.kind, "name": self.name, "code": self.code, "selector": self.selector,
                "detail": self.detail, "expr": self.expr}


@dataclass
class LintReport:
    files: list[str]
    prometheus: str
    at: float
    lookback: int
    expressions: int = 0
    selectors: int = 0
    skipped: list[dict] = field(default_factory=list)
    findings: list[LintFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict:
        codes: dict[str, int] = {}
        for item in self.findings:
            codes[item.code] = codes.get(item.code, 0) + 1
        return {"prometheus": self.prometheus, "files": list(self.files), "at": self.at, "lookback_seconds":
                self.lookback, "ok": self.ok, "summary": {"expressions": self.expressions, "selectors": self.selectors,
                                                          "findings": len(self.findings), "by_code": codes},
                "skipped": list(self.skipped), "findings": [f.to_dict() for f in self.findings]}


def _rules_from(document, file: str) -> list[Expression] | None:
    groups = None
    if isinstance(document, dict) and isinstance(document.get("groups"), list):
        groups = document["groups"]
    elif isinstance(document, dict) and isinstance((document.get("spec") or {}).get("groups"), list):
        groups = document["spec"]["groups"]  # a PrometheusRule object
    if groups is None:
        return None
    found = []
    for group_index, group in enumerate(groups):
        for rule_index, rule in enumerate((group or {}).get("rules") or []):
            if not isinstance(rule, dict) or not isinstance(rule.get("expr"), str | int | float):
                raise UsageError(f"{file}: groups[{group_index}].rules[{rule_index}] has no expr")
            kind = "alert" if "alert" in rule else "record"
            found.append(Expression(file, kind, str(rule.get(kind) or f"rules[{rule_index}]"), str(rule["expr"])))
    return found


def _panels(items, found: list, file: str, where: str = "panels") -> None:
    # A field of the wrong type is bad input, not "nothing to check": a lint that read nothing must not pass.
    if items is None:
        return
    if not isinstance(items, list):
        raise UsageError(f"{file}: {where} must be a list of panels, not {type(items).__name__}")
    for index, panel in enumerate(items):
        if not isinstance(panel, dict):
            raise UsageError(f"{file}: {where}[{index}] must be a panel object, not {type(panel).__name__}")
        title = str(panel.get("title") or f"panel {panel.get('id', '?')}")
        targets = panel.get("targets")
        if targets is not None and not isinstance(targets, list):
            raise UsageError(f"{file}: {where}[{index}].targets must be a list, not {type(targets).__name__}")
        for target_index, target in enumerate(targets or []):
            field = f"{where}[{index}].targets[{target_index}]"
            if not isinstance(target, dict):
                raise UsageError(f"{file}: {field} must be a target object, not {type(target).__name__}")
            expr = target.get("expr")
            if expr is not None and not isinstance(expr, str):
                raise UsageError(f"{file}: {field}.expr must be a string, not {type(expr).__name__}")
            if expr and expr.strip():
                name = f"{title} [{target.get('refId', '?')}]"
                found.append(Expression(file, "panel", name, expr, grafana=True))
        _panels(panel.get("panels"), found, file, f"{where}[{index}].panels")  # collapsed rows keep their panels inside


def _dashboard_from(document, file: str) -> list[Expression] | None:
    if not isinstance(document, dict):
        return None
    dashboard = document.get("dashboard") if isinstance(document.get("dashboard"), dict) else document
    if "panels" not in dashboard and "rows" not in dashboard:
        return None
    found: list[Expression] = []
    _panels(dashboard.get("panels"), found, file)
    rows = dashboard.get("rows")
    if rows is not None and not isinstance(rows, list):
        raise UsageError(f"{file}: rows must be a list, not {type(rows).__name__}")
    for index, row in enumerate(rows or []):
        if not isinstance(row, dict):
            raise UsageError(f"{file}: rows[{index}] must be a row object, not {type(row).__name__}")
        _panels(row.get("panels"), found, file, f"rows[{index}].panels")
    return found


def load_expressions(path: str | Path) -> list[Expression]:
    """Every expression of a rule file (YAML, several documents allowed) or a Grafana dashboard (JSON)."""
    import yaml

    file = str(path)
    text = read_text(path, "rule file or dashboard")
    try:
        documents = [json.loads(text)] if text.lstrip().startswith("{") else \
            [d for d in yaml.safe_load_all(text) if d is not None]
    except (ValueError, yaml.YAMLError) as exc:
        raise UsageError(f"{file}: neither JSON nor YAML: {getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:
        raise nested_too_deeply(path, "rule file or dashboard") from None
    found: list[Expression] = []
    recognised = False
    for document in documents:
        for reader in (_rules_from, _dashboard_from):
            expressions = reader(document, file)
            if expressions is not None:
                found += expressions
                recognised = True
                break
    if not recognised:
        raise UsageError(f"{file}: not a Prometheus rule file (groups:), a PrometheusRule or a Grafana dashboard")
    return found


class _Server:
    """Instant queries over the lookback, each question asked once."""

    def __init__(self, client, at: float, lookback: int) -> None:
        self.client, self.at, self.window = client, at, f"{lookback}s"
        self._answers: dict[str, list] = {}

    def series(self, selector: str, by: str | None = None) -> list:
        grouping = f" by ({by})" if by else ""
        query = f"count{grouping} (last_over_time({selector}[{self.window}]))"
        if query not in self._answers:
            self._answers[query] = self.client.query(query, self.at).samples
        return self._answers[query]

    def exists(self, selector: str) -> bool:
        return bool(self.series(selector))


def _dead(selector: Selector, server: _Server) -> tuple[str, str] | None:
    """None when the selector matches series; else (code, detail)."""
    if server.exists(selector.promql()):
        return None
    if selector.metric is None:
        return "dead_selector", "no series match these matchers"
    if not server.exists(selector.metric):
        others = [name for name in equivalent_names(selector.metric) if server.exists(name)]
        hint = f"; the mesh exports it as {others[0]}" if others else ""
        return "dead_selector", f"no series named {selector.metric}{hint}"
    for matcher in selector.matchers:
        if GRAFANA_VARIABLE_VALUE in matcher.value or matcher.label == "__name__":
            continue
        if not server.exists(f'{selector.metric}{{{matcher.label}!=""}}'):
            return "unknown_label", f"no series of {selector.metric} has a label {matcher.label}"
    for matcher in selector.matchers:
        if GRAFANA_VARIABLE_VALUE in matcher.value or matcher.label == "__name__":
            continue
        if not server.exists(f"{selector.metric}{{{matcher.text()}}}"):
            values = sorted(s.labels.get(matcher.label, "") for s in server.series(selector.metric, matcher.label))
            shown = ", ".join(values[:SHOWN_VALUES]) + (" ..." if len(values) > SHOWN_VALUES else "")
            return "dead_selector", f"{selector.metric} exists but no series has {matcher.text()} " \
                                    f"({matcher.label} is one of: {shown})"
    return "dead_selector", f"{selector.metric} exists but no series matches all of these matchers together"


def _rate_over_gauge(selector: Selector) -> str | None:
    if selector.function not in RATE_FUNCTIONS or selector.metric is None:
        return None
    if selector.metric in GAUGES:
        return f"{selector.function}() over {selector.metric}, a gauge: use deriv(), delta() or the gauge itself"
    if not selector.metric.endswith(COUNTER_SUFFIXES):
        return (f"{selector.function}() over {selector.metric}, which is not named like a counter "
                f"({', '.join(COUNTER_SUFFIXES[:4])}): a gauge's rate is meaningless")
    return None


def lint(paths: list[str | Path], client, *, at: float, lookback: int = DEFAULT_LOOKBACK) -> LintReport:
    """Lint every rule and panel of `paths` against the Prometheus behind `client` (x0ctl.slo PrometheusClient)."""
    if not paths:
        raise UsageError("name at least one rule file or dashboard")
    if lookback < 1:
        raise UsageError("--lookback must be at least 1s")
    expressions = [e for path in paths for e in load_expressions(path)]
    recorded = {e.name for e in expressions if e.kind == "record"}
    report = LintReport([str(p) for p in paths], client.display_url, at, lookback, expressions=len(expressions))
    server = _Server(client, at, lookback)
    for expression in expressions:
        text = expand_grafana(expression.expr) if expression.grafana else expression.expr
        try:
            found = selectors(text)
        except UsageError as exc:
            report.skipped.append({"file": expression.file, "name": expression.name, "reason": str(exc)})
            continue
        for selector in found:
            report.selectors += 1

            def add(code: str, detail: str, selector=selector) -> None:
                report.findings.append(LintFinding(expression.file, expression.kind, expression.name, code,
                                                   selector.shown(), detail, expression.expr))

            gauge = _rate_over_gauge(selector)
            if gauge:
                add("rate_over_gauge", gauge)
            if selector.metric in recorded or selector.function in ABSENCE_FUNCTIONS:
                continue
            dead = _dead(selector, server)
            if dead:
                add(*dead)
    return report
