"""The client installs and works alone: `clients/python` alone builds a wheel of
`cancelgate_client` only, and that wheel talks to a real server with nothing of the server
importable.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Caller
from tests.support import clean_env

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "python"
PACKAGE = CLIENT / "src" / "cancelgate_client"
GENERATED = PACKAGE / "_sync_client.py"
# The dev install's setuptools is all the build needs: no index, no build environment.
OFFLINE = ["--no-deps", "--no-build-isolation", "--no-index", "-q"]
SERVER_MODULES = ["fastapi", "sqlalchemy", "starlette", "uvicorn", "pydantic", "procrastinate"]

# Runs under `python -S` (no .pth files: the repository's editable install is invisible) with
# the extracted wheel and the venv's site-packages first on sys.path. Prints one JSON line.
STANDALONE = """
import contextlib, io, json, sys
settings = json.loads(sys.argv[1])
sys.path[:0] = [settings["wheel_dir"], settings["site_packages"]]

import cancelgate_client
import cancelgate_client._sync_client
from cancelgate_client import Client
from cancelgate_client.cli import app

found = {
    "client_file": cancelgate_client.__file__,
    "sync_client_file": cancelgate_client._sync_client.__file__,
}
try:
    import cancelgate.settings  # noqa: F401  (the server's: must not be there)
    found["server_importable"] = True
except ImportError:
    found["server_importable"] = False

with Client(
    settings["url"], client_id=settings["client_id"], client_secret=settings["secret"]
) as api:
    found["token"] = api.token().access_token
    outcome = api.cancel_appointment(settings["appointment"], wait=True, timeout=30)
    found["outcome"] = outcome.raw
found["loaded"] = sorted(name for name in settings["server_modules"] if name in sys.modules)

printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    found["cli_result"] = app(["--url", settings["url"], "token"], standalone_mode=False)
found["cli_stdout"] = printed.getvalue()
found["loaded_by_cli"] = sorted(
    name for name in settings["server_modules"] if name in sys.modules
)
from importlib import metadata
found["typer_requires"] = metadata.requires("typer") or []
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of clients/python alone (without the generated blocking
    client, which the build writes)."""
    tree = tmp_path_factory.mktemp("client-tree")
    project = tree / "python"
    shutil.copytree(
        CLIENT,
        project,
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", GENERATED.name),
    )
    out = tree / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", *OFFLINE, str(project), "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [path] = out.glob("*.whl")
    return path


def test_the_wheel_holds_the_client_alone(wheel: Path) -> None:
    assert wheel.name.startswith("cancelgate_client-")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [dist_info] = {name.split("/")[0] for name in names if ".dist-info/" in name}
        package = sorted(name for name in names if not name.startswith(dist_info + "/"))
        metadata = archive.read(f"{dist_info}/METADATA").decode()
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    sources = {path.name for path in PACKAGE.glob("*.py")} | {GENERATED.name, "py.typed"}
    expected = sorted(f"cancelgate_client/{name}" for name in sources)
    assert package == expected
    assert not any(name.startswith("cancelgate/") for name in names)
    assert all(name.startswith(("cancelgate_client/", dist_info + "/")) for name in names)
    assert "Name: cancelgate-client" in metadata.splitlines()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert "Requires-Dist: httpx" in requires and "Requires-Dist: typer" in requires
    assert not any(name in line for line in requires for name in SERVER_MODULES)
    assert "[console_scripts]" in entry_points
    assert "cancelgate-client = cancelgate_client.cli:app" in entry_points.splitlines()


async def test_the_installed_wheel_talks_to_a_server(
    wheel: Path, api_server: str, caller: Caller, tmp_path: Path
) -> None:
    installed = tmp_path / "installed"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(installed)
    appointment = await caller.appointment("booked")
    settings = {
        "wheel_dir": str(installed),
        "site_packages": sysconfig.get_paths()["purelib"],
        "url": api_server,
        "client_id": caller.client_id,
        "secret": caller.client_secret,
        "appointment": appointment.id,
        "server_modules": SERVER_MODULES,
    }
    env = clean_env(tmp_path)
    env.pop("PYTHONPATH", None)
    env["CANCELGATE_CLIENT_ID"] = caller.client_id
    env["CANCELGATE_CLIENT_SECRET"] = caller.client_secret
    done = subprocess.run(
        [sys.executable, "-S", "-c", STANDALONE, json.dumps(settings)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    assert Path(found["client_file"]).is_relative_to(installed)
    assert Path(found["sync_client_file"]).is_relative_to(installed)
    assert found["server_importable"] is False
    # The library, imported and used, loads nothing of the server's stack.
    assert found["loaded"] == []
    # The command line runs on typer, which (since 0.2x) needs pydantic itself; nothing else
    # of the server's stack comes with it.
    assert set(found["loaded_by_cli"]) <= {"pydantic"}
    if found["loaded_by_cli"]:
        assert any(r.startswith("pydantic") for r in found["typer_requires"])
    assert found["token"].count(".") == 2
    assert found["outcome"]["appointmentId"] == appointment.id
    assert found["cli_result"] in (None, 0)
    assert found["cli_stdout"].strip().count(".") == 2
