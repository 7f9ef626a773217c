"""`x0ctl config`: named profiles and where each effective setting comes from."""

from __future__ import annotations

import os

import typer

from x0ctl.cli.app import OutputOption, get_app, option_keys

app = typer.Typer(help="""Configuration profiles and where each setting comes from.

Profiles in $XDG_CONFIG_HOME/x0ctl/config.yaml (or X0CTL_CONFIG) set any option of any command by its long name: prometheus, keystore, backend, output, token-file and so on. Precedence: flag > environment > profile > default. Select one with --profile or X0CTL_PROFILE. See docs/config.md.

Examples:
  x0ctl config show
  x0ctl --profile prod config show -o json
""", no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context, output: OutputOption = None) -> None:
    """Show the config file, the selected profile and each setting with its source (secrets masked).

    Precedence: flag > environment variable > profile > built-in default.

    Examples:
      x0ctl config show
      x0ctl --profile prod config show -o json
    """
    from x0ctl.config import PROFILE_ENV, config_path, load_config, mask

    app_ = get_app(ctx, output)
    root = ctx.find_root()
    keys = option_keys(root.command)
    config = load_config(known_keys=lambda: set(keys))
    profile_flag = root.params.get("profile")
    selected = profile_flag or os.environ.get(PROFILE_ENV) or (config.default_profile if config else None)
    how = ("--profile" if profile_flag and root.get_parameter_source("profile").name == "COMMANDLINE"
           else PROFILE_ENV if os.environ.get(PROFILE_ENV) else "default-profile" if selected else None)
    profile = config.select(selected) if config else None

    settings = []
    for name in ("output", "backend"):
        source = root.get_parameter_source(name)
        origin = {"COMMANDLINE": "flag", "ENVIRONMENT": "env", "DEFAULT_MAP": "profile"}.get(source.name, "default")
        settings.append({"key": name, "value": root.params[name], "source": origin})
    for key, value in sorted((profile.settings if profile else {}).items()):
        if key in ("output", "backend"):
            continue
        envvars = {env for _, param in keys[key] for env in _envvars(param)}
        from_env = next((env for env in sorted(envvars) if os.environ.get(env)), None)
        shown = os.environ[from_env] if from_env else value
        settings.append({"key": key, "value": mask(key, shown), "source": f"env {from_env}" if from_env else "profile",
                         "line": profile.lines.get(key)})
    data = {
        "config_file": str(config.path if config else config_path()),
        "exists": config is not None,
        "profile": selected,
        "profile_selected_by": how,
        "profiles": sorted(config.profiles) if config else [],
        "settings": settings,
    }
    app_.emit(data, lambda console: _table(console, data))


def _envvars(param) -> list[str]:
    envvar = getattr(param, "envvar", None)
    if not envvar:
        return []
    return [envvar] if isinstance(envvar, str) else list(envvar)


def _table(console, data: dict) -> None:
    exists = "" if data["exists"] else " (not present)"
    console.print(f"config file: {data['config_file']}{exists}")
    if data["profile"]:
        console.print(f"profile: {data['profile']} (selected by {data['profile_selected_by']})")
    table = console.table("setting", "value", "source", show_edge=False)
    for item in data["settings"]:
        table.add_row(item["key"], str(item["value"]), item["source"])
    console.print(table)
