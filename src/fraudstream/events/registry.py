"""Schema registries: where Confluent wire-format schema ids come from.

Two implementations of one small protocol:

* :class:`HttpSchemaRegistry` talks to a Confluent-compatible registry
  (Confluent Schema Registry, Karapace, Redpanda, Apicurio's ccompat API) over
  its REST API: ``POST /subjects/{subject}/versions`` to register and
  ``GET /schemas/ids/{id}`` to fetch. Ids are cached both ways, so the hot path
  never touches the network after the first record of each schema.
* :class:`InProcessRegistry` keeps the same mapping in memory, for the embedded
  mode and tests: registering the same schema twice gives the same id.

:func:`open_registry` picks one from :class:`~fraudstream.settings.KafkaSettings`.
Subjects follow Confluent's TopicNameStrategy: ``<topic>-value``.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import httpx

from fraudstream.errors import DecodeError, SchemaRegistryError
from fraudstream.settings import KafkaSettings

logger = logging.getLogger(__name__)

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def subject_for(topic: str, *, key: bool = False) -> str:
    """The TopicNameStrategy subject of ``topic``'s values (or keys)."""
    return f"{topic}-{'key' if key else 'value'}"


def canonical(schema: dict[str, Any] | str) -> str:
    """A stable JSON text of ``schema`` (sorted keys, no spaces) used as the cache key."""
    obj = json.loads(schema) if isinstance(schema, str) else schema
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


@runtime_checkable
class SchemaRegistry(Protocol):
    """Maps schemas to the integer ids of the Confluent wire format."""

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and return its id."""
        ...

    def get_by_id(self, schema_id: int) -> dict[str, Any]:
        """The schema with id ``schema_id``; ``DecodeError`` if there is none."""
        ...


class InProcessRegistry:
    """A thread-safe registry held in memory; ids start at 1.

    Example:
        >>> reg = InProcessRegistry()
        >>> schema = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}
        >>> reg.register("t-value", schema) == reg.register("other-value", schema)
        True
        >>> reg.get_by_id(1)["name"]
        'R'
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[str, int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}
        self._subjects: dict[str, list[int]] = {}

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        text = canonical(schema)
        with self._lock:
            schema_id = self._ids.get(text)
            if schema_id is None:
                schema_id = len(self._ids) + 1
                self._ids[text] = schema_id
                self._schemas[schema_id] = json.loads(text)
            versions = self._subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
            return schema_id

    def get_by_id(self, schema_id: int) -> dict[str, Any]:
        with self._lock:
            schema = self._schemas.get(schema_id)
        if schema is None:
            raise DecodeError(f"unknown schema id {schema_id}")
        return schema

    def subjects(self) -> dict[str, list[int]]:
        """Each subject with its schema ids in registration order."""
        with self._lock:
            return {s: list(v) for s, v in self._subjects.items()}


class HttpSchemaRegistry:
    """Client of a Confluent-compatible schema registry's REST API.

    Example (needs a running registry, so not run as a doctest)::

        reg = HttpSchemaRegistry("http://127.0.0.1:8081")
        schema_id = reg.register("transactions-value", schema_dict("transaction"))

    Args:
        url: base URL, e.g. ``http://127.0.0.1:8081``; ``https://key:secret@host``
            sends basic auth (Confluent Cloud API keys) and is logged without them.
        timeout_s: per-request timeout.
        client: an ``httpx.Client`` to use instead of a new one (tests, auth).
    """

    def __init__(
        self, url: str, *, timeout_s: float = 10.0, client: httpx.Client | None = None
    ) -> None:
        base = httpx.URL(url.rstrip("/"))
        # Credentials in the URL (https://key:secret@host) become basic auth; never log them.
        self.url = str(base.copy_with(username=None, password=None))
        auth = httpx.BasicAuth(base.username, base.password) if base.username else None
        self._client = client or httpx.Client(base_url=self.url, timeout=timeout_s, auth=auth)
        self._owns_client = client is None
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        text = canonical(schema)
        with self._lock:
            cached = self._ids.get((subject, text))
        if cached is not None:
            return cached
        path = f"/subjects/{quote(subject, safe='')}/versions"
        body = self._request("POST", path, json={"schema": text})
        schema_id = body.get("id")
        if not isinstance(schema_id, int):
            raise SchemaRegistryError(f"registry answered {path} without an integer id: {body!r}")
        with self._lock:
            self._ids[(subject, text)] = schema_id
            self._schemas[schema_id] = json.loads(text)
        logger.info("registered schema id=%d subject=%s", schema_id, subject)
        return schema_id

    def get_by_id(self, schema_id: int) -> dict[str, Any]:
        with self._lock:
            cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        body = self._request("GET", f"/schemas/ids/{int(schema_id)}", not_found_id=schema_id)
        try:
            schema: dict[str, Any] = json.loads(body["schema"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaRegistryError(f"registry sent a malformed schema {schema_id}") from exc
        with self._lock:
            self._schemas[schema_id] = schema
        return schema

    def close(self) -> None:
        """Close the HTTP client if this registry created it."""
        if self._owns_client:
            self._client.close()

    def _request(
        self, method: str, path: str, *, json: Any = None, not_found_id: int | None = None
    ) -> dict[str, Any]:
        try:
            resp = self._client.request(
                method, path, json=json, headers={"Content-Type": _CONTENT_TYPE}
            )
        except httpx.HTTPError as exc:
            raise SchemaRegistryError(
                f"schema registry {self.url} unreachable on {method} {path}: {exc}"
            ) from exc
        if resp.status_code == 404 and not_found_id is not None:
            raise DecodeError(f"unknown schema id {not_found_id} (registry {self.url})")
        if resp.status_code >= 400:
            raise SchemaRegistryError(
                f"schema registry {method} {path} failed with HTTP {resp.status_code}: "
                f"{resp.text[:500]}"
            )
        try:
            body = resp.json()
        except ValueError as exc:
            raise SchemaRegistryError(f"schema registry {method} {path} sent non-JSON") from exc
        if not isinstance(body, dict):
            raise SchemaRegistryError(f"schema registry {method} {path} sent {body!r}")
        return body


def open_registry(kafka: KafkaSettings) -> SchemaRegistry:
    """An HTTP registry when ``kafka.schema_registry_url`` is set, else an in-process one."""
    if kafka.schema_registry_url:
        return HttpSchemaRegistry(kafka.schema_registry_url)
    return InProcessRegistry()
