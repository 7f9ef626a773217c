"""The `x0ctl` command tree. Only typer is imported here: every group loads its core lazily."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from x0ctl import __version__
from x0ctl.cli import completion, doctor
from x0ctl.cli.app import LAZY_GROUPS, App, LazyGroup, OutputOption, X0ctlGroup, color_allowed, get_app, print_warning, validate_output
from x0ctl.cli.options import normalize_backend
from x0ctl.errors import UsageError

HELP = """Operator's toolkit for the x0tta6bl4 post-quantum mesh.

Keys, hybrid ML-KEM-768 + X25519 handshakes, ML-DSA-65 signatures, known-answer tests, Byzantine quorum simulation, SLOs from Prometheus and SLO-gated canary rollouts.

Exit codes: 0 ok, 1 check failed, 2 usage or bad input, 3 environment or dependency missing, 4 I/O or remote failure, 5 no data, 6 rollout paused.

Example:  x0ctl doctor && x0ctl verify kat
"""

app = typer.Typer(
    name="x0ctl",
    cls=X0ctlGroup,
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # tracebacks with locals could print key material
    rich_markup_mode=None,  # plain help: rich costs ~190 ms to import, paid on every --help
    # Help uses the terminal width up to 120 columns (click stops at 80 by default).
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
)

LIFECYCLE, VERIFY, OPERATE, ABOUT = "Lifecycle", "Verify and diagnose", "Operate the mesh", "About"

# Groups are imported and built only when used: see LazyGroup.
LAZY_GROUPS.update({
    "keys": LazyGroup("x0ctl.cli.keys", LIFECYCLE, "Node keys: generate, rotate, back up, restore, verify."),
    "handshake": LazyGroup("x0ctl.cli.handshake", VERIFY, "Hybrid PQ handshake: self-test, serve, probe a peer."),
    "verify": LazyGroup("x0ctl.cli.verify", VERIFY, "Known-answer tests of the PQC implementation on this node."),
    "quorum": LazyGroup("x0ctl.cli.quorum", OPERATE, "Byzantine control-plane quorum simulation."),
    "slo": LazyGroup("x0ctl.cli.slo", OPERATE, "SLOs, error budgets and burn rates from Prometheus."),
    "rollout": LazyGroup("x0ctl.cli.rollout", OPERATE, "Staged canary rollouts gated on SLOs, with rollback."),
    "config": LazyGroup("x0ctl.cli.config", ABOUT, "Configuration profiles and where each setting comes from."),
})
app.command("completion", rich_help_panel=ABOUT)(completion.completion)
app.command("doctor", rich_help_panel=VERIFY, help=doctor.HELP, short_help=doctor.SHORT)(doctor.doctor)


@app.callback()
def main(
    ctx: typer.Context,
    output: Annotated[
        str, typer.Option("--output", "-o", envvar="X0CTL_OUTPUT", help="Output format: table or json.",
                          metavar="table|json")
    ] = "table",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and requested data; no tables, no progress.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour (NO_COLOR is honoured too).")] = False,
    backend: Annotated[
        str, typer.Option("--backend", envvar="X0CTL_BACKEND", help="PQC backend: auto, openssl or liboqs.",
                          metavar="auto|openssl|liboqs", autocompletion=lambda: ["auto", "openssl", "liboqs"],
                          callback=lambda value: normalize_backend(value, allow_all=True))
    ] = "auto",
    profile: Annotated[
        str | None, typer.Option("--profile", envvar="X0CTL_PROFILE", show_default=False,
                                 help="Configuration profile from $XDG_CONFIG_HOME/x0ctl/config.yaml.")
    ] = None,
) -> None:
    ctx.obj = App(output=validate_output(output), quiet=quiet, color=color_allowed(no_color), backend=backend)
    from x0ctl.pqc import guard

    with contextlib.suppress(UsageError):  # an invalid value is reported when a backend is chosen
        warning = guard.state().warning
        if warning:
            print_warning(warning)


@app.command("version", rich_help_panel=ABOUT)
def version(
    ctx: typer.Context,
    full: Annotated[bool, typer.Option("--full", help="Also the provenance that -o json always reports.")] = False,
    output: OutputOption = None,
) -> None:
    """Print the x0ctl version; with --full or -o json, what this install is made of.

    Provenance: the git commit x0ctl was built from, Python, cryptography and its OpenSSL, liboqs-python and the liboqs library found (path, version), and whether the installed packages match the runtime lock shipped with x0ctl. See docs/deploy.md.

    Examples:
      x0ctl version
      x0ctl version --full
      x0ctl version -o json | jq .lock.matches
    """
    import platform

    current: App = get_app(ctx, output)
    if not full and not current.json:
        # Plain print, not rich, and no provenance: `x0ctl version` is a start-up benchmark target.
        print(f"x0ctl {__version__} (Python {platform.python_version()})")
        return
    from x0ctl.provenance import collect

    data = collect().to_dict()
    current.emit(data, lambda console: _provenance_table(console, data))


def _provenance_table(console, data: dict) -> None:
    commit = data["git_commit"] or "unknown (not built from a checkout)"
    if data["git_commit"] and data["git_dirty"]:
        commit += " (with uncommitted changes)"
    crypto, oqs, lock = data["cryptography"], data["liboqs"], data["lock"]
    if lock["matches"]:
        lock_text = f"matches {lock['lock']} ({lock['checked']} packages)"
    elif lock["matches"] is None:
        lock_text = f"not checked: {lock['error']}"
    else:
        differences = [f"{m['name']} {m['installed']} (locked {m['locked']})" for m in lock["mismatched"]]
        differences += [f"{name} missing" for name in lock["missing"]]
        lock_text = "DIFFERS from the lock: " + ", ".join(differences)
    table = console.table(("what", {"style": "bold"}), ("value", {"overflow": "fold"}), show_header=False, box=None)
    for name, value in (
        ("x0ctl", f"{data['x0ctl']}, commit {commit}"),
        ("python", f"{data['python']} ({data['python_implementation']}, {data['platform']}) {data['python_executable']}"),
        ("cryptography", f"{crypto['version']}, {crypto['openssl']}" if crypto["version"] else crypto["error"]),
        ("liboqs-python", data["liboqs_python"]["version"] or "not installed"),
        ("liboqs", f"{oqs['version']} at {oqs['path']}" if oqs["found"] else f"not found: {oqs['reason']}"),
        ("lock", lock_text),
    ):
        table.add_row(name, value)
    console.print(table)


def run() -> None:
    app(prog_name="x0ctl")
