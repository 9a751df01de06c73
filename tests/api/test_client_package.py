"""The client as a distribution of its own (`cancelgate-client`, built from `clients/python`),
and its blocking `Client` (issue 20).

**Packaging** is proved on built artifacts only: the sync client may be generated at build
time, so the source tree proves nothing. The files of `clients/python` that git would ship
(tracked, or untracked and not ignored) are copied to a temporary directory with nothing of the
repository beside them, and built there:

- the build backend (`[build-system] requires`, plus what its `get_requires_for_build_*` hooks
  ask for) goes into a build environment of its own: copied from the repository's environment
  when that has it (`make setup` installs setuptools), else from the index: "offline once its
  build backend is installed" (issue 20). The builds themselves always run offline:
  `pip wheel --no-index --no-build-isolation --check-build-dependencies` for the wheels, and a
  PEP 517 driver calling the backend's `build_sdist` (no pip at all) for the sdist;
- a second wheel is built from the unpacked sdist: the sdist is complete when that wheel holds
  the same files, byte for byte, as the wheel built from the directory.

**Fresh environments** (`venv`, no system site-packages, no pip of their own: the repository's
pip drives them with `pip --python`) get the client's dependencies offline: the closure of the
wheel's `Requires-Dist` is resolved in this (the repository's) environment and those
distributions' files are copied in, RECORD and all, so pip sees them installed; the wheel then
installs with `--no-index`, pip resolving its requirements against them. Nothing of the server
is there: not `cancelgate`, not fastapi or sqlalchemy.

**Uninstalling** is proved with the server's real wheel (built the same way from the repository's
`pyproject.toml` and `src/`): in a fresh environment whose other packages are symlinks to this
environment's (everything but the cancelgate distributions and pip), the client and the server
are installed, the client uninstalled, and every file of the server's RECORD must still be
there; then that environment's `cancelgate serve --no-worker` must start and answer /healthz.

**The blocking client** is proved in process (`cancelgate_client` as installed in the
repository's environment): from inside a running event loop's thread, and shared by 8 threads,
with its token requests counted by a token endpoint on 127.0.0.1 that forwards to the server's.
Neither may create an event loop (counted at `BaseEventLoop.__init__`).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tarfile
import threading
import time
import tomllib
import venv
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import httpx
import pytest
import pytest_asyncio
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cancelgate.upstream.nbn import scenarios
from cancelgate_client import AppointmentCancellation, Client
from tests.api.conftest import Caller
from tests.support import Process, clean_env, free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]
CLIENT_DIR = ROOT / "clients" / "python"
DIST = "cancelgate-client"
PACKAGE = "cancelgate_client"
VERSION = "0.2.0"
# The server's stack: none of it may be installed beside the client alone.
SERVER_STACK = ["fastapi", "sqlalchemy", "starlette", "uvicorn", "procrastinate", "alembic"]
# Nor loaded by using the library (pydantic: the server's models, not the client's).
SERVER_MODULES = [*SERVER_STACK, "pydantic", "psycopg"]
# What `cancelgate.client` exported before the move: `cancelgate_client` exports it all.
EXPORTS = [
    "Accepted", "ApiError", "AppointmentCancellation", "AppointmentFixture", "AsyncClient",
    "CancelgateError", "Client", "ConnectApiError", "Delivery", "DeliveryAttempt", "Event",
    "InProgress", "OAuthError", "PollPolicy", "PollUpdate", "ProtocolError", "SandboxClock",
    "SandboxScenario", "ScenarioCatalogue", "Service", "ServiceCancellation", "ServiceFixture",
    "StreamUpdate", "SubError", "Subscription", "Token", "TransportError", "UxApiError",
    "UxAppointmentFixture", "UxCancellation", "UxErrorItem", "WaitTimeout",
    "WebhookVerificationError", "sign_webhook", "verify_webhook",
]  # fmt: skip
# Builds and installs: generous, but finite.
STEP_TIMEOUT = 300

# Runs the project's PEP 517 backend in the current directory (as a frontend would):
# `requires` prints what its hooks ask for beyond [build-system] requires; `sdist DIR` builds
# the sdist into DIR. The answer is the last line, JSON (backends may print before it).
PEP517 = """
import importlib, json, os, sys, tomllib
with open("pyproject.toml", "rb") as file:
    system = tomllib.load(file).get("build-system", {})
