"""Every command's --help: a one-line summary, a description, and examples that still run.

The whole tree is walked (lazy groups included), so a command added later is held to the same
standard without touching this file. Example lines are parsed and checked against the tree: a
renamed command or option breaks this test instead of the operator's runbook.
"""

from __future__ import annotations

import re
import shlex

import pytest
import typer.main

from x0ctl.cli.app import PANEL_ORDER, walk_commands

SUMMARY_MAX = 150  # a summary is one sentence on one line, not a paragraph

# Known gaps in other modules' help, each with what is missing. strict=True turns the fix into an
# XPASS failure, so the entry is removed together with the gap.
MISSING_HELP: dict[str, str] = {}


def _tree():
    from x0ctl.cli.main import app

    return typer.main.get_command(app)


ROOT = _tree()
COMMANDS = {" ".join(path): command for path, command in walk_commands(ROOT) if path}


def _cases():
    for name in sorted(COMMANDS):
        marks = [pytest.mark.xfail(strict=True, reason=MISSING_HELP[name])] if name in MISSING_HELP else []
        yield pytest.param(name, marks=marks, id=name)


def help_parts(command) -> tuple[str, str, list[str]]:
    """(summary, description, example lines) of a command; an explicit short_help is the summary."""
    summary, description, examples = split_help(command.help or "")
    if command.short_help:
        description = f"{summary} {description}".strip()
        summary = command.short_help
    return summary, description, examples


def split_help(text: str) -> tuple[str, str, list[str]]:
    """(summary, description, example lines) of a help text."""
    text = text.replace("\b", "")
    match = re.search(r"^Examples?:", text, flags=re.MULTILINE)
    body, examples = (text[:match.start()], text[match.start():]) if match else (text, "")
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
    first = paragraphs[0] if paragraphs else ""
    sentence = re.match(r"(.+?[.!?])(\s+|$)", first, flags=re.DOTALL)
    summary = sentence.group(1) if sentence else first
    description = " ".join([first[len(summary):].strip(), *paragraphs[1:]]).strip()
    example_lines = []
    for line in examples.splitlines():
        line = re.sub(r"^Examples?:", "", line).strip()
        if line.startswith("x0ctl ") or " x0ctl " in f" {line}":
            example_lines.append(line)
    return summary, description, example_lines


def resolve_example(line: str) -> list[str]:
    """Problems with one example line: each `x0ctl ...` in it must name a command and its options."""
    tokens = shlex.shlex(line, posix=True, punctuation_chars=";&|<>()")
    tokens.whitespace_split = True
    words = list(tokens)
    problems = []
    for start, word in enumerate(words):
        if word != "x0ctl":
            continue
        command, path, index = ROOT, [], start + 1
        options = {opt for param in ROOT.params for opt in (*param.opts, *param.secondary_opts)}
        while index < len(words) and not _is_punctuation(words[index]):
            word = words[index]
            if word.startswith("-"):
                flag = word.split("=", 1)[0]
                known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
                if flag not in known | (options if command is ROOT else set()) | {"-h", "--help"}:
                    problems.append(f"{line!r}: {' '.join(['x0ctl', *path])} has no option {flag}")
                param = next((p for p in command.params if flag in (*p.opts, *p.secondary_opts)), None)
                if param is not None and not param.is_flag and not param.count and "=" not in word:
                    index += 1  # the option's value
            elif hasattr(command, "commands"):
                sub = command.get_command(None, word)
                if sub is None:
                    problems.append(f"{line!r}: {' '.join(['x0ctl', *path])} has no command {word!r}")
                    break
                command, path = sub, [*path, word]
            index += 1
        if hasattr(command, "commands") and command is not ROOT:
            problems.append(f"{line!r}: {' '.join(['x0ctl', *path])} is a group, not a command")
    return problems


def _is_punctuation(word: str) -> bool:
    return bool(word) and set(word) <= set(";&|<>()")


