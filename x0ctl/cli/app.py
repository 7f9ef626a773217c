"""The one place that renders output and maps errors to exit codes.

Every command gets an `App` (the small object hatch passes down): the resolved global options
(output format, quiet, colour, backend), `emit()` for results as a table or JSON, `warn()`, and
`progress()`. Commands raise `x0ctl.errors.X0ctlError` subclasses; `X0ctlGroup.main` turns them
into one line on stderr and the documented exit code, whether x0ctl runs from the console script
or from a test's CliRunner.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from x0ctl.errors import ExitCode, UsageError, X0ctlError

try:  # typer >= 0.20 vendors click
    from typer import _click as click
except ImportError:  # pragma: no cover - older typer depends on click
    import click

OUTPUT_FORMATS = ("table", "json")
FOLD_WIDTH = 100  # piped: free-text columns wrap here; ids and other columns are never cut
PIPED_WIDTH = 4096  # columns of a table written to a pipe or file: wide enough that nothing is cut


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def print_error(message: str) -> None:
    sys.stderr.write(f"x0ctl: error: {_one_line(message)}\n")
    sys.stderr.flush()


def print_warning(message: str) -> None:
    sys.stderr.write(f"x0ctl: warning: {_one_line(message)}\n")
    sys.stderr.flush()


@dataclass
class App:
    output: str = "table"
    quiet: bool = False
    color: bool = True
    backend: str = "auto"
    _console: Any = field(default=None, repr=False)

    @property
    def json(self) -> bool:
        return self.output == "json"

    def backend_for(self, command_backend: str | None) -> str:
        """A command's own --backend when given, else the global one."""
        return command_backend or self.backend

    def with_output(self, output: str | None) -> App:
        """Apply a command-level `--output`, which wins over the global one."""
        if output is not None:
            self.output = validate_output(output)
        return self

    @property
    def console(self):
        if self._console is None:
            from rich.console import Console

            class PipeConsole(Console):
                def on_broken_pipe(self) -> None:  # rich exits 1 here; x0ctl exits 141 (see X0ctlGroup.main)
                    raise BrokenPipeError

            # Piped output is for programs: never shrink a column (ids would be cut with an ellipsis).
            width = None if sys.stdout.isatty() else PIPED_WIDTH
            self._console = PipeConsole(no_color=not self.color, highlight=False, soft_wrap=False, width=width)
        return self._console

    def emit(self, data: dict, table: Callable[[Any], None] | None = None, ids: list[str] | None = None) -> None:
        """Print a result: JSON (the stable schema) or, for people, `table(console)`.

        A list command passes `ids`: with --quiet they are printed one per line (like `docker ps -q`).
        """
        if ids is not None and self.quiet and not self.json:
            sys.stdout.write("".join(f"{item}\n" for item in ids))
            sys.stdout.flush()
        elif self.json:
            sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
            sys.stdout.flush()
        elif not self.quiet:
            if table is not None:
                table(_LazyConsole(self))
            else:
                self.console.print_json(json.dumps(data, default=str))

    def info(self, message: str) -> None:
        """Human-facing notes on stderr, so stdout stays parseable; silenced by --quiet."""
        if not self.quiet:
            sys.stderr.write(f"{message}\n")

    def warn(self, message: str) -> None:
        print_warning(message)

    @contextlib.contextmanager
    def progress(self, description: str, total: int) -> Iterator[Callable[[int, int], None]]:
        """A progress bar on stderr when it is a terminal; a no-op callback otherwise."""
        if self.quiet or not sys.stderr.isatty() or total <= 0:
            yield lambda done, _total: None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True, no_color=not self.color)
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=True,
        ) as bar:
            task = bar.add_task(description, total=total)
            yield lambda done, new_total: bar.update(task, completed=done, total=new_total)