sys.path[:0] = [os.path.abspath(path) for path in system.get("backend-path", [])]
named = system.get("build-backend", "setuptools.build_meta:__legacy__")
module, _, attribute = named.partition(":")
backend = importlib.import_module(module)
for part in filter(None, attribute.split(".")):
    backend = getattr(backend, part)
if sys.argv[1] == "requires":
    answer = [*backend.get_requires_for_build_sdist(), *backend.get_requires_for_build_wheel()]
else:
    answer = backend.build_sdist(sys.argv[2])
print()
print(json.dumps(answer))
"""

# Runs in a fresh environment holding the client and its dependencies alone. Prints one JSON
# line (the last).
SMOKE = """
import importlib.util, json, sys
from importlib import metadata
from pathlib import Path
settings = json.loads(sys.argv[1])
found = {"sys_path": sys.path}
found["cancelgate_found"] = importlib.util.find_spec("cancelgate") is not None
try:
    import cancelgate.settings  # noqa: F401  (the server's: must not be there)
    found["server_importable"] = True
except ImportError:
    found["server_importable"] = False
found["stack_installed"] = [
    name for name in settings["server_stack"] if importlib.util.find_spec(name) is not None
]

import cancelgate_client
from cancelgate_client import Client

found["file"] = cancelgate_client.__file__
found["version"] = cancelgate_client.__version__
found["dist_version"] = metadata.version("cancelgate-client")
found["missing_exports"] = [
    name for name in settings["exports"] if not hasattr(cancelgate_client, name)
]
found["typed"] = (Path(cancelgate_client.__file__).parent / "py.typed").is_file()
with Client(
    settings["url"], client_id=settings["client_id"], client_secret=settings["secret"], timeout=10
) as api:
    token = api.token()
    outcome = api.cancel_appointment(settings["appointment"], wait=True, timeout=30)
    found["token"] = token.access_token
    found["appointment_id"] = outcome.appointment_id
    found["read_back"] = api.appointment_cancellation(outcome.id) == outcome
