"""Where `x0ctl rollout` keeps its state: `--state DIR|etcd://...`, etcd's TLS/auth options, `state migrate`.

The etcd connection options belong to the `rollout` group (`x0ctl rollout --etcd-cacert FILE status`),
to their environment variables and to profiles; `--state` is on every rollout command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from x0ctl.cli.app import OutputOption, click, get_app
from x0ctl.errors import UsageError

ETCD_META = "x0ctl.rollout.etcd"

StateOption = Annotated[
    str | None,
    typer.Option("--state", "--state-dir", envvar=["X0CTL_STATE", "X0CTL_STATE_DIR"], show_default=False,
                 metavar="DIR|URL",
                 help="Where journals and locks live: a directory (default $XDG_STATE_HOME/x0ctl), or "
                      "etcd://HOST:PORT[,HOST:PORT...][/PREFIX] shared by every machine (etcds:// for TLS)."),
]


def group_options(
    ctx: typer.Context,
    etcd_cacert: Annotated[Path | None, typer.Option("--etcd-cacert", envvar="X0CTL_ETCD_CACERT", metavar="FILE",
                                                     show_default=False,
                                                     help="CA bundle that signed etcd's certificate (turns TLS on).")] = None,
    etcd_cert: Annotated[Path | None, typer.Option("--etcd-cert", envvar="X0CTL_ETCD_CERT", metavar="FILE",
                                                   show_default=False, help="Client certificate for etcd.")] = None,
    etcd_key: Annotated[Path | None, typer.Option("--etcd-key", envvar="X0CTL_ETCD_KEY", metavar="FILE",
                                                  show_default=False, help="Client certificate's key.")] = None,
    etcd_user: Annotated[str | None, typer.Option("--etcd-user", envvar="X0CTL_ETCD_USER", show_default=False, metavar="NAME",
                                                  help="etcd user; the password comes from --etcd-password-file "
                                                       "or X0CTL_ETCD_PASSWORD.")] = None,
    etcd_password_file: Annotated[Path | None, typer.Option("--etcd-password-file", envvar="X0CTL_ETCD_PASSWORD_FILE",
                                                            metavar="FILE", show_default=False,
                                                            help="File whose first line is the etcd password.")] = None,
    lease_ttl: Annotated[str, typer.Option("--lease-ttl", envvar="X0CTL_ETCD_LEASE_TTL", metavar="DURATION",
                                           help="etcd lease of a running rollout: a dead owner's rollout shows as "
                                                "orphaned after this long (at least 2s).")] = "30s",
) -> None:
    """Staged canary rollouts gated on SLOs, with automatic rollback."""
    from x0ctl.rollout.plan import PlanError, parse_duration
    from x0ctl.rollout.state import EtcdOptions

    try:
        ttl = parse_duration(lease_ttl, "--lease-ttl")
    except PlanError as exc:
        raise UsageError(str(exc)) from None
    if not 2 <= ttl <= 3600:
        raise UsageError(f"--lease-ttl {lease_ttl}: must be between 2s and 1h")
    ctx.meta[ETCD_META] = EtcdOptions(cacert=etcd_cacert, cert=etcd_cert, key=etcd_key, user=etcd_user,
                                      password_file=etcd_password_file, lease_ttl=ttl)


def open_store(spec: str | Path | None):
    """The state store a command names (--state / X0CTL_STATE / profile), with the group's etcd options."""
    from x0ctl.rollout.state import open_state

    import importlib

    ctx = importlib.import_module(f"{click.__name__}.globals").get_current_context(silent=True)
    options = ctx.meta.get(ETCD_META) if ctx is not None else None
    return open_state(str(spec) if spec is not None else None, options)


STATE_HELP = """Move rollout state between a local directory and etcd.

Rollouts started with local state (the default directory) can be continued, watched and taken over from other machines once their journals are in etcd. See docs/rollout-etcd.md.

Examples:
  x0ctl rollout state migrate --from ~/.local/state/x0ctl --to etcd://etcd-1:2379/x0ctl
"""

state_app = typer.Typer(help=STATE_HELP, no_args_is_help=True)


@state_app.command("migrate")
def migrate_command(
    ctx: typer.Context,
    source: Annotated[Path, typer.Option("--from", metavar="DIR", help="Local state directory to copy from.")],
    destination: Annotated[str, typer.Option("--to", metavar="URL", help="etcd://HOST:PORT[/PREFIX] to copy to.")],
    rollout_ids: Annotated[list[str] | None, typer.Argument(metavar="[ID]...", show_default=False,
                                                            help="Only these rollouts (default: all).")] = None,
    output: OutputOption = None,
) -> None:
    """Copy local rollout journals into etcd, each read back and compared event by event.

    Journals already in etcd and identical are left alone; a different journal under the same id is reported and not touched; a rollout a local process is running is skipped. The local files stay where they are. Exit: 0 everything copied or identical, 1 a conflict or a skipped rollout, 4 etcd unreachable.

    Examples:
      x0ctl rollout state migrate --from ~/.local/state/x0ctl --to etcd://etcd-1:2379,etcd-2:2379/x0ctl
    """
    current = get_app(ctx, output)
    from x0ctl.rollout.state import is_etcd, migrate

    if not is_etcd(destination):
        raise UsageError("--to must be an etcd://HOST:PORT[/PREFIX] URL")
    store = open_store(destination)
    try:
        result = migrate(source, store, rollout_ids=rollout_ids or None)
    finally:
        store.close()

    def table(console) -> None:
        grid = console.table("id", "target", "status", "events", "result", ("reason", {"overflow": "fold"}))
        for item in result["rollouts"]:
            grid.add_row(item["id"], item["target"], item["status"], str(item["events"]), item["result"],
                         item["reason"] or "")
        console.print(grid)
        console.print(f"{result['copied']} copied, {result['identical']} already there, "
                      f"{result['problems']} not copied -> {result['to']}")

    current.emit(result, table)
    if result["problems"]:
        raise typer.Exit(1)
