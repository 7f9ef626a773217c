"""Option bundles shared by several commands, declared once (sqlite-utils' shared decorators, for Typer).

`@prometheus_options` adds the Prometheus connection options (URL, timeout, bearer token, basic
auth, CA bundle, client certificate and key) to a command and hands the command one
`PrometheusConnection` as its `prom` parameter, so every command that talks to Prometheus accepts
exactly the same flags with the same help, environment variables and defaults:

    @app.command("status")
    @prometheus_options
    def status(ctx: typer.Context, prom: PrometheusConnection, output: OutputOption = None) -> None:
        client = prom.client()
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any

import typer

from x0ctl.connection import BASIC_AUTH_ENV, DEFAULT_TIMEOUT, TOKEN_ENV, URL_ENV


@dataclass(frozen=True)
class PrometheusConnection:
    """How to reach Prometheus, as given on the command line (secrets stay in their files or variables)."""

    url: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    token_file: Path | None = None
    token_env: str = TOKEN_ENV
    basic_auth_file: Path | None = None
    basic_auth_env: str = BASIC_AUTH_ENV
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None

    def with_default_url(self, url: str | None) -> PrometheusConnection:
        """The same connection with `url` (e.g. a plan's) where no --prometheus was given."""
        if self.url or not url:
            return self
        return PrometheusConnection(**{**{f.name: getattr(self, f.name) for f in fields(self)}, "url": url})

    def client(self):
        """A `PrometheusClient` (validates the URL and reads the secrets; errors exit 2 or 4)."""
        from x0ctl.slo.client import client_from_options

        return client_from_options(
            self.url, timeout=self.timeout, token_file=self.token_file, token_env=self.token_env,
            basic_auth_file=self.basic_auth_file, basic_auth_env=self.basic_auth_env,
            ca_bundle=str(self.ca_bundle) if self.ca_bundle else None,
            client_cert=str(self.client_cert) if self.client_cert else None,
            client_key=str(self.client_key) if self.client_key else None,
        )


_PROMETHEUS_PARAMETERS: dict[str, tuple[Any, Any]] = {
    "url": (
        Annotated[str | None, typer.Option(
            "--prometheus", "-p", envvar=URL_ENV, show_default=False, metavar="URL",
            help="Prometheus-API base URL (Prometheus, Thanos Query, Mimir, VictoriaMetrics). "
                 "Default: http://127.0.0.1:9090.")],
        None,
    ),
    "timeout": (
        Annotated[float, typer.Option("--timeout", metavar="SECONDS",
                                      help="Per-request timeout; failures are not retried.")],
        DEFAULT_TIMEOUT,
    ),
    "token_file": (
        Annotated[Path | None, typer.Option("--token-file", show_default=False, help="Bearer token file.")],
        None,
    ),
    "token_env": (
        Annotated[str, typer.Option("--token-env", metavar="VAR",
                                    help="Environment variable holding a bearer token (its name).")],
        TOKEN_ENV,
    ),
    "basic_auth_file": (
        Annotated[Path | None, typer.Option("--basic-auth-file", show_default=False,
                                            help="File holding 'user:password'.")],
        None,
    ),
    "basic_auth_env": (
        Annotated[str, typer.Option("--basic-auth-env", metavar="VAR",
                                    help="Environment variable holding 'user:password' (its name).")],
        BASIC_AUTH_ENV,
    ),
    "ca_bundle": (
        Annotated[Path | None, typer.Option("--ca-bundle", show_default=False,
                                            help="CA bundle to verify the server's TLS certificate.")],
        None,
    ),
    "client_cert": (
        Annotated[Path | None, typer.Option("--client-cert", show_default=False,
                                            help="Client certificate (PEM) for mutual TLS.")],
        None,
    ),
    "client_key": (
        Annotated[Path | None, typer.Option("--client-key", show_default=False,
                                            help="Client private key (PEM), if not in --client-cert.")],
        None,
    ),
}
# Parameter names as the command function sees them (prefixed, so they never clash with its own).
_PREFIX = "prometheus_"


def prometheus_options(command: Callable) -> Callable:
    """Give `command` the Prometheus connection options; it receives them as `prom: PrometheusConnection`."""
    return _bundle(command, "prom", PrometheusConnection, _PROMETHEUS_PARAMETERS)


def option_bundle(command: Callable, target: str, factory: Callable, parameters: dict[str, tuple[Any, Any]],
                  prefix: str) -> Callable:
    """A command group's own bundle, built like `prometheus_options` (`prefix` keeps its names apart)."""
    return _bundle(command, target, factory, parameters, prefix)


def _bundle(command: Callable, target: str, factory: Callable, parameters: dict[str, tuple[Any, Any]],
            prefix: str = _PREFIX) -> Callable:
    """Replace `command`'s `target` parameter by the options in `parameters`, gathered into `factory(...)`.

    Typer reads a command's options from its signature, so the wrapper presents the command's own
    parameters plus the bundle's (before a trailing `output`), and folds the bundle's values back into
    one object before calling the command.
    """
    signature = inspect.signature(command)
    # Typer needs evaluated annotations; the bundle's own parameter may name a type the command's
    # module only imports for type checking, so it is left out before anything is evaluated.
    own = [p.replace(annotation=eval(p.annotation, command.__globals__)) if isinstance(p.annotation, str) else p  # noqa: S307
           for name, p in signature.parameters.items() if name != target]
    added = [inspect.Parameter(prefix + name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
             for name, (annotation, default) in parameters.items()]
    trailing = [p for p in own if p.name == "output"]
    leading = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if p.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD
               and p.name != "ctx" else p for p in own if p.name != "output"]
    trailing = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in trailing]

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        values = {name: kwargs.pop(prefix + name) for name in parameters}
        kwargs[target] = factory(**values)
        return command(*args, **kwargs)

    all_parameters = leading + added + trailing
    wrapper.__signature__ = signature.replace(parameters=all_parameters)
    wrapper.__annotations__ = {p.name: p.annotation for p in all_parameters}
    return wrapper


def normalize_backend(value: str | None, *, allow_all: bool = False) -> str | None:
    """`--backend` as every command reads it: case and spaces ignored, one error text (exit 2)."""
    from x0ctl.pqc import BACKEND_CHOICES  # import-light by design

    if value is None:
        return None
    choices = (*BACKEND_CHOICES, "all") if allow_all else BACKEND_CHOICES
    normalized = value.strip().lower()
    if normalized not in choices:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}", param_hint="--backend")
    return normalized


def _backend_option(*, allow_all: bool, help_text: str) -> Any:
    choices = ["auto", "openssl", "liboqs", *(["all"] if allow_all else [])]
    return typer.Option("--backend", help=help_text, metavar="|".join(choices), show_default=False,
                        callback=lambda value: normalize_backend(value, allow_all=allow_all),
                        autocompletion=lambda: choices)


# A command's own --backend (None: the global --backend applies; see App.backend_for).
BackendOption = Annotated[str | None, _backend_option(
    allow_all=False, help_text="PQC backend: auto, openssl or liboqs (default: the global --backend).")]
BackendOrAllOption = Annotated[str | None, _backend_option(
    allow_all=True, help_text="Backend to test: auto, openssl, liboqs or all (default: the global --backend).")]
