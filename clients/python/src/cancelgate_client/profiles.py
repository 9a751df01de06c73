"""Where the command-line client finds its server and credentials: file, demo file, environment."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from cancelgate_client._base import DEFAULT_VERSION

# Environment variables, each overriding the same setting of the chosen profile.
ENVIRONMENT = {
    "base_url": "CANCELGATE_URL",
    "client_id": "CANCELGATE_CLIENT_ID",
    "client_secret": "CANCELGATE_CLIENT_SECRET",
    "private_key_file": "CANCELGATE_PRIVATE_KEY_FILE",
    "key_id": "CANCELGATE_KEY_ID",
    "token_url": "CANCELGATE_TOKEN_URL",
    "api_version": "CANCELGATE_API_VERSION",
    "ux_client_id": "CANCELGATE_UX_CLIENT_ID",
    "ux_client_secret": "CANCELGATE_UX_CLIENT_SECRET",
}


class ProfileError(ValueError):
    """The profile cannot be read or is incomplete."""


@dataclass(frozen=True)
class Profile:
    """One server and the credentials to use with it."""

    base_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    private_key_file: str | None = None
    key_id: str | None = None
    token_url: str | None = None
    api_version: int = DEFAULT_VERSION
    ux_client_id: str | None = None
    ux_client_secret: str | None = None


def default_config_path(env: Mapping[str, str]) -> Path:
    """`$CANCELGATE_CLIENT_CONFIG`, else `$XDG_CONFIG_HOME/cancelgate/client.toml` (~/.config)."""
    if env.get("CANCELGATE_CLIENT_CONFIG"):
        return Path(env["CANCELGATE_CLIENT_CONFIG"])
    base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "cancelgate" / "client.toml"


def load_profile(
    name: str | None,
    *,
    config: Path | None = None,
    demo_file: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Profile:
    """The named profile (default `default`) of the config file, then demo file, then environment.

    Later sources override earlier ones, setting by setting.
    """
    environ = os.environ if env is None else env
    profile_name = name or environ.get("CANCELGATE_PROFILE") or "default"
    path = config or default_config_path(environ)
    profile = Profile()
    if path.exists():
        profile = _apply(profile, _profile_table(path, profile_name), str(path))
    elif config is not None or profile_name != "default":
        raise ProfileError(f"no config file at {path}")
    demo = demo_file or (
        Path(environ["CANCELGATE_DEMO_FILE"]) if environ.get("CANCELGATE_DEMO_FILE") else None
    )
    if demo is not None:
        profile = _apply(profile, _from_demo(demo), str(demo))
    overrides = {key: environ[var] for key, var in ENVIRONMENT.items() if environ.get(var)}
    return _apply(profile, overrides, "the environment")


def _profile_table(path: Path, name: str) -> dict[str, Any]:
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"cannot read {path}: {exc}") from None
    table = document.get(name)
    if not isinstance(table, dict):
        raise ProfileError(f"{path} has no [{name}] profile")
    return table


def _from_demo(path: Path) -> dict[str, Any]:
    """The sandbox's base URL, demo client and channel client, from `serve --demo`'s demo.json."""
    try:
        demo = json.loads(path.read_text())
        client = next(c for c in demo["clients"] if c["tenant"] == "demo")
        return {
            "base_url": demo["base_url"],
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "token_url": demo["token_url"],
            "ux_client_id": demo["ux_client"]["client_id"],
            "ux_client_secret": demo["ux_client"]["client_secret"],
        }
    except (OSError, ValueError, KeyError, TypeError, StopIteration) as exc:
        raise ProfileError(f"cannot read the demo file {path}: {exc!r}") from None


def _version(value: Any, source: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.strip().isdigit():
        return int(value)
    raise ProfileError(f"{source}: api_version must be a whole number, not {value!r}")


def _apply(profile: Profile, values: Mapping[str, Any], source: str) -> Profile:
    known = {f.name for f in fields(Profile)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ProfileError(f"{source}: unknown settings {', '.join(unknown)}")
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key == "api_version":
            changes[key] = _version(value, source)
        else:
            changes[key] = str(value)
    return replace(profile, **changes)
