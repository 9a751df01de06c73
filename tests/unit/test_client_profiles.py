"""Where the command-line client finds its server and credentials, its progress line, its exits.

Pure: `load_profile` reads files under tmp_path and an environment given as a dict; the usage
errors run the typer app in-process and never reach a server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cancelgate_client import PollUpdate
from cancelgate_client.cli import SPINNER, Exit, app, progress_line
from cancelgate_client.profiles import (
    ENVIRONMENT,
    Profile,
    ProfileError,
    default_config_path,
    load_profile,
)

STAGING = """
[default]
base_url = "https://default.example"
client_id = "default-id"
client_secret = "default-secret"

[staging]
base_url = "https://staging.example"
client_id = "staging-id"
client_secret = "staging-secret"
key_id = "kid-1"
token_url = "https://auth.example/token"
api_version = 6
ux_client_id = "ux-id"
ux_client_secret = "ux-secret"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def demo_document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "base_url": "http://127.0.0.1:8000",
        "token_url": "http://127.0.0.1:8000/oauth/token",
        "clients": [
            {"tenant": "other", "client_id": "other-id", "client_secret": "other-secret"},
            {"tenant": "demo", "client_id": "demo-id", "client_secret": "demo-secret"},
        ],
        "appointments": {"booked": 1},
        "services": {"active": 1},
        "ux_client": {"client_id": "channel-id", "client_secret": "channel-secret"},
        "ux": {},
    }
    document.update(changes)
    return document


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment whose default config path is under tmp_path (no file there yet)."""
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}


# --- load_profile ---------------------------------------------------------------------------


def test_nothing_configured_is_the_empty_default(home: dict[str, str]) -> None:
    assert load_profile(None, env=home) == Profile()
    assert Profile().api_version == 8


def test_every_setting_from_the_environment(home: dict[str, str]) -> None:
    env = {
        **home,
        "CANCELGATE_URL": "https://env.example",
        "CANCELGATE_CLIENT_ID": "id",
        "CANCELGATE_CLIENT_SECRET": "secret",
        "CANCELGATE_PRIVATE_KEY_FILE": "/keys/client.pem",
        "CANCELGATE_KEY_ID": "kid",
        "CANCELGATE_TOKEN_URL": "https://auth.example/token",
        "CANCELGATE_API_VERSION": "5",
        "CANCELGATE_UX_CLIENT_ID": "ux-id",
        "CANCELGATE_UX_CLIENT_SECRET": "ux-secret",
    }
    assert load_profile(None, env=env) == Profile(
        base_url="https://env.example",
        client_id="id",
        client_secret="secret",
        private_key_file="/keys/client.pem",
        key_id="kid",
        token_url="https://auth.example/token",
        api_version=5,
        ux_client_id="ux-id",
        ux_client_secret="ux-secret",
    )
    # One variable per setting of the profile, no more, no less.
    assert set(ENVIRONMENT) == {f for f in Profile.__dataclass_fields__}


def test_profile_by_name_and_by_variable(tmp_path: Path, home: dict[str, str]) -> None:
    config = write(tmp_path / "client.toml", STAGING)
    staging = Profile(
        base_url="https://staging.example",
        client_id="staging-id",
        client_secret="staging-secret",
        key_id="kid-1",
        token_url="https://auth.example/token",
        api_version=6,
        ux_client_id="ux-id",
        ux_client_secret="ux-secret",
    )
    assert load_profile("staging", config=config, env=home) == staging
    assert load_profile(None, config=config, env={**home, "CANCELGATE_PROFILE": "staging"}) == (
        staging
    )
    # The name given wins over the variable.
    chosen = load_profile("default", config=config, env={**home, "CANCELGATE_PROFILE": "staging"})
    assert chosen == Profile(
        base_url="https://default.example",
        client_id="default-id",
        client_secret="default-secret",
    )


def test_environment_overrides_the_file_setting_by_setting(
    tmp_path: Path, home: dict[str, str]
) -> None:
    config = write(tmp_path / "client.toml", STAGING)
    env = {
        **home,
        "CANCELGATE_CLIENT_SECRET": "from-env",
        "CANCELGATE_API_VERSION": "7",
        # Empty variables override nothing.
        "CANCELGATE_URL": "",
        "CANCELGATE_CLIENT_ID": "",
    }
    profile = load_profile("staging", config=config, env=env)
    assert profile.client_secret == "from-env"
    assert profile.api_version == 7
    assert (profile.base_url, profile.client_id) == ("https://staging.example", "staging-id")
    assert (profile.key_id, profile.ux_client_id) == ("kid-1", "ux-id")


def test_default_config_path(tmp_path: Path, home: dict[str, str]) -> None:
    assert default_config_path(home) == tmp_path / "xdg" / "cancelgate" / "client.toml"
    explicit = {**home, "CANCELGATE_CLIENT_CONFIG": str(tmp_path / "elsewhere.toml")}
    assert default_config_path(explicit) == tmp_path / "elsewhere.toml"
    assert default_config_path({}) == Path.home() / ".config" / "cancelgate" / "client.toml"
    assert default_config_path({"XDG_CONFIG_HOME": ""}) == default_config_path({})


def test_the_default_path_is_read_when_it_exists(tmp_path: Path, home: dict[str, str]) -> None:
    write(tmp_path / "xdg" / "cancelgate" / "client.toml", STAGING)
    assert load_profile(None, env=home).base_url == "https://default.example"
    assert load_profile("staging", env=home).base_url == "https://staging.example"
    elsewhere = write(tmp_path / "elsewhere.toml", '[default]\nbase_url = "https://else.where"\n')
    env = {**home, "CANCELGATE_CLIENT_CONFIG": str(elsewhere)}
    assert load_profile(None, env=env).base_url == "https://else.where"
    # --config wins over CANCELGATE_CLIENT_CONFIG.
    config = write(tmp_path / "given.toml", '[default]\nbase_url = "https://given.example"\n')
    assert load_profile(None, config=config, env=env).base_url == "https://given.example"


def test_missing_file_or_profile(tmp_path: Path, home: dict[str, str]) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ProfileError, match="no config file at"):
        load_profile(None, config=missing, env=home)
    # A profile named on the command line needs a file.
    with pytest.raises(ProfileError, match="no config file at"):
        load_profile("staging", env=home)
    config = write(tmp_path / "client.toml", STAGING)
    with pytest.raises(ProfileError, match=r"has no \[production\] profile"):
        load_profile("production", config=config, env=home)
    with pytest.raises(ProfileError, match=r"has no \[production\] profile"):
        load_profile(None, config=config, env={**home, "CANCELGATE_PROFILE": "production"})
    # A name that is not a table is no profile either.
    scalar = write(tmp_path / "scalar.toml", 'default = "x"\n')
    with pytest.raises(ProfileError, match=r"has no \[default\] profile"):
        load_profile(None, config=scalar, env=home)


def test_a_profile_named_by_the_variable_needs_its_file(home: dict[str, str]) -> None:
    # CANCELGATE_PROFILE names a profile just as --profile does: when there is no config file
    # to hold it, that is an error (as it is for --profile), not silently an empty profile.
    with pytest.raises(ProfileError, match="no config file at"):
        load_profile(None, env={**home, "CANCELGATE_PROFILE": "staging"})


def test_unknown_setting_and_bad_toml(tmp_path: Path, home: dict[str, str]) -> None:
    typo = write(tmp_path / "typo.toml", '[default]\nbase_url = "x"\nclient_secrett = "s"\n')
    with pytest.raises(ProfileError, match="unknown settings client_secrett") as raised:
        load_profile(None, config=typo, env=home)
    assert str(typo) in str(raised.value)
    broken = write(tmp_path / "broken.toml", "[default\nbase_url = \n")
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(None, config=broken, env=home)


@pytest.mark.parametrize(("written", "expected"), [("7", 7), ('"7"', 7), ("1", 1), ('" 8 "', 8)])
def test_api_version_from_the_file(
    tmp_path: Path, home: dict[str, str], written: str, expected: int
) -> None:
    config = write(tmp_path / "client.toml", f"[default]\napi_version = {written}\n")
    assert load_profile(None, config=config, env=home).api_version == expected


@pytest.mark.parametrize("written", ['"eight"', '"8.5"', '""', "[8]"])
def test_api_version_not_a_number(tmp_path: Path, home: dict[str, str], written: str) -> None:
    config = write(tmp_path / "client.toml", f"[default]\napi_version = {written}\n")
    with pytest.raises(ProfileError, match="api_version must be a whole number"):
        load_profile(None, config=config, env=home)
    with pytest.raises(ProfileError, match="the environment: api_version must be a whole number"):
        load_profile(None, env={**home, "CANCELGATE_API_VERSION": "v8"})


def test_other_settings_become_strings(tmp_path: Path, home: dict[str, str]) -> None:
    config = write(tmp_path / "client.toml", "[default]\nclient_id = 1234\n")
    assert load_profile(None, config=config, env=home).client_id == "1234"


def test_demo_file(tmp_path: Path, home: dict[str, str]) -> None:
    demo = write(tmp_path / "demo.json", json.dumps(demo_document()))
    expected = Profile(
        base_url="http://127.0.0.1:8000",
        client_id="demo-id",
        client_secret="demo-secret",
        token_url="http://127.0.0.1:8000/oauth/token",
        ux_client_id="channel-id",
        ux_client_secret="channel-secret",
    )
    assert load_profile(None, demo_file=demo, env=home) == expected
    assert load_profile(None, env={**home, "CANCELGATE_DEMO_FILE": str(demo)}) == expected


def test_demo_file_over_the_config_file_under_the_environment(
    tmp_path: Path, home: dict[str, str]
) -> None:
    config = write(tmp_path / "client.toml", STAGING)
    demo = write(tmp_path / "demo.json", json.dumps(demo_document()))
    env = {**home, "CANCELGATE_CLIENT_SECRET": "env-secret"}
    profile = load_profile("staging", config=config, demo_file=demo, env=env)
    assert profile.base_url == "http://127.0.0.1:8000"  # demo over file
    assert profile.client_id == "demo-id"
    assert profile.client_secret == "env-secret"  # environment over demo
    assert profile.key_id == "kid-1"  # the file's, the demo file says nothing of it
    assert profile.api_version == 6
    # --demo-file wins over CANCELGATE_DEMO_FILE.
    other = write(tmp_path / "other.json", json.dumps(demo_document(base_url="http://o.ther")))
    chosen = load_profile(None, demo_file=other, env={**home, "CANCELGATE_DEMO_FILE": str(demo)})
    assert chosen.base_url == "http://o.ther"


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps([1, 2]),
        json.dumps(demo_document(clients=[])),  # no demo tenant
        json.dumps(demo_document(clients=[{"tenant": "other"}])),
        json.dumps({k: v for k, v in demo_document().items() if k != "ux_client"}),
        json.dumps({k: v for k, v in demo_document().items() if k != "base_url"}),
    ],
)
def test_unreadable_demo_file(tmp_path: Path, home: dict[str, str], content: str) -> None:
    demo = write(tmp_path / "demo.json", content)
    with pytest.raises(ProfileError, match="cannot read the demo file"):
        load_profile(None, demo_file=demo, env=home)


def test_missing_demo_file(tmp_path: Path, home: dict[str, str]) -> None:
    with pytest.raises(ProfileError, match="cannot read the demo file"):
        load_profile(None, demo_file=tmp_path / "absent.json", env=home)


# --- progress and exits -----------------------------------------------------------------------


def test_progress_line() -> None:
    update = PollUpdate(location="http://x/requests/1", polls=1, elapsed=0.25, next_delay=1.04)
    assert progress_line(update) == "⠋ in progress: 1 poll(s), 0.2 s, next in 1.0 s"
    later = PollUpdate(location="http://x/requests/1", polls=12, elapsed=61.96, next_delay=5.0)
    assert progress_line(later) == "⠙ in progress: 12 poll(s), 62.0 s, next in 5.0 s"
    frames = [
        progress_line(PollUpdate("l", polls, 0.0, 0.0))[0] for polls in range(1, 2 * len(SPINNER))
    ]
    assert frames == [*SPINNER, *SPINNER[:-1]]


def test_exit_codes() -> None:
    assert {e.name: int(e) for e in Exit} == {
        "OK": 0,
        "FAILED": 1,
        "USAGE": 2,
        "REFUSED": 3,
        "NOT_FOUND": 4,
        "TRANSPORT": 5,
        "UNAUTHORIZED": 6,
        "TIMED_OUT": 7,
    }


# --- usage errors, without a server ---------------------------------------------------------


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """The app in-process with no CANCELGATE_* variable and an empty config home."""
    for variable in [*ENVIRONMENT.values(), "CANCELGATE_PROFILE", "CANCELGATE_CLIENT_CONFIG"]:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("CANCELGATE_DEMO_FILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return CliRunner()


def test_no_server_is_a_usage_error(runner: CliRunner) -> None:
    for args in (["token"], ["--json", "appointments", "cancel", "1"], ["webhooks", "list"]):
        result = runner.invoke(app, args)
        assert result.exit_code == Exit.USAGE, result.output
        assert "no server" in result.stderr
        assert result.stdout == ""


def test_profile_problems_are_usage_errors(runner: CliRunner, tmp_path: Path) -> None:
    typo = write(tmp_path / "typo.toml", '[default]\nbase_ur = "http://127.0.0.1:9"\n')
    broken = write(tmp_path / "broken.toml", "[default")
    cases = [
        (["--config", str(tmp_path / "absent.toml"), "token"], "no config file"),
        (["--config", str(typo), "token"], "unknown settings base_ur"),
        (["--json", "--config", str(broken), "token"], "cannot read"),
        (["--config", str(typo), "--profile", "nope", "token"], "has no [nope] profile"),
        (["--demo-file", str(tmp_path / "absent.json"), "token"], "cannot read the demo file"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == Exit.USAGE, (args, result.output)
        if "--json" in args:
            assert message in json.loads(result.stdout)["usage"], (args, result.stdout)
        else:
            assert message in result.stderr, (args, result.stderr)
            assert result.stdout == ""


def test_bad_credentials_are_usage_errors(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CANCELGATE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CANCELGATE_CLIENT_ID", "some-client")
    # Neither a secret nor a key: the client cannot be built.
    neither = runner.invoke(app, ["token"])
    assert neither.exit_code == Exit.USAGE, neither.output
    assert "bad credentials in the profile" in neither.stderr
    # A key file that is not there.
    monkeypatch.setenv("CANCELGATE_PRIVATE_KEY_FILE", str(tmp_path / "absent.pem"))
    absent = runner.invoke(app, ["token"])
    assert absent.exit_code == Exit.USAGE, absent.output
    assert "bad credentials in the profile" in absent.stderr


def test_bad_arguments_are_usage_errors(runner: CliRunner) -> None:
    for args in (
        ["--url", "http://127.0.0.1:9", "appointments", "cancel", "not-a-number"],
        ["--url", "http://127.0.0.1:9", "services", "cancel", "1"],  # --date is required
        ["--url", "http://127.0.0.1:9", "ux", "cancel", "PR", "1"],  # --order-class too
        ["--url", "http://127.0.0.1:9", "webhooks", "create", "http://h.example/"],  # --event
        ["--url", "http://127.0.0.1:9", "no-such-command"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == Exit.USAGE, (args, result.output)


def test_missing_client_id_or_ux_credentials_fail_before_any_request(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANCELGATE_URL", "http://127.0.0.1:9")
    no_id = runner.invoke(app, ["token"])
    assert no_id.exit_code == Exit.USAGE, no_id.output
    assert "no client_id" in no_id.stderr
    no_ux = runner.invoke(app, ["--json", "ux", "cancel", "PR", "1", "--order-class", "T"])
    assert no_ux.exit_code == Exit.USAGE, no_ux.output
    assert "ux_client_id and ux_client_secret" in no_ux.stdout


def test_a_request_that_is_neither_id_nor_location_fails_cleanly(runner: CliRunner) -> None:
    # "²" is a digit to str.isdigit() but not to int(): no traceback, an error and its exit.
    result = runner.invoke(app, ["--url", "http://127.0.0.1:9", "appointments", "status", "²"])
    assert result.exit_code != Exit.OK
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
