"""OpenAPI descriptions for bodies that routers read themselves (to control error order)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """An `openapi_extra` that documents a required JSON body of this model."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }
