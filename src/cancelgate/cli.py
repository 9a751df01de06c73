"""The `cancelgate` command: serve, worker, migrate, clients, operators, simulator, client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import uvicorn

from cancelgate.logs import configure_logging
from cancelgate.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

try:  # `cancelgate client …` is the client distribution's command (cancelgate-client)
    from cancelgate_client.cli import app as client_app
except ImportError:  # the client uninstalled: the server's own commands still run
    client_app = None  # type: ignore[assignment]

app = typer.Typer(help="cancelgate: Connect API and UX API for telecom cancellations.")
clients_app = typer.Typer(help="Manage API clients.")
app.add_typer(clients_app, name="clients")
channels_app = typer.Typer(help="Manage UX API channel clients.")
app.add_typer(channels_app, name="channel-clients")
operators_app = typer.Typer(help="Manage the console's operators.")
app.add_typer(operators_app, name="operators")
if client_app is not None:
    app.add_typer(client_app, name="client")

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Where the embedded database and demo.json live.")
]


def _settings(data_dir: Path | None) -> Settings:
    settings = get_settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    configure_logging(settings.log_level, json=settings.log_json)
    return settings


def _database_url(settings: Settings) -> str:
    from cancelgate.db.engine import resolve_database_url

    return resolve_database_url(settings)


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Bring the database to the current schema (and create the installation's keys)."""
    from cancelgate.migrate import upgrade

    settings = _settings(data_dir)
    upgrade(_database_url(settings))
    typer.echo("database is up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data_dir: DataDir = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Seed the sandbox, write demo.json.")
    ] = False,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not process jobs in the API processes.")
    ] = False,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="API processes sharing the port.")
    ] = 1,
) -> None:
    """Serve the API (with an in-process job worker unless --no-worker); migrates first."""
    from cancelgate.app import create_app
    from cancelgate.db.embedded import release_embedded
    from cancelgate.migrate import upgrade

    settings = _settings(data_dir)
    url = _database_url(settings)
    upgrade(url)
    overrides: dict[str, object] = {"database_url": url, "data_dir": settings.data_dir}
    if demo:
        overrides |= {"sandbox": True, "webhook_allow_insecure": True}
    if no_worker:
        overrides["in_process_worker"] = False
    settings = settings.model_copy(update=overrides)
    try:
        if demo:
            base_url = settings.public_base_url or f"http://{host}:{port}"
            asyncio.run(_seed_demo(settings, base_url))
        if workers == 1:
            api = create_app(settings)
            uvicorn.run(api, host=host, port=port, log_config=None, timeout_graceful_shutdown=30)
        else:
            # Each worker process builds the app from the environment: hand it our overrides
            # (one embedded server, started here, serves them all).
            os.environ.update(_environment(overrides))
            with _metrics_shared(settings.metrics):
                uvicorn.run(
                    "cancelgate.app:app_from_environment",
                    factory=True,
                    workers=workers,
                    host=host,
                    port=port,
                    log_config=None,
                    timeout_graceful_shutdown=30,
                )
    finally:
        release_embedded()


@contextlib.contextmanager
def _metrics_shared(on: bool) -> Iterator[None]:
    """While metrics are on, the API processes of `serve --workers N` share theirs through a
    clean directory of this run (prometheus-client's multiprocess mode, which each process
    enters as it starts, seeing PROMETHEUS_MULTIPROC_DIR): any one of them answers a scrape for
    all."""
    if not on:
        yield
        return
    from cancelgate.observability.metrics import MULTIPROC_ENV, multiprocess_directory

    with multiprocess_directory() as directory:
        os.environ[MULTIPROC_ENV] = str(directory)
        yield


def _environment(overrides: dict[str, object]) -> dict[str, str]:
    """Settings overrides as the environment variables that carry them to child processes."""
    names = {"database_url": "DATABASE_URL"}
    return {
        names.get(key, f"CANCELGATE_{key.upper()}"): str(value).lower()
        if isinstance(value, bool)
        else str(value)
        for key, value in overrides.items()
    }


async def _seed_demo(settings: Settings, base_url: str) -> None:
    """Seed the sandbox once, before any API process starts, and print how to call it."""
    from cancelgate.app import load_tasks
    from cancelgate.demo.banner import demo_banner
    from cancelgate.demo.seed import seed_demo

    # Fixtures defer jobs (a service's scheduled submission): their tasks must be known.
    load_tasks()
    # For every process of the installation, the separate workers included.
    await _set_sandbox(_database_url(settings), True)
    demo = await seed_demo(settings, _database_url(settings), base_url)
    typer.echo(demo_banner(demo, str(settings.data_dir / "demo.json")))


async def _set_sandbox(url: str, on: bool) -> None:
    from cancelgate.db.database import Database
    from cancelgate.installation import set_sandbox

    database = Database(url, size=1, name="cancelgate-cli")
    await database.open()
    try:
        await set_sandbox(database, on)
    finally:
        await database.close()


