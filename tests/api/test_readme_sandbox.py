"""The README's "Testing your integration" run works as written, and twice in a row."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from tests.api.conftest import Caller

README = Path(__file__).resolve().parents[2] / "README.md"


def sandbox_example() -> str:
    """The Python block of the README's "Testing your integration" section."""
    section = README.read_text().split("## Testing your integration", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the section shows a Python run"
    return match.group(1)


async def test_the_readmes_sandbox_run_passes_twice(caller: Caller) -> None:
    code = compile(sandbox_example(), str(README), "exec")
    names = {
        "BASE_URL": str(caller.http.base_url).rstrip("/"),
        "CLIENT_ID": caller.client_id,
        "CLIENT_SECRET": caller.client_secret,
    }
    for _ in range(2):  # fixtures on demand: the second run needs no restart
        # The blocking client must not run on the event loop's thread.
        await asyncio.to_thread(exec, code, dict(names))
