"""Named configuration profiles (`$XDG_CONFIG_HOME/x0ctl/config.yaml`), kubectl-context style.

    default-profile: lab
    profiles:
      lab:
        prometheus: http://127.0.0.1:9090
        keystore: /var/lib/x0ctl/keys
        backend: liboqs
      prod:
        prometheus: https://prometheus.mesh.example
        prometheus-token-file: /etc/x0ctl/prometheus.token
        output: json

A profile's keys are the long option names of x0ctl's commands, without the dashes. A value is
used by every command that has that option, and only when neither the flag nor the option's
environment variable is given: flag > environment > profile > built-in default.

Errors name the file, the line and the field: a typo in a profile must never silently fall back
to a default that points at the wrong Prometheus or keystore.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from x0ctl.errors import IOFailure, UsageError
from x0ctl.urls import redact_url

CONFIG_ENV = "X0CTL_CONFIG"
PROFILE_ENV = "X0CTL_PROFILE"
_SECRET_WORDS = ("token", "password", "passphrase", "secret")


def config_path() -> Path:
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "x0ctl" / "config.yaml"


def is_secret_key(key: str) -> bool:
    """Values stored inline under these keys are masked when shown (paths to files are not)."""
    return any(word in key for word in _SECRET_WORDS) and not key.endswith(("-file", "-env"))


def mask(key: str, value) -> object:
    """The value as `config show` prints it: secret-named keys hidden, and any URL value without
    its userinfo and query values (a profile's `prometheus: http://user:pw@...` is a secret too)."""
    if is_secret_key(key) and value not in (None, ""):
        return "****"
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    return value


@dataclass
class Profile:
    name: str
    settings: dict[str, object]
    lines: dict[str, int] = field(default_factory=dict)


@dataclass
class Config:
    path: Path
    default_profile: str | None
    profiles: dict[str, Profile]

    def select(self, name: str | None) -> Profile | None:
        chosen = name or self.default_profile
        if chosen is None:
            return None
        if chosen not in self.profiles:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise UsageError(f"{self.path}: profile {chosen!r} is not defined (profiles: {known})")
        return self.profiles[chosen]


def _error(path: Path, node, message: str) -> UsageError:
    line = node.start_mark.line + 1 if node is not None else 1
    return UsageError(f"{path}:{line}: {message}")


def _scalar(path: Path, node, where: str):
    import yaml

    if not isinstance(node, yaml.ScalarNode):
        raise _error(path, node, f"{where} must be a single value, not a {'list' if isinstance(node, yaml.SequenceNode) else 'mapping'}")
    return yaml.safe_load(yaml.serialize(node))


def load_config(path: Path | None = None, known_keys: Callable[[], set[str]] | None = None) -> Config | None:
    """Parse the config file; None when it does not exist.

    `known_keys` returns the valid profile fields; it is only called when a file exists, so that a
    node without a config file pays nothing at start-up.
    """
    path = path or config_path()
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a UTF-8 text file") from None
    except FileNotFoundError:
        if os.environ.get(CONFIG_ENV):
            raise IOFailure(f"{path}: config file named by {CONFIG_ENV} does not exist") from None
        return None
    except OSError as exc:
        raise IOFailure(f"{path}: cannot read config: {exc.strerror}") from None
    import yaml

    keys = known_keys() if known_keys is not None else None
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}" if mark else "?"
        raise UsageError(f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if root is None:
        return Config(path, None, {})
    if not isinstance(root, yaml.MappingNode):
        raise _error(path, root, "the top level must be a mapping with 'profiles'")
    default_profile, profiles = None, {}
    for key_node, value_node in root.value:
        key = key_node.value
        if key == "default-profile":
            default_profile = str(_scalar(path, value_node, "default-profile"))
        elif key == "profiles":
            if not isinstance(value_node, yaml.MappingNode):
                raise _error(path, value_node, "'profiles' must be a mapping of profile names")
            for name_node, body in value_node.value:
                profiles[name_node.value] = _profile(path, name_node.value, body, keys)
        else:
            raise _error(path, key_node, f"unknown field {key!r} (expected default-profile, profiles)")
    if default_profile is not None and default_profile not in profiles:
        raise UsageError(f"{path}: default-profile {default_profile!r} is not defined in profiles")
    return Config(path, default_profile, profiles)


def _profile(path: Path, name: str, body, known_keys: set[str] | None) -> Profile:
    import yaml

    if not isinstance(body, yaml.MappingNode):
        raise _error(path, body, f"profile {name!r} must be a mapping of option: value")
    settings, lines = {}, {}
    for key_node, value_node in body.value:
        key = str(key_node.value)
        if known_keys is not None and key not in known_keys:
            raise _error(path, key_node, f"profile {name!r}: unknown field {key!r} (not an option of any x0ctl command)")
        settings[key] = _scalar(path, value_node, f"profile {name!r} field {key!r}")
        lines[key] = key_node.start_mark.line + 1
    return Profile(name, settings, lines)
