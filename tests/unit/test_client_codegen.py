"""The blocking `Client` is generated from `AsyncClient` (clients/python/generate_sync.py): the
generator's rules, the generated file current, and the two clients' public surfaces the same."""

from __future__ import annotations

import inspect
import runpy
from pathlib import Path
from types import SimpleNamespace

from cancelgate_client import AsyncClient, Client

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"


def generator() -> SimpleNamespace:
    """generate_sync.py's functions (a script beside the package, not part of it)."""
    return SimpleNamespace(**runpy.run_path(str(CLIENT / "generate_sync.py")))


def body(generated: str) -> str:
    """The generated text without the header that says where it comes from."""
    return generated.split("\n", 2)[2]


def test_async_and_await_go_and_the_listed_names_are_swapped() -> None:
    source = (
        "async def aclose(self) -> None:\n"
        "    async with self._token_lock:\n"
        "        await async_sleep(1)\n"
        "    async for line in got.aiter_lines():\n"
        "        x = (await self._http.aclose())\n"
        "    return httpx.AsyncClient()\n"
    )
    assert body(generator().unasync(source)) == (
        "def close(self) -> None:\n"
        "    with self._token_lock:\n"
        "        sync_sleep(1)\n"
        "    for line in got.iter_lines():\n"
        "        x = (self._http.close())\n"
        "    return httpx.Client()\n"
    )


def test_strings_comments_and_other_names_are_left_alone() -> None:
    source = (
        'NAME = "AsyncClient aclose await"  # AsyncClient, await\n'
        "asyncio_thing = AsyncClientish + f'{aclose}'\n"
    )
    assert body(generator().unasync(source)) == source


def test_the_generated_client_is_current() -> None:
    """What `make` and the build write; stale, it means the async client changed since."""
    assert generator().current(), "run: python clients/python/generate_sync.py"


def public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") or name in ("__init__",)
    }


def test_both_clients_have_the_same_operations_with_the_same_parameters() -> None:
    sync, asynchronous = public(Client), public(AsyncClient)
    renamed = {"aclose": "close"}
    assert {renamed.get(name, name) for name in asynchronous} == set(sync)
    for name, signature in asynchronous.items():
        assert list(signature.parameters) == list(sync[renamed.get(name, name)].parameters), name
    assert all(inspect.iscoroutinefunction(getattr(Client, name)) is False for name in sync)
    assert inspect.isasyncgenfunction(AsyncClient.stream_events)
    assert inspect.isgeneratorfunction(Client.stream_events)
