"""`x0ctl verify`: known-answer tests of the PQC implementation installed on this node."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from x0ctl.cli.app import OutputOption, get_app
from x0ctl.cli.options import BackendOrAllOption
from x0ctl.kat import ALGORITHMS

app = typer.Typer(help="""Verify the PQC implementation on this node against known-answer vectors.

Runs NIST ML-KEM and ML-DSA known-answer tests and the X-Wing vectors against the backend actually installed here (openssl, liboqs, or both), so a broken or substituted implementation is caught before it handles keys. See docs/kat.md.

Examples:
  x0ctl verify kat
  x0ctl verify kat --backend all -o json
""", no_args_is_help=True)


def _complete_algorithms(incomplete: str) -> list[str]:
    done, _, current = incomplete.rpartition(",")
    prefix = f"{done}," if done else ""
    return [prefix + name for name in ALGORITHMS if name.lower().startswith(current.lower())]




@app.command("kat")
def kat(
    ctx: typer.Context,
    algorithms: Annotated[
        str | None,
        typer.Option("--algorithms", "-a", help="Comma-separated subset, e.g. ML-KEM-768,ML-DSA-65,X-Wing.",
                     show_default=False, autocompletion=_complete_algorithms),
    ] = None,
    vectors: Annotated[
        list[Path] | None,
        typer.Option("--vectors", help="Extra vector file (NIST .rsp, ACVP JSON, X-Wing JSON); repeatable.",
                     show_default=False),
    ] = None,
    allow_empty: Annotated[
        bool,
        typer.Option("--allow-empty", help="Exit 0 even when a vector source had no check this backend can run."),
    ] = False,
    backend: BackendOrAllOption = None,
    output: OutputOption = None,
) -> None:
    """Run known-answer tests (ML-KEM, ML-DSA, X-Wing) against the selected backend(s).

    Sources: the compact subset shipped with x0ctl, the full NIST files from the cryptography-vectors package when installed, and any --vectors files. Checks a backend cannot perform are counted as skipped, with the reason, never as passed. Exit 1 on any failure; exit 5 when a source (a --vectors file, or everything the --algorithms filter left) had no check that could run, unless --allow-empty.

    Examples:
      x0ctl verify kat
      x0ctl verify kat --backend all -a ML-KEM-768,ML-DSA-65 -o json
      x0ctl verify kat --vectors ML-KEM-encapDecap-FIPS203.json
    """
    from x0ctl.kat import verify_kat

    app_ = get_app(ctx, output)
    with app_.progress("known-answer tests", total=1) as progress:
        report = verify_kat(app_.backend_for(backend), algorithms, list(vectors or ()), allow_empty=allow_empty,
                            progress=progress)
    app_.emit(report.to_dict(), lambda console: _table(console, report))
    problem = report.problem()
    if problem is not None:
        raise problem


def _table(console, report) -> None:
    from rich.markup import escape
    right = {"justify": "right"}
    table = console.table("algorithm", "backend", "source", ("passed", right), ("failed", right), ("skipped", right),
                          ("time", right), title="Known-answer tests")
    for result in report.results:
        failed = f"[red]{result.failed}[/red]" if result.failed else "0"
        table.add_row(result.algorithm, result.backend, result.source, str(result.passed), failed,
                      str(result.skipped), f"{result.seconds * 1000:.0f} ms")
    console.print(table)
    for result in report.results:
        for reason, count in sorted(result.skip_reasons.items()):
            console.print(f"  skipped {count:>5}  {result.algorithm} \\[{result.backend}]: {escape(reason)}")
        for failure in result.failures[:20]:
            console.print(f"  [red]FAILED[/red] {result.algorithm} \\[{result.backend}] {escape(failure.vector_id)} "
                          f"{failure.check}: {escape(failure.detail)}")
        if len(result.failures) > 20:
            console.print(f"  ... and {len(result.failures) - 20} more failures (use -o json for all)")
    for name in report.empty_sources:
        console.print(f"  [yellow]nothing verified[/yellow] from {escape(name)}")
