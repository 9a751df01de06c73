"""Strict JSON for request bodies: what `json.loads` lets through but no field may hold
(NaN, Infinity, NUL, unpaired surrogates) is refused along with what it refuses."""

from __future__ import annotations

import json
from typing import Any


class NotJson(ValueError):
    """The body is not a JSON document this API accepts; the message says why."""


def _reject_constant(name: str) -> float:
    raise NotJson(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise NotJson(f"number out of range: {text}")
    return value


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise NotJson("strings must not contain NUL (\\u0000)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NotJson("strings must not contain unpaired surrogates") from None


def _check_strings(document: Any) -> None:
    # Iterative: the parser has already bounded the depth, this adds no recursion of its own.
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key)
                pending.append(item)
        elif isinstance(value, list):
            pending.extend(value)


def parse_json(raw: bytes) -> Any:
    """The document in raw (UTF-8), or NotJson with the reason."""
    try:
        document = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except NotJson:
        raise
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotJson(str(exc)) from None
    except RecursionError:
        raise NotJson("the document is nested too deeply") from None
    _check_strings(document)
    return document


def single(values: list[str]) -> str | None:
    """The value of a header sent exactly once; None when absent or repeated."""
    return values[0] if len(values) == 1 else None