def test_the_whole_tree_is_walked():
    # The lazy groups must all be loaded, or the checks below would silently cover less.
    for group in ("keys", "handshake", "verify", "quorum", "slo", "rollout", "config"):
        assert group in COMMANDS
        assert any(name.startswith(f"{group} ") for name in COMMANDS), group
    assert {"doctor", "version", "completion", "verify kat", "slo check"} <= set(COMMANDS)


@pytest.mark.parametrize("name", list(_cases()))
def test_help_has_summary_description_and_example(name):
    summary, description, examples = help_parts(COMMANDS[name])
    assert summary, f"x0ctl {name}: no summary"
    assert "\n" not in summary and len(summary) <= SUMMARY_MAX, f"x0ctl {name}: summary is not one line: {summary!r}"
    assert description, f"x0ctl {name}: no description after the summary {summary!r}"
    assert examples, f"x0ctl {name}: no 'Examples:' block with an 'x0ctl ...' line"
    assert any(line.split()[:1 + len(name.split())] == ["x0ctl", *name.split()] or f"x0ctl {name}" in line
               for line in examples), f"x0ctl {name}: no example runs this command: {examples}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_examples_name_real_commands_and_options(name):
    _, _, examples = split_help(COMMANDS[name].help or "")
    problems = [problem for line in examples for problem in resolve_example(line)]
    assert not problems, "\n".join(problems)


def test_example_checker_catches_drift():
    assert resolve_example("x0ctl verify kat --backend all -a ML-KEM-768 -o json") == []
    assert resolve_example("x0ctl -o json doctor | jq .ok && x0ctl slo check --prometheus=http://p:9090") == []
    assert resolve_example("x0ctl verify kats")[0].endswith("has no command 'kats'")
    assert resolve_example("x0ctl doctor --measure-twice")[0].endswith("has no option --measure-twice")
    assert resolve_example("x0ctl slo")[0].endswith("is a group, not a command")


def test_split_help_separates_the_parts():
    summary, description, examples = split_help(
        "Do a thing. It matters.\n\nMore words.\n\nExamples:\n  x0ctl thing\n  x0ctl thing -o json | jq .\n")
    assert summary == "Do a thing."
    assert description == "It matters. More words."
    assert examples == ["x0ctl thing", "x0ctl thing -o json | jq ."]


def test_root_help_groups_commands_by_lifecycle(cli):
    result = cli("--help")
    assert result.exit_code == 0, result.stderr
    headings = [line.rstrip(":") for line in result.stdout.splitlines() if line and not line[0].isspace()
                and line.endswith(":")]
    panels = [heading for heading in headings if heading in PANEL_ORDER]
    assert panels == list(PANEL_ORDER), headings
    assert "Commands" not in headings and "Other commands" not in headings, headings
    sections = _sections(result.stdout)
    assert "keys" in sections["Lifecycle"]
    assert {"doctor", "verify", "handshake"} <= set(sections["Verify and diagnose"])
    assert {"quorum", "slo", "rollout"} <= set(sections["Operate the mesh"])
    assert {"version", "completion", "config"} <= set(sections["About"])
    listed = {name for names in sections.values() for name in names}
    top_level = {name for name in COMMANDS if " " not in name}
    assert listed == top_level


def _sections(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line and not line[0].isspace():
            current = line.rstrip(":") if line.rstrip(":") in PANEL_ORDER else None
        elif current and line.startswith("  ") and line.strip() and not line.startswith("   "):
            sections.setdefault(current, []).append(line.split()[0])
    return sections


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_renders_through_the_cli(cli, name):
    result = cli(*name.split(), "--help")
    assert result.exit_code == 0, result.stderr
    summary, _, examples = help_parts(COMMANDS[name])
    assert summary.split()[0] in result.stdout
    shown = [line.strip() for line in result.stdout.splitlines()]
    for line in examples:  # printed as written: click must not rewrap the Examples block
        assert any(shown_line.endswith(line) for shown_line in shown), (line, result.stdout)
