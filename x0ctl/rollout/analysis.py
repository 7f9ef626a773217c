"""An Argo Rollouts AnalysisTemplate's Prometheus metrics as x0ctl rollout gates (`rollout import-analysis`).

Each metric with a `provider.prometheus` becomes a `promql` gate: its query, and `pass_when` from
the metric's `successCondition` (or, without one, the opposite of its `failureCondition`). Argo's
conditions are expressions; x0ctl reads the forms a threshold is written in,

    result[0] OP NUMBER      result OP NUMBER      len(result) > 0 && result[0] OP NUMBER

with OP one of < <= > >= == !=, and refuses anything else with the metric's name. `{{args.NAME}}`
in a query is replaced by `--arg NAME=VALUE`, else by the template's own `args[].value`; an arg
with neither (or taken from a Secret, `valueFrom`) is refused: x0ctl never guesses a query.
Metrics of other providers (web, job, datadog, ...) are listed as skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from x0ctl.errors import UsageError
from x0ctl.rollout.plan import build_gate

_NUMBER = r"(-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)"
_CONDITION = re.compile(r"^\s*(?:len\(result\)\s*>\s*0\s*&&\s*)?result(?:\[0\])?\s*(<=|>=|==|!=|<|>)\s*" + _NUMBER + r"\s*$")
_OPPOSITE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
_ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")
_KINDS = ("AnalysisTemplate", "ClusterAnalysisTemplate")


@dataclass
class ImportedAnalysis:
    """What `x0ctl rollout import-analysis` reports; `to_dict()` is its `-o json` document."""

    source: str
    gates: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # {"template", "metric", "reason"}

    def to_dict(self) -> dict:
        return {"schema": "x0ctl.rollout.import-analysis/v1", "source": self.source, "gates": self.gates,
                "skipped": self.skipped}


def _condition(metric: dict, where: str) -> str:
    success, failure = metric.get("successCondition"), metric.get("failureCondition")
    if success is not None:
        match = _CONDITION.match(str(success))
        if not match:
            raise UsageError(f"{where}: cannot translate successCondition {str(success)!r}: x0ctl gates take "
                             "`result[0] OP NUMBER` (OP one of < <= > >= == !=)")
        return f"{match.group(1)} {match.group(2)}"
    if failure is not None:
        match = _CONDITION.match(str(failure))
        if not match:
            raise UsageError(f"{where}: cannot translate failureCondition {str(failure)!r}: x0ctl gates take "
                             "`result[0] OP NUMBER` (OP one of < <= > >= == !=)")
        return f"{_OPPOSITE[match.group(1)]} {match.group(2)}"
    raise UsageError(f"{where}: no successCondition or failureCondition: nothing to gate on")


def _arguments(template: dict, given: dict[str, str]) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for arg in (template.get("spec") or {}).get("args") or []:
        if isinstance(arg, dict) and arg.get("name"):
            values[str(arg["name"])] = None if "valueFrom" in arg or "value" not in arg else str(arg["value"])
    values.update(given)
    return values


def _substitute(query: str, values: dict, where: str) -> str:
    def one(match: re.Match) -> str:
        name = match.group(1)
        value = values.get(name)
        if value is None:
            raise UsageError(f"{where}: the query uses {{{{args.{name}}}}}, which has no value here: "
                             f"give --arg {name}=VALUE")
        return value

    text = _ARG.sub(one, query)
    if "{{" in text:
        raise UsageError(f"{where}: the query uses a template variable x0ctl cannot fill "
                         f"({text[text.index('{{'):][:60]}...): only {{{{args.NAME}}}} is supported")
    return text


def import_analysis(documents: list, source: str, args: dict[str, str] | None = None) -> ImportedAnalysis:
    """Gates for every Prometheus metric of the AnalysisTemplates among `documents` (parsed YAML)."""
    report = ImportedAnalysis(source)
    templates = [d for d in documents if isinstance(d, dict) and d.get("kind") in _KINDS]
    if not templates:
        raise UsageError(f"{source}: no AnalysisTemplate or ClusterAnalysisTemplate in it")
    names = set()
    for template in templates:
        template_name = str((template.get("metadata") or {}).get("name") or "analysis")
        values = _arguments(template, args or {})
        for metric in (template.get("spec") or {}).get("metrics") or []:
            if not isinstance(metric, dict):
                raise UsageError(f"{source}: {template_name}: a metric is not a mapping")
            metric_name = str(metric.get("name") or "metric")
            where = f"{source}: {template_name}/{metric_name}"
            prometheus = (metric.get("provider") or {}).get("prometheus")
            if not isinstance(prometheus, dict) or not prometheus.get("query"):
                provider = ", ".join(sorted(metric.get("provider") or {})) or "none"
                report.skipped.append({"template": template_name, "metric": metric_name,
                                       "reason": f"provider {provider} is not Prometheus"})
                continue
            gate = {"name": metric_name if metric_name not in names else f"{template_name}-{metric_name}",
                    "kind": "promql", "query": _substitute(str(prometheus["query"]), values, where),
                    "pass_when": _condition(metric, where)}
            if int(metric.get("failureLimit") or 0) > 0:
                gate["consecutive"] = int(metric["failureLimit"]) + 1
            build_gate(gate, len(report.gates), where)  # the same checks a plan's gate gets
            names.add(gate["name"])
            report.gates.append(gate)
    return report


def import_analysis_file(path: str | Path, args: dict[str, str] | None = None) -> ImportedAnalysis:
    import yaml

    from x0ctl.textfile import nested_too_deeply, read_text

    text = read_text(path, "analysis template")
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise UsageError(f"analysis template {path}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:
        raise nested_too_deeply(path, "analysis template") from None
    return import_analysis(documents, str(path), args)
