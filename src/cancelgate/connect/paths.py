"""Path variables parsed the way the reference (Java) implementation parses them."""

from __future__ import annotations

import re

from cancelgate.connect.errors import type_mismatch

_JAVA_INT = re.compile(r"[+-]?[0-9]+")
INT_MIN = -(2**31)
INT_MAX = 2**31 - 1


def parse_java_int(value: str) -> int | None:
    """The value as Java's Integer.parseInt reads it, or None where that would throw."""
    if not _JAVA_INT.fullmatch(value):
        return None
    number = int(value)
    if not INT_MIN <= number <= INT_MAX:
        return None
    return number


def path_id(value: str) -> int:
    """An integer path id, or the documented 400 `method.argument.type.mismatch`."""
    number = parse_java_int(value)
    if number is None:
        raise type_mismatch(value)
    return number
