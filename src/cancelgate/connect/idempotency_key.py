"""The `Idempotency-Key` header's syntax: one source for the middleware that reads it and the
OpenAPI document that describes it."""

from __future__ import annotations

import re

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
# Visible ASCII only: a key is an opaque token (the draft recommends a UUID).
KEY_PATTERN = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}")