class _LazyConsole:
    """Hands the rich Console to a renderer only when it is used (rich costs ~40 ms to import)."""

    def __init__(self, app: App) -> None:
        self._app = app

    def __getattr__(self, name: str):
        return getattr(self._app.console, name)

    def table(self, *columns, title: str | None = None, **options):
        """Every x0ctl table looks alike: title on the left; columns by name or as (name, {rich column options}).

        Piped, the console never shrinks a column (ids stay whole); free-text columns (overflow
        "fold") still wrap at FOLD_WIDTH so one long detail does not make every line hundreds wide.
        """
        from rich.table import Table

        piped = not sys.stdout.isatty()
        table = Table(title=title, title_justify="left", **options)
        for column in columns:
            name, column_options = (column, {}) if isinstance(column, str) else column
            if piped and column_options.get("overflow") == "fold":
                column_options = {"max_width": FOLD_WIDTH, **column_options}
            table.add_column(name, **column_options)
        return table


def validate_output(value: str) -> str:
    value = value.strip().lower()
    if value not in OUTPUT_FORMATS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(OUTPUT_FORMATS)}", param_hint="--output")
    return value


def color_allowed(no_color_flag: bool) -> bool:
    # https://no-color.org: any non-empty NO_COLOR disables colour.
    return not no_color_flag and not os.environ.get("NO_COLOR")


def get_app(ctx: typer.Context, output: str | None = None) -> App:
    root = ctx.find_root()
    if not isinstance(root.obj, App):
        root.obj = App()
    return root.obj.with_output(output)


OutputOption = Annotated[
    str | None,
    typer.Option(
        "--output", "-o", help="Output format: table or json (overrides the global --output).",
        show_default=False, metavar="table|json",
    ),
]


def walk_commands(command, path: tuple[str, ...] = ()):
    """(path, click command) for the root and every command and group below it (loads lazy groups)."""
    yield path, command
    if isinstance(command, X0ctlGroup):
        for name in LAZY_GROUPS:
            command.get_command(None, name)
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk_commands(sub, (*path, name))


def option_keys(root) -> dict[str, list[tuple[tuple[str, ...], object]]]:
    """Profile key (a long option name without dashes) -> every (command path, param) taking it."""
    keys: dict[str, list] = {}
    for path, command in walk_commands(root):
        for param in command.params:
            for opt in getattr(param, "opts", ()):
                if opt.startswith("--") and opt not in ("--help", "--profile"):
                    keys.setdefault(opt[2:], []).append((path, param))
    return keys


def _prescan_profile(args: list[str]) -> str | None:
    """--profile must be known before parsing: it supplies defaults for every option."""
    from x0ctl.config import PROFILE_ENV

    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--profile" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--profile="):
            return arg.split("=", 1)[1]
    return os.environ.get(PROFILE_ENV) or None


def profile_default_map(root, args: list[str]) -> dict | None:
    """Click's default_map from the selected profile: flag > env > profile > built-in default."""
    from x0ctl.config import load_config

    keys: dict = {}
    config = load_config(known_keys=lambda: set(keys.update(option_keys(root)) or keys))
    if config is None:
        if _prescan_profile(args):
            raise UsageError(f"--profile/X0CTL_PROFILE given but there is no config file ({_config_path()})")
        return None
    profile = config.select(_prescan_profile(args))
    if profile is None:
        return None
    default_map: dict = {}
    for key, value in profile.settings.items():
        targets = keys[key]
        # A global option (output, backend) is set once at the root; the per-command copies of it
        # only exist to accept the flag after the command name, and must not shadow a global flag.
        if any(path == () for path, _ in targets):
            targets = [(path, param) for path, param in targets if path == ()]
        for path, param in targets:
            node = default_map
            for part in path:
                node = node.setdefault(part, {})
            node[param.name] = value
    return default_map


def _config_path():
    from x0ctl.config import config_path

    return config_path()


def _built_commands(command):
    """The command and what is already built below it, without loading lazy groups."""
    yield command
    for sub in getattr(command, "commands", {}).values():
        yield from _built_commands(sub)


