"""JSON encoding of contract payloads (orjson)."""

import json
from typing import Any

import orjson
from pydantic import BaseModel


def dumps(payload: BaseModel | dict[str, Any]) -> bytes:
    """Encode a payload model or a plain dict as compact JSON bytes."""
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json", exclude_none=True)
    return orjson.dumps(payload)


def loads(raw: bytes | str) -> Any:
    """Decode JSON; raises ValueError on malformed input.

    Non-standard tokens some devices emit (NaN, Infinity, 1e999) are decoded rather than failing the
    whole payload, so that validation can reject just the record that holds them.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)