@app.command()
def sandbox(
    state: Annotated[str, typer.Argument(help="on or off")],
    data_dir: DataDir = None,
) -> None:
    """Turn the installation's sandbox on or off (processes started afterwards follow)."""
    if state not in ("on", "off"):
        raise typer.BadParameter("say on or off")
    settings = _settings(data_dir)
    asyncio.run(_set_sandbox(_database_url(settings), state == "on"))
    typer.echo(f"sandbox {state}: restart the installation's processes to apply it")


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Jobs processed at once.")] = 10,
    data_dir: DataDir = None,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve GET /metrics on this port.")
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Interface for --metrics-port.")
    ] = "127.0.0.1",
) -> None:
    """Process jobs until SIGTERM/SIGINT (finishing the ones in hand)."""
    from cancelgate.app import load_tasks
    from cancelgate.metrics_app import serving_metrics
    from cancelgate.observability.tracing import configure_from_environment, shutdown
    from cancelgate.runtime import open_runtime
    from cancelgate.worker import run_worker

    settings = _settings(data_dir)
    load_tasks()
    # Traces, if the OTEL_* variables ask for them; exported on the way out.
    configure_from_environment()

    async def main() -> None:
        runtime = await open_runtime(settings)
        try:
            async with serving_metrics(runtime, host=metrics_host, port=metrics_port):
                await run_worker(runtime, concurrency=concurrency, install_signal_handlers=True)
        finally:
            await runtime.close()

    try:
        asyncio.run(main())
    finally:
        shutdown()


@app.command()
def simulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
    data_dir: DataDir = None,
) -> None:
    """Serve the built-in nbn over HTTP (for CANCELGATE_NBN_MODE=http)."""
    from cancelgate.observability.tracing import configure_from_environment, instrument_app
    from cancelgate.upstream.nbn.server import create_simulator_app

    settings = _settings(data_dir)
    url = _database_url(settings)
    simulated = create_simulator_app(settings, url)
    # Traced like the API when the OTEL_* variables ask: its spans join the caller's trace.
    configure_from_environment()
    instrument_app(simulated)
    uvicorn.run(simulated, host=host, port=port, log_config=None)


async def _create_and_print(
    settings: Settings, create: Callable[[AsyncSession, bytes], Awaitable[object]]
) -> None:
    """Create credentials with the installation's pepper and print them (shown this once)."""
    from cancelgate.db.engine import make_engine, make_sessionmaker
    from cancelgate.keys import instance_keys_in

    engine = make_engine(_database_url(settings), pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            keys = await instance_keys_in(session)
            created = await create(session, keys.pepper)
            await session.commit()
    finally:
        await engine.dispose()
    typer.echo(json.dumps(created.__dict__, indent=2))


@clients_app.command("create")
def clients_create(
    tenant: Annotated[str, typer.Option(help="Tenant name (created if new).")],
    jwks_file: Annotated[
        Path | None, typer.Option(help="JWK Set of the client's public keys (private_key_jwt).")
    ] = None,
    name: Annotated[str, typer.Option(help="Display name of the API user.")] = "API User",
    email: Annotated[str, typer.Option(help="Email of the API user.")] = "api@example.com",
    data_dir: DataDir = None,
) -> None:
    """Create a client and print its id and secret (the secret is shown only this once)."""
    from cancelgate.auth.clients import create_client

    settings = _settings(data_dir)
    jwks = None
    if jwks_file is not None:
        try:
            jwks = json.loads(jwks_file.read_text())
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(f"cannot read {jwks_file}: {exc}") from exc

    async def create(session: AsyncSession, pepper: bytes) -> object:
        return await create_client(
            session, pepper, tenant=tenant, display_name=name, email=email, jwks=jwks
        )

    try:
        asyncio.run(_create_and_print(settings, create))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@channels_app.command("create")
def channel_clients_create(
    business_units: Annotated[
        str, typer.Option(help="Comma-separated business units it may use, e.g. PR,JM.")
    ],
    name: Annotated[str, typer.Option(help="Name of the channel.")] = "channel",
    data_dir: DataDir = None,
) -> None:
    """Create a UX API channel client and print its client_id and client_secret (shown once)."""
    from cancelgate.ux.clients import create_channel_client, parse_business_units

    settings = _settings(data_dir)
    try:
        units = parse_business_units(business_units, settings.ux_business_units)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc

    async def create(session: AsyncSession, pepper: bytes) -> object:
        return await create_channel_client(session, pepper, name=name, business_units=units)

    asyncio.run(_create_and_print(settings, create))


@operators_app.command("create")
def operators_create(
    email: Annotated[str, typer.Option(help="The operator's email (their login).")],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from stdin (else generated)."),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Create a console operator and print their email and password (shown only this once)."""
    from cancelgate.console.operators import create_operator

    settings = _settings(data_dir)
    password = sys.stdin.read().rstrip("\r\n") if password_stdin else None

    async def create(session: AsyncSession, pepper: bytes) -> object:
        return await create_operator(session, email=email, password=password)

    try:
        asyncio.run(_create_and_print(settings, create))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
