"""The event contracts: the Avro schemas shipped in ``events/schemas/``.

Every topic carries one record type; its schema is a ``.avsc`` file in the
package and this module is the one way to load it. Names are constants so a
typo fails at import time rather than at the first record.

Example:
    >>> schema = load_schema(TRANSACTION)
    >>> schema["name"]
    'fraudstream.events.Transaction'
    >>> timestamp_fields(USER_EVENT)
    ('event_timestamp',)
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any, cast

from fastavro import parse_schema

from fraudstream.errors import ConfigError

TRANSACTION = "transaction"
SCORED_TRANSACTION = "scored_transaction"
ALERT = "alert"
FEEDBACK = "feedback"
DEAD_LETTER = "dead_letter"
USER_EVENT = "user_event"
SCORED_USER_EVENT = "scored_user_event"

SCHEMA_NAMES: tuple[str, ...] = (
    TRANSACTION,
    SCORED_TRANSACTION,
    ALERT,
    FEEDBACK,
    DEAD_LETTER,
    USER_EVENT,
    SCORED_USER_EVENT,
)


@cache
def schema_text(name: str) -> str:
    """The ``.avsc`` source of schema ``name`` (what gets registered)."""
    if name not in SCHEMA_NAMES:
        raise ConfigError(f"unknown schema {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    return resources.files("fraudstream.events").joinpath(f"schemas/{name}.avsc").read_text()


def schema_dict(name: str) -> dict[str, Any]:
    """A fresh, unparsed copy of schema ``name`` as a dict."""
    parsed: dict[str, Any] = json.loads(schema_text(name))
    return parsed


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Schema ``name`` parsed by fastavro (cached; treat it as read-only)."""
    return cast(dict[str, Any], parse_schema(schema_dict(name), named_schemas={}))


@cache
def load_reader_schema(name: str) -> dict[str, Any]:
    """Schema ``name`` parsed with logical types removed.

    Reading with it yields ``timestamp-millis`` fields as epoch-millisecond ints
    (what the columnar batches want) instead of ``datetime`` objects; the bytes
    on the wire are the same.
    """
    stripped = strip_logical_types(schema_dict(name))
    return cast(dict[str, Any], parse_schema(stripped, named_schemas={}))


def strip_logical_types(schema: Any) -> Any:
    """A copy of ``schema`` with every ``logicalType`` annotation dropped."""
    schema = copy.deepcopy(schema)
    return _strip(schema)


def _strip(node: Any) -> Any:
    if isinstance(node, list):
        return [_strip(n) for n in node]
    if not isinstance(node, dict):
        return node
    if "logicalType" in node and node.get("type") in ("long", "int"):
        return node["type"]
    out = {k: v for k, v in node.items() if k != "logicalType"}
    if "fields" in out:
        out["fields"] = [dict(f, type=_strip(f["type"])) for f in out["fields"]]
    for key in ("items", "values"):
        if key in out:
            out[key] = _strip(out[key])
    return out


@cache
def timestamp_fields(name: str) -> tuple[str, ...]:
    """Top-level fields of ``name`` that are ``timestamp-millis`` (nullable or not)."""
    return tuple(f["name"] for f in schema_dict(name)["fields"] if _is_ts(f["type"]))


@cache
def bytes_fields(name: str) -> tuple[str, ...]:
    """Top-level fields of ``name`` whose type is (nullable) ``bytes``."""
    out = []
    for f in schema_dict(name)["fields"]:
        types = f["type"] if isinstance(f["type"], list) else [f["type"]]
        if "bytes" in types:
            out.append(f["name"])
    return tuple(out)


@cache
def double_fields(name: str) -> tuple[str, ...]:
    """Top-level fields of ``name`` whose type is (nullable) ``double`` or ``float``."""
    out = []
    for f in schema_dict(name)["fields"]:
        types = f["type"] if isinstance(f["type"], list) else [f["type"]]
        if "double" in types or "float" in types:
            out.append(f["name"])
    return tuple(out)


@cache
def field_names(name: str) -> tuple[str, ...]:
    """Top-level field names of ``name`` in schema order."""
    return tuple(f["name"] for f in schema_dict(name)["fields"])


def _is_ts(node: Any) -> bool:
    if isinstance(node, list):
        return any(_is_ts(n) for n in node)
    return isinstance(node, dict) and node.get("logicalType") == "timestamp-millis"