PANEL_ORDER = ("Lifecycle", "Verify and diagnose", "Operate the mesh", "About")


def keep_example_layout(root) -> None:
    """Mark the Examples block, and any other indented paragraph, so click prints it as written.

    Help is rendered by click's plain formatter (rich costs ~190 ms to import on every --help),
    which rewraps paragraphs unless they start with click's no-rewrap marker. Everything from an
    "Examples:" heading on is a command line, even when written as one-line paragraphs.
    """
    for command in _built_commands(root):
        text = command.help
        if not text or "\b" in text:
            continue
        paragraphs = text.split("\n\n")
        in_examples = False
        for index, paragraph in enumerate(paragraphs):
            lines = paragraph.strip("\n").splitlines()
            in_examples = in_examples or (bool(lines) and lines[0].lstrip().startswith("Example"))
            if in_examples or (len(lines) > 1 and any(line.startswith((" ", "\t")) for line in lines[1:])):
                paragraphs[index] = "\b\n" + paragraph.strip("\n")
        command.help = "\n\n".join(paragraphs)


@dataclass(frozen=True)
class LazyGroup:
    """A command group whose module is imported, and whose click tree is built, only when used.

    Building Typer's click tree costs ~3 ms per command (type-hint evaluation); loading every
    group on every run would put all of it on `x0ctl --help` and `x0ctl version`.
    """

    module: str
    panel: str
    summary: str


LAZY_GROUPS: dict[str, LazyGroup] = {}


def _set_quiet(ctx, _param, value: bool) -> None:
    root = ctx.find_root()
    if value and isinstance(root.obj, App):
        root.obj.quiet = True


_ENUM_METAVAR = re.compile(r"^[a-z0-9][a-z0-9-]*(?:\|[a-z0-9][a-z0-9-]*)+$")


def _choices_completion(choices: tuple[str, ...]):
    def complete(_ctx, _param, incomplete: str):
        from typer._completion_classes import CompletionItem

        return [CompletionItem(choice) for choice in choices if choice.startswith(incomplete)]
    return complete


def _no_completion(_ctx, _param, _incomplete: str) -> list:
    """No candidates: bash (-o default), zsh (_files) and fish then complete file names themselves."""
    return []


def complete_values(command) -> None:
    """Shell completion for option values, in every command below `command`:

    an option whose metavar lists its values (`kem|sig|all`, `table|json`) completes those values
    (and only those); a Path option completes file names, each shell's own way (x0ctl offers nothing,
    so bash's `-o default`, zsh's `_files` and fish's file completion take over).
    """
    for sub in _built_commands(command):
        for param in sub.params:
            if getattr(param, "_custom_shell_complete", None) is not None:
                continue
            metavar = getattr(param, "metavar", None) or ""
            if _ENUM_METAVAR.match(metavar):
                param._custom_shell_complete = _choices_completion(tuple(metavar.split("|")))
            elif type(param.type).__name__ == "Path":
                param._custom_shell_complete = _no_completion


def accept_quiet_after_the_command(command) -> None:
    """Every command takes `-q/--quiet` after its name too, as it takes `-o` (the global flag wins nothing)."""
    for sub in _built_commands(command):
        if hasattr(sub, "commands") or any("--quiet" in getattr(p, "opts", ()) for p in sub.params):
            continue
        from typer.core import TyperOption

        sub.params.append(TyperOption(param_decls=["--quiet", "-q"], is_flag=True, expose_value=False, callback=_set_quiet,
                                       help="Only errors and requested data (list commands: just the ids)."))


class StdoutClosed(Exception):  # noqa: N818 - a condition, not a failure
    """The reader of stdout went away. Not an OSError: click would turn that into a silent exit 1."""


