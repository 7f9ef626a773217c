"""The shape of the house: layers point down only, and no module imports itself back in a circle.

The graph is built from the source with `ast`, including imports inside functions (a lazy import is
still a dependency: it only moves the circle from start-up to the first call).
"""

from __future__ import annotations

import ast
import doctest
import importlib
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "x0ctl"
UI_LIBRARIES = ("typer", "rich", "click", "x0ctl.cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """Every module `name` imports (absolute names; `from a import b` names a.b when b is a module)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return found


GRAPH = {name: {target for target in imports_of(name) if target in MODULES and target != name} for name in MODULES}


def import_circles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The modules that import each other in a circle: strongly connected components of more than one."""
    order: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    circles = set()

    def visit(node: str) -> None:  # Tarjan's algorithm
        order[node] = lowest[node] = len(order)
        stack.append(node)
        for target in graph[node]:
            if target not in order:
                visit(target)
                lowest[node] = min(lowest[node], lowest[target])
            elif target in stack:
                lowest[node] = min(lowest[node], order[target])
        if lowest[node] == order[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.add(frozenset(component))

    for start in sorted(graph):
        if start not in order:
            visit(start)
    return circles


def test_no_import_circles():
    circles = sorted(" <-> ".join(sorted(c)) for c in import_circles(GRAPH))
    assert not circles, f"import circles: {circles}"


def test_circle_finder_finds_a_planted_circle():
    assert import_circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {frozenset("abc")}
    assert import_circles({"a": {"b"}, "b": set()}) == set()


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith(("x0ctl.cli", "x0ctl.__main__"))))
def test_domain_modules_never_import_the_ui(name):
    offending = sorted(target for target in imports_of(name)
                       if any(target == lib or target.startswith(lib + ".") for lib in UI_LIBRARIES))
    assert not offending, f"{name} imports {offending}: domain packages return data, the CLI renders it"


def test_domain_never_imports_oqs_at_module_level():
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [alias.name for alias in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n == "oqs" or n.startswith("oqs.") for n in names), (
                    f"{name}: a module-level 'import oqs' downloads liboqs when the library is absent")


def _docstring_modules() -> list[str]:
    return sorted(name for name, path in MODULES.items() if ">>>" in path.read_text())


@pytest.mark.parametrize("name", _docstring_modules())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                                      report=True, verbose=False)
    assert tried, f"{name} has '>>>' but no example doctest could find"
    assert failures == 0


DOCS = sorted((REPO / "docs").glob("*.md"))
_PYCON = re.compile(r"```pycon\n(.*?)```", re.S)


@pytest.mark.parametrize("doc", [d for d in DOCS if _PYCON.search(d.read_text())], ids=lambda d: d.name)
def test_docs_examples_run(doc, tmp_path, monkeypatch):
    """Every ```pycon block in docs/ runs as a doctest (in a scratch directory)."""
    monkeypatch.chdir(tmp_path)
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs: dict = {}
    for index, block in enumerate(_PYCON.findall(doc.read_text())):
        test = parser.get_doctest(block, globs, f"{doc.name}[{index}]", str(doc), 0)
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted, f"{doc.name}: no examples found"
    assert result.failed == 0, f"{doc.name}: {result.failed} example(s) failed (output above)"
