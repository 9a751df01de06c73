"""Writes the blocking client, `cancelgate_client/_sync_client.py`, from the async one.

`Client` is `AsyncClient` without `async` and `await`, and with the names of SYNC_NAMES in place
of theirs (whole names only: strings and comments stay as written). The approach of httpcore's
`unasync`, in a few lines of `tokenize`, so that building the client needs nothing but
setuptools. The build (`setup.py`) runs it, into the wheel or, for an editable install, into the
source tree, where the generated file is ignored by git; `make` runs it when the async client
changes. `python generate_sync.py --check` says whether the file in the source tree is current.
"""

from __future__ import annotations

import io
import sys
import tokenize
from pathlib import Path

SOURCE = "cancelgate_client/_async_client.py"
TARGET = "cancelgate_client/_sync_client.py"
HERE = Path(__file__).resolve().parent / "src"

SYNC_NAMES = {
    "AsyncClient": "Client",  # the driver's own class, and httpx's
    "AsyncGenerator": "Generator",
    "AsyncLock": "SyncLock",
    "async_sleep": "sync_sleep",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "aclose": "close",
    "aread": "read",
    "aiter_lines": "iter_lines",
}
DROPPED = frozenset({"async", "await"})
HEADER = (
    "# Generated from _async_client.py by clients/python/generate_sync.py: edit that file, not\n"
    "# this one (the build, and `make`, write it again).\n"
)
# Python 3.12 tokenizes f-strings: names inside them are text, left alone like other strings.
FSTRING_START = getattr(tokenize, "FSTRING_START", None)
FSTRING_END = getattr(tokenize, "FSTRING_END", None)


def unasync(source: str) -> str:
    """The source with `async`/`await` (and the space after them) dropped, names renamed."""
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    out: list[str] = []
    cursor = 0
    in_fstring = 0
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == FSTRING_START:
            in_fstring += 1
        elif token.type == FSTRING_END:
            in_fstring -= 1
        if token.type != tokenize.NAME or in_fstring:
            continue
        if token.string not in DROPPED and token.string not in SYNC_NAMES:
            continue
        start = starts[token.start[0] - 1] + token.start[1]
        end = starts[token.end[0] - 1] + token.end[1]
        out.append(source[cursor:start])
        if token.string in DROPPED:
            while source[end : end + 1] == " ":
                end += 1
        else:
            out.append(SYNC_NAMES[token.string])
        cursor = end
    out.append(source[cursor:])
    return HEADER + "".join(out)


def generate(source_root: Path, target_root: Path) -> Path:
    """`TARGET` under `target_root`, from `SOURCE` under `source_root` (each a `src` folder)."""
    text = unasync((source_root / SOURCE).read_text(encoding="utf-8"))
    target = target_root / TARGET
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    return target


def current(root: Path = HERE) -> bool:
    """Whether the generated file under `root` is what the async client gives now."""
    target = root / TARGET
    expected = unasync((root / SOURCE).read_text(encoding="utf-8"))
    return target.exists() and target.read_text(encoding="utf-8") == expected


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        if not current():
            sys.exit(f"{HERE / TARGET} is out of date: run python {Path(__file__).name}")
    else:
        print(generate(HERE, HERE))