class X0ctlGroup(TyperGroup):
    """Root command: one error path and exit codes, for the console script and CliRunner alike."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise StdoutClosed from None

    def list_commands(self, ctx) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in LAZY_GROUPS if name not in self.commands)]

    def get_command(self, ctx, name: str):
        if name not in self.commands and name in LAZY_GROUPS:
            import importlib

            from typer.main import get_group

            lazy = LAZY_GROUPS[name]
            typer_app = importlib.import_module(lazy.module).app
            typer_app.rich_markup_mode = None  # plain help, like the root (no rich import)
            group = get_group(typer_app)  # a group even when it holds one command (verify kat)
            group.name = name
            group.rich_help_panel = lazy.panel
            keep_example_layout(group)
            accept_quiet_after_the_command(group)
            complete_values(group)
            self.commands[name] = group
        return super().get_command(ctx, name)

    def format_commands(self, ctx, formatter) -> None:
        """Commands grouped by lifecycle, in a fixed order, like kubectl's help."""
        panels: dict[str, list[tuple[str, str]]] = {}
        for name in self.list_commands(ctx):
            lazy = LAZY_GROUPS.get(name)
            if lazy is not None and name not in self.commands:
                panels.setdefault(lazy.panel, []).append((name, lazy.summary))
                continue
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            panel = getattr(command, "rich_help_panel", None) or "Other commands"
            panels.setdefault(panel, []).append((name, command.get_short_help_str(limit=formatter.width - 16)))
        for panel in sorted(panels, key=lambda p: PANEL_ORDER.index(p) if p in PANEL_ORDER else len(PANEL_ORDER)):
            with formatter.section(panel):
                formatter.write_dl(panels[panel])

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # noqa: ARG002
        try:
            args = list(sys.argv[1:] if args is None else args)
            keep_example_layout(self)
            if os.environ.get("_X0CTL_COMPLETE"):
                from x0ctl.cli.completion import enable_runtime_completion

                enable_runtime_completion()
            for name in list(self.commands):
                if name not in LAZY_GROUPS:
                    accept_quiet_after_the_command(self.commands[name])
            complete_values(self)
            default_map = profile_default_map(self, args)
            if default_map is not None:
                extra["default_map"] = default_map
            result = super().main(args=args, prog_name=prog_name or "x0ctl", complete_var=complete_var,
                                  standalone_mode=False, **extra)
            code = result if isinstance(result, int) else ExitCode.OK
            sys.stdout.flush()  # a reader that went away is noticed here, not by the interpreter at exit
        except X0ctlError as exc:
            print_error(str(exc))
            code = exc.exit_code
        except click.exceptions.NoArgsIsHelpError as exc:
            sys.stdout.write(exc.ctx.get_help() + "\n")
            code = ExitCode.USAGE
        except click.exceptions.UsageError as exc:
            print_error(exc.format_message() + _usage_hint(exc))
            code = ExitCode.USAGE
        except click.exceptions.ClickException as exc:
            print_error(exc.format_message())
            code = exc.exit_code
        except typer.Abort:
            print_error("aborted")
            code = ExitCode.INTERRUPTED
        except KeyboardInterrupt:
            print_error("interrupted")
            code = ExitCode.INTERRUPTED
        except (BrokenPipeError, StdoutClosed):
            # The reader went away (`x0ctl ... | head`): no message, and 141 like any tool killed by SIGPIPE,
            # so a `pipefail` runbook never reads it as 1 (a breach, a rollback).
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # unflushed bytes go nowhere
            code = ExitCode.BROKEN_PIPE
        except Exception as exc:  # a bug: one line, no traceback (it could carry secrets)
            if os.environ.get("X0CTL_DEBUG"):
                raise
            print_error(f"internal error: {type(exc).__name__}: {exc} (set X0CTL_DEBUG=1 for a traceback)")
            code = ExitCode.INTERNAL
        sys.exit(int(code))


def _usage_hint(exc) -> str:
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return ""
    return f" (see '{ctx.command_path} --help')"