found["loaded"] = [name for name in settings["server_modules"] if name in sys.modules]
print()
print(json.dumps(found))
"""


# --- processes and environments -------------------------------------------------------------


def run(
    args: Sequence[str | Path], *, cwd: Path, env: dict[str, str], timeout: float = STEP_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion (bounded); fail the test with its output unless it exits 0."""
    done = subprocess.run(
        [str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    shown = " ".join("<script>" if "\n" in str(arg) else str(arg) for arg in args)
    assert done.returncode == 0, f"{shown} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def last_json(done: subprocess.CompletedProcess[str]) -> Any:
    """The JSON of the last line a script printed."""
    return json.loads(done.stdout.strip().splitlines()[-1])


def isolated_env(home: Path) -> dict[str, str]:
    """Our environment without CANCELGATE_* or anything that adds to a Python's path, with a
    config home of its own; pip quiet and non-interactive."""
    env = clean_env(home)
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV"):
        env.pop(name, None)
    env |= {
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_ROOT_USER_ACTION": "ignore",
        "PIP_NO_INPUT": "1",
    }
    return env


def fresh_venv(directory: Path) -> Path:
    """A new virtual environment (no system site-packages, no pip); its python."""
    venv.EnvBuilder(system_site_packages=False, clear=True, symlinks=True, with_pip=False).create(
        directory
    )
    assert "include-system-site-packages = false" in (directory / "pyvenv.cfg").read_text()
    return directory / "bin" / "python"


def site_packages(directory: Path) -> Path:
    """The site-packages of the virtual environment in directory."""
    return (
        directory / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    )


def pip(python: Path, *args: str | Path, cwd: Path, env: dict[str, str]) -> str:
    """The repository's pip, acting on the environment of `python`; its output."""
    done = run([sys.executable, "-m", "pip", "--python", python, *args], cwd=cwd, env=env)
    return done.stdout


def copy_sources(directory: Path, dest: Path, paths: Sequence[str] = (".",)) -> Path:
    """The files under directory that git would ship (tracked, or untracked and not ignored),
    copied to dest with their paths relative to directory; dest. Outside a git work tree (an
    exported copy of the repository), all of them but build leftovers and caches."""
    inside = subprocess.run(
        ["git", "-C", str(directory), "rev-parse", "--is-inside-work-tree"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if inside.returncode != 0:
        dest.mkdir(parents=True)
        leftovers = shutil.ignore_patterns(
            "__pycache__", "*.egg-info", "build", "dist", ".*_cache", ".venv", "var"
        )
        for path in paths:
            source = directory / path
            if source.is_dir():
                shutil.copytree(source, dest / path, ignore=leftovers, dirs_exist_ok=True)
            elif source.is_file():
                shutil.copy2(source, dest / path)
        assert (dest / "pyproject.toml").is_file(), f"no pyproject.toml in {directory}"
        return dest
    listed = run(
        ["git", "-C", directory, "ls-files", "-z", "--cached", "--others", "--exclude-standard",
         "--", *paths],
        cwd=directory, env=dict(os.environ), timeout=60,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = directory / name
        if source.is_file():  # (a tracked file deleted in the work tree is not shipped)
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    assert (dest / "pyproject.toml").is_file(), f"no pyproject.toml among {directory}'s files"
    return dest


# --- building ------------------------------------------------------------------------------


def build_env(project: Path, where: Path, env: dict[str, str]) -> Path:
    """A fresh environment with project's build backend and what its hooks ask for; its python.
    Copied from this environment when it has them all (`make setup` installs the backend:
    offline), else installed from the index (the one step that may go online)."""
    python = fresh_venv(where / "venv")
    site = site_packages(where / "venv")

    def provide(requirements: list[str]) -> None:
        found, lacking = resolve_here(requirements)
        if lacking:
            pip(python, "install", "-q", *requirements, cwd=where, env=env)
        else:
            copy_distributions(found, site)

    with (project / "pyproject.toml").open("rb") as file:
        system = tomllib.load(file).get("build-system", {})
    provide(system.get("requires", ["setuptools"]))
    # The hooks may write into the tree they are asked about: ask a copy of it.
    scratch = where / "scratch"
    shutil.copytree(project, scratch)
    extra = last_json(run([python, "-c", PEP517, "requires"], cwd=scratch, env=env))
    if extra:
        provide(extra)
    return python


def build_wheel(python: Path, project: Path, out: Path, env: dict[str, str]) -> Path:
    """The wheel of project (offline: no index, no isolation, in the build environment)."""
    pip(
        python, "wheel", "--no-deps", "--no-index", "--no-build-isolation",
        "--check-build-dependencies", "--no-cache-dir", "-q", "-w", out, project,
        cwd=out.parent, env=env,
    )  # fmt: skip
    [wheel] = out.glob("*.whl")
    return wheel


def build_sdist(python: Path, project: Path, out: Path, env: dict[str, str]) -> Path:
    """The sdist of project, by its backend's `build_sdist` (PEP 517; no pip, no index)."""
    out.mkdir()
    name: str = last_json(run([python, "-c", PEP517, "sdist", out], cwd=project, env=env))
    return out / name


@dataclass(frozen=True)
class Built:
    """The client's artifacts, all built from a copy of clients/python alone."""

    wheel: Path  # from the directory
    sdist: Path
    sdist_wheel: Path  # from the unpacked sdist


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    base = tmp_path_factory.mktemp("client-build")
    env = isolated_env(base)
    # Three copies of the same files, each alone in its directory: no build sees another's
    # leftovers (build/, *.egg-info), and none can reach ../../src.
    copies = [copy_sources(CLIENT_DIR, base / name / "python") for name in ("b", "w", "s")]
    python = build_env(copies[0], base / "backend", env)
    wheel = build_wheel(python, copies[1], base / "wheel", env)
    sdist = build_sdist(python, copies[2], base / "sdist", env)
    unpacked = base / "unpacked"
    with tarfile.open(sdist) as archive:
        archive.extractall(unpacked, filter="data")
    [top] = unpacked.iterdir()
    sdist_wheel = build_wheel(python, top, base / "sdist-wheel", env)
    return Built(wheel=wheel, sdist=sdist, sdist_wheel=sdist_wheel)


def wheel_files(wheel: Path) -> dict[str, str]:
    """The sha256 of each file of a wheel outside its .dist-info."""
    with zipfile.ZipFile(wheel) as archive:
        return {
            name: hashlib.sha256(archive.read(name)).hexdigest()
            for name in archive.namelist()
            if ".dist-info/" not in name and not name.endswith("/")
        }


def dist_info(wheel: Path, name: str) -> str:
    """A file of a wheel's .dist-info, as text."""
    with zipfile.ZipFile(wheel) as archive:
        [found] = [n for n in archive.namelist() if n.endswith(f".dist-info/{name}")]
        return archive.read(found).decode()


def required_names(meta: str) -> set[str]:
    """The canonical names of a METADATA's Requires-Dist."""
    return {
        canonicalize_name(Requirement(line.split(":", 1)[1]).name)
        for line in meta.splitlines()
        if line.startswith("Requires-Dist:")
    }


def top_level(wheel: Path) -> set[str]:
    """The names a wheel puts at the top of site-packages."""
    with zipfile.ZipFile(wheel) as archive:
        return {name.split("/")[0] for name in archive.namelist()}


# --- installing ----------------------------------------------------------------------------


def dependency_closure(requirements: Sequence[str]) -> list[metadata.Distribution]:
    """The distributions of this (the repository's) environment that satisfy requirements, and
    theirs, recursively (markers and extras evaluated); fails naming any that it lacks."""
    found, problems = resolve_here(requirements)
    assert not problems, problems
    return found


def resolve_here(requirements: Sequence[str]) -> tuple[list[metadata.Distribution], list[str]]:
    """dependency_closure's distributions, and what this environment lacks or has too old."""
    chosen: dict[str, metadata.Distribution] = {}
    extras_of: dict[str, set[str]] = {}
    problems: list[str] = []
    todo = [(Requirement(text), {""}) for text in requirements]
    while todo:
        requirement, extras = todo.pop()
        marker = requirement.marker
        if marker is not None and not any(marker.evaluate({"extra": e}) for e in extras):
            continue
        name = canonicalize_name(requirement.name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{requirement}: not installed in {sys.prefix}")
            continue
        if not requirement.specifier.contains(dist.version, prereleases=True):
            problems.append(f"{requirement}: {sys.prefix} has {dist.version}")
        wanted = {"", *requirement.extras}
        if name in chosen and wanted <= extras_of[name]:
            continue
        chosen[name] = dist
        extras_of[name] = extras_of.get(name, set()) | wanted
        todo.extend((Requirement(text), extras_of[name]) for text in dist.requires or [])
    return list(chosen.values()), problems


def copy_distributions(dists: Sequence[metadata.Distribution], site: Path) -> None:
    """Each distribution's files (those in site-packages, by its RECORD) copied into site."""
    for dist in dists:
        assert dist.files is not None, f"{dist.metadata['Name']} has no RECORD"
        for file in dist.files:
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue  # scripts outside site-packages; bytecode
            source = Path(str(dist.locate_file(file)))
            if source.is_file():
                (site / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, site / file)


def link_repository_packages(site: Path, keep_out: set[str]) -> None:
    """Symlinks in site to this environment's packages, all but the cancelgate distributions,
    pip, .pth files and the names in keep_out (so that no install writes through a link)."""
    ours = Path(sysconfig.get_paths()["purelib"])
    for entry in ours.iterdir():
        name = entry.name
        if (
            name.startswith(("cancelgate", "__editable__", "pip-"))
            or name in {"pip", "__pycache__"} | keep_out
            or name.endswith(".pth")
        ):
            continue
        (site / name).symlink_to(entry)


def installed_record(site: Path, dist_info_glob: str) -> list[Path]:
    """The files an installed distribution's RECORD lists (absolute)."""
    [record] = site.glob(f"{dist_info_glob}/RECORD")
    with record.open(newline="") as file:
        return [Path(os.path.normpath(site / row[0])) for row in csv.reader(file) if row]


@dataclass(frozen=True)
class Installed:
    """A fresh environment holding one built client wheel and its dependencies alone."""

    artifact: str
    directory: Path
    python: Path
    env: dict[str, str]


@pytest.fixture(scope="module", params=["wheel", "sdist_wheel"])
def installed(
    request: pytest.FixtureRequest, built: Built, tmp_path_factory: pytest.TempPathFactory
) -> Installed:
    artifact: str = request.param
    wheel: Path = getattr(built, artifact)
    base = tmp_path_factory.mktemp(f"alone-{artifact}")
    env = isolated_env(base)
    directory = base / "venv"
    python = fresh_venv(directory)
    requires = [
        line.split(":", 1)[1].strip()
        for line in dist_info(wheel, "METADATA").splitlines()
        if line.startswith("Requires-Dist:")
    ]
    copy_distributions(dependency_closure(requires), site_packages(directory))
    # Resolved against what is there, offline: the wheel's requirements are all met.
    pip(python, "install", "--no-index", "-q", wheel, cwd=base, env=env)
    pip(python, "check", cwd=base, env=env)
    return Installed(artifact, directory, python, env)


@pytest.fixture(scope="module")
def server_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's wheel, built like the client's from a copy of its own files."""
    base = tmp_path_factory.mktemp("server-build")
    env = isolated_env(base)
    files = ["pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "setup.cfg", "src"]
    copies = [copy_sources(ROOT, base / name / "server", files) for name in ("b", "w")]
    python = build_env(copies[0], base / "backend", env)
    return build_wheel(python, copies[1], base / "wheel", env)


# --- 1. the artifacts ----------------------------------------------------------------------


def test_wheel_and_sdist_build_from_clients_python_alone(built: Built) -> None:
    """Catches: a build that reaches outside clients/python (the fixture fails); an sdist that
    lacks a source, the README, changelog or py.typed, or whose wheel differs from the
    directory's (e.g. a sync client generated at build time from a source the sdist lacks, or
    a stale generated file shipped in the sdist); a wheel carrying files of the `cancelgate`
    package (the server's) or anything but `cancelgate_client`; the wrong name, version, entry
    point, or a requirement on the server's stack."""
    top = f"{PACKAGE}-{VERSION}"
    assert built.sdist.name == f"{top}.tar.gz"
    with tarfile.open(built.sdist) as archive:
        sdist_names = set(archive.getnames())
    assert all(name == top or name.startswith(f"{top}/") for name in sdist_names)
    for needed in [
        "PKG-INFO", "pyproject.toml", "README.md", "CHANGELOG.md",
        f"src/{PACKAGE}/__init__.py", f"src/{PACKAGE}/py.typed", f"src/{PACKAGE}/cli.py",
    ]:  # fmt: skip
        assert f"{top}/{needed}" in sdist_names, needed

    for wheel in (built.wheel, built.sdist_wheel):
        assert wheel.name == f"{top}-py3-none-any.whl"
        files = wheel_files(wheel)
        assert not [name for name in files if not name.startswith(f"{PACKAGE}/")]
        assert {f"{PACKAGE}/__init__.py", f"{PACKAGE}/py.typed", f"{PACKAGE}/cli.py"} <= set(files)
        assert top_level(wheel) == {PACKAGE, f"{top}.dist-info"}
        meta = dist_info(wheel, "METADATA").splitlines()
        assert f"Name: {DIST}" in meta and f"Version: {VERSION}" in meta
        requires = required_names("\n".join(meta))
        assert {"httpx", "typer"} <= requires
        assert requires.isdisjoint({*SERVER_STACK, "cancelgate", "psycopg"}), requires
        entry_points = dist_info(wheel, "entry_points.txt").splitlines()
        assert "[console_scripts]" in entry_points
        assert f"cancelgate-client = {PACKAGE}.cli:app" in entry_points
    # The sdist is complete: what it builds is what the directory builds, byte for byte.
    assert wheel_files(built.sdist_wheel) == wheel_files(built.wheel)


# --- 2. installed alone, against a live server ----------------------------------------------


async def test_the_client_installed_alone_talks_to_a_live_server(
    installed: Installed, api_server: str, caller: Caller, tmp_path: Path
) -> None:
    """For the wheel and for the wheel built from the sdist. Catches: a dependency missing
    from Requires-Dist (the import or the call fails: only declared ones are installed), a
    module the wheel lacks, an import of the server's (`cancelgate…`) or of its stack, a
    missing export or `__version__`, and a console script that is absent or broken."""
    appointment = await caller.appointment(scenarios.BOOKED)
    settings = {
        "url": api_server,
        "client_id": caller.client_id,
        "secret": caller.client_secret,
        "appointment": appointment.id,
        "server_stack": SERVER_STACK,
        "server_modules": SERVER_MODULES,
        "exports": EXPORTS,
    }
    # -I: nothing of the environment's variables or the current directory on the path.
    done = run([installed.python, "-I", "-c", SMOKE, json.dumps(settings)], cwd=tmp_path,
               env=installed.env, timeout=120)  # fmt: skip
    found: dict[str, Any] = last_json(done)
    site = site_packages(installed.directory)
    assert Path(found["file"]).is_relative_to(site)
    assert not [entry for entry in found["sys_path"] if entry.startswith(str(ROOT))]
    assert found["cancelgate_found"] is False and found["server_importable"] is False
    assert found["stack_installed"] == []
    assert found["version"] == found["dist_version"] == VERSION
    assert found["missing_exports"] == [] and found["typed"] is True
    assert found["token"].count(".") == 2
    assert found["appointment_id"] == appointment.id and found["read_back"] is True
    assert found["loaded"] == []

    script = installed.directory / "bin" / "cancelgate-client"
    assert script.read_text().startswith(f"#!{installed.python}")
    env = {
        **installed.env,
        "CANCELGATE_CLIENT_ID": caller.client_id,
        "CANCELGATE_CLIENT_SECRET": caller.client_secret,
    }
    printed = run([script, "--url", api_server, "token"], cwd=tmp_path, env=env, timeout=60)
    assert printed.stdout.strip().count(".") == 2, printed.stdout


# --- 3. uninstalling the client leaves the server whole --------------------------------------


def test_uninstalling_the_client_leaves_the_server_whole(
    built: Built, server_wheel: Path, database_url: str, tmp_path: Path
) -> None:
    """Catches: the server's wheel shipping any file of the client, or the two wheels owning
    the same file (so that uninstalling the client deletes part of the server); the server not
    requiring `cancelgate-client`; `cancelgate client …` not working with the client installed;
    `cancelgate serve` failing once the client is gone (an import of `cancelgate_client` where
    serve starts, or a server file removed)."""
    assert not [name for name in wheel_files(server_wheel) if name.startswith(f"{PACKAGE}/")]
    assert DIST in required_names(dist_info(server_wheel, "METADATA"))

    env = isolated_env(tmp_path)
    directory = tmp_path / "venv"
    python = fresh_venv(directory)
    site = site_packages(directory)
    link_repository_packages(site, keep_out=top_level(built.wheel) | top_level(server_wheel))
    pip(python, "install", "--no-index", "--no-deps", "-q", built.wheel, cwd=tmp_path, env=env)
    pip(python, "install", "--no-index", "--no-deps", "-q", server_wheel, cwd=tmp_path, env=env)
    server_files = installed_record(site, "cancelgate-*.dist-info")
    client_files = installed_record(site, f"{PACKAGE}-*.dist-info")
    assert set(server_files) & set(client_files) == set()
    assert all(path.exists() for path in server_files)
    helped = run([directory / "bin" / "cancelgate", "client", "--help"], cwd=tmp_path, env=env)
    assert "token" in helped.stdout

    pip(python, "uninstall", "-y", "-q", DIST, cwd=tmp_path, env=env)
    assert [path for path in server_files if not path.exists()] == []
    assert [path for path in client_files if path.is_file()] == []
    where = run(
        [python, "-I", "-c", "import importlib.util, json, cancelgate; print(json.dumps("
         "[cancelgate.__file__, importlib.util.find_spec('cancelgate_client') is None]))"],
        cwd=tmp_path, env=env,
    )  # fmt: skip
    server_file, client_gone = last_json(where)
    assert Path(server_file).is_relative_to(site) and client_gone

    port = free_port()
    log = tmp_path / "serve.log"
    serve_env = {**env, "DATABASE_URL": database_url, "CANCELGATE_DATA_DIR": str(tmp_path / "d")}
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [str(directory / "bin" / "cancelgate"), "serve", "--no-worker", "--port", str(port)],
            cwd=tmp_path, env=serve_env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    serve = Process(proc, log)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=60, proc=proc)
    except (RuntimeError, TimeoutError) as exc:
        pytest.fail(f"{exc}\n{serve.output()[-4000:]}")
    finally:
        serve.stop()


def test_the_repository_environment_has_the_client_as_its_own_distribution() -> None:
    """Catches a development setup (`make setup`) that does not install `cancelgate-client`
    as a distribution of its own, or whose installed client owns files of the `cancelgate`
    package. (That the server requires the client is checked on its built wheel, above: the
    editable install's metadata is only as fresh as the last `make setup`.)"""
    client = metadata.distribution(DIST)
    assert client.version == VERSION
    assert not [f for f in client.files or [] if f.parts[0] in {"cancelgate", "src"}]


# --- 4 and 5. the blocking client ----------------------------------------------------------


@pytest.fixture
def loops_created(monkeypatch: pytest.MonkeyPatch) -> list[asyncio.AbstractEventLoop]:
    """Every event loop created during the test (whatever the thread)."""
    created: list[asyncio.AbstractEventLoop] = []
    original = asyncio.BaseEventLoop.__init__

    def counting(self: asyncio.BaseEventLoop) -> None:
        created.append(self)
        original(self)

    monkeypatch.setattr(asyncio.BaseEventLoop, "__init__", counting)
    return created


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """TimeoutError in the (main) thread still blocked after seconds: a blocking call that
    waits on the loop it blocks would otherwise hang the test run."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class TokenProxy:
    """A token endpoint on 127.0.0.1 that forwards to the server's and counts the requests."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests = 0
        lock = threading.Lock()
        proxy = self

        class Forward(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    proxy.requests += 1
                sent = {
                    name: value
                    for name in ("Authorization", "Content-Type", "Accept")
                    if (value := self.headers.get(name)) is not None
                }
                answer = httpx.post(
                    proxy.upstream + self.path, content=body, headers=sent, timeout=30
                )
                self.send_response(answer.status_code)
                for name in ("Content-Type", "Cache-Control", "Retry-After", "WWW-Authenticate"):
                    if name in answer.headers:
                        self.send_header(name, answer.headers[name])
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self.token_url = f"http://127.0.0.1:{self._server.server_address[1]}/oauth/token"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> TokenProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


async def test_the_blocking_client_inside_a_running_event_loop(
    api_server: str, caller: Caller, loops_created: list[asyncio.AbstractEventLoop]
) -> None:
    """A notebook, or an async framework calling a helper: blocking calls made in the thread
    of a running loop. Catches a Client that runs its calls on an event loop of its own
    (`asyncio.Runner`/`asyncio.run` refuse to run inside a running loop; a loop in another
    thread is counted), and one that waits on the running loop it blocks (the deadline)."""
    appointment = await caller.appointment(scenarios.BOOKED)
    loop = asyncio.get_running_loop()
    with (
        deadline(90),
        Client(
            api_server, client_id=caller.client_id, client_secret=caller.client_secret, timeout=10
        ) as api,
    ):
        token = api.token()
        outcome = api.cancel_appointment(appointment.id, wait=True, timeout=30)
        read_back = api.appointment_cancellation(outcome.id)
        assert asyncio.get_running_loop() is loop and loop.is_running()
    assert token.token_type == "Bearer" and token.access_token.count(".") == 2
    assert isinstance(outcome, AppointmentCancellation)
    assert outcome.appointment_id == appointment.id and read_back == outcome
    assert loops_created == []


@pytest_asyncio.fixture(loop_scope="session")
async def eight_booked(caller: Caller) -> list[int]:
    return [(await caller.appointment(scenarios.BOOKED)).id for _ in range(8)]


def test_one_blocking_client_shared_by_eight_threads(
    api_server: str,
    caller: Caller,
    eight_booked: list[int],
    loops_created: list[asyncio.AbstractEventLoop],
) -> None:
    """Eight threads released together, each waiting for its own cancellation through one
    Client. Catches a Client whose calls share an event loop or runner (not thread-safe:
    "This event loop is already running"), whose connection pool or state breaks under
    concurrent use, that mixes up answers between threads, or whose token cache lets
    concurrent callers each fetch a token (exactly one request reaches the token endpoint)."""
    outcomes: dict[int, AppointmentCancellation] = {}
    errors: list[str] = []
    barrier = threading.Barrier(len(eight_booked), timeout=30)
    with (
        TokenProxy(api_server) as proxy,
        Client(
            api_server, client_id=caller.client_id, client_secret=caller.client_secret,
            token_url=proxy.token_url, timeout=10,
        ) as api,
    ):  # fmt: skip

        def cancel(appointment_id: int) -> None:
            try:
                barrier.wait()
                outcomes[appointment_id] = api.cancel_appointment(
                    appointment_id, wait=True, timeout=60
                )
            except BaseException as exc:  # reported below, whatever it is
                errors.append(f"{appointment_id}: {exc!r}")

        threads = [
            threading.Thread(target=cancel, args=(appointment,), daemon=True, name=f"t{n}")
            for n, appointment in enumerate(eight_booked)
        ]
        for thread in threads:
            thread.start()
        ends = time.monotonic() + 120
        for thread in threads:
            thread.join(max(0.0, ends - time.monotonic()))
        stuck = [thread.name for thread in threads if thread.is_alive()]
        assert errors == [] and stuck == [], (errors, stuck)
        cached = api.token()
    assert sorted(outcomes) == sorted(eight_booked)
    for appointment_id, outcome in outcomes.items():
        assert isinstance(outcome, AppointmentCancellation)
        assert outcome.appointment_id == appointment_id
    assert len({outcome.id for outcome in outcomes.values()}) == 8
    assert cached.access_token.count(".") == 2
    assert proxy.requests == 1
    assert loops_created == []
