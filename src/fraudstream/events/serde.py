"""Avro serialization in the Confluent wire format.

Every value on a fraudstream topic is ``0x00`` (magic byte), the schema id as
a 4-byte big-endian integer, then the Avro binary body (no container header).
Any Confluent-compatible consumer can read it with the registry's schema.

:class:`AvroSerde` registers its schema once (subject ``<topic>-value``),
encodes with a codec generated for the schema (:mod:`fraudstream.events.codec`;
fastavro for anything it does not support) and names the offending field only
on the error path, so valid records pay nothing for good error messages.
Records written with another version of the schema (another id) are read
with fastavro's schema resolution against the writer schema from the registry.
"""

from __future__ import annotations

import io
import logging
import struct
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, cast

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.validation import ValidationError as FastavroValidationError
from fastavro.validation import validate

from fraudstream.errors import DecodeError, RecordError, SchemaValidationError
from fraudstream.events.codec import Codec, CodecError, compile_codec
from fraudstream.events.contracts import (
    load_reader_schema,
    load_schema,
    schema_dict,
    strip_logical_types,
)
from fraudstream.events.registry import SchemaRegistry

logger = logging.getLogger(__name__)

MAGIC_BYTE = 0
HEADER_SIZE = 5
# What a malformed body can make the generated decoder or fastavro raise.
_DECODE_FAILURES = (
    IndexError,
    struct.error,
    CodecError,
    UnicodeDecodeError,
    ValueError,
    OverflowError,
    EOFError,
    TypeError,
    KeyError,
    MemoryError,
)


@cache
def codec_for(schema_name: str) -> Codec | None:
    """The generated codec of a packaged schema (cached)."""
    return compile_codec(schema_dict(schema_name))


def check_record(schema_name: str, record: Any) -> None:
    """Raise :class:`SchemaValidationError` naming the field if ``record`` does not fit.

    Example:
        >>> check_record("feedback", {"transaction_id": "t1", "label": "maybe",
        ...     "analyst": "ann", "created_at": 0})
        Traceback (most recent call last):
        ...
        fraudstream.errors.SchemaValidationError: label: ...
    """
    codec = codec_for(schema_name)
    try:
        if codec is None:
            schemaless_writer(io.BytesIO(), load_schema(schema_name), record)
        else:
            codec.encode(record, bytearray())
    except Exception as exc:
        raise _invalid(schema_name, codec, record, exc) from exc


class AvroSerde:
    """Encode and decode one record type in the Confluent wire format.

    Args:
        schema_name: a name from :mod:`fraudstream.events.contracts`.
        registry: where the schema id comes from (registered here, once).
        subject: the registry subject, normally ``<topic>-value``.

    Example:
        >>> from fraudstream.events.registry import InProcessRegistry
        >>> serde = AvroSerde("feedback", InProcessRegistry(), "feedback-value")
        >>> rec = {"transaction_id": "t1", "label": "fraud", "analyst": "ann",
        ...        "comment": None, "created_at": 1700000000000}
        >>> data = serde.encode(rec)
        >>> data[:5], serde.decode(data) == rec
        (b'\\x00\\x00\\x00\\x00\\x01', True)
    """

    def __init__(self, schema_name: str, registry: SchemaRegistry, subject: str) -> None:
        self.schema_name = schema_name
        self.subject = subject
        self._registry = registry
        self._parsed = load_schema(schema_name)
        self._reader = load_reader_schema(schema_name)
        self._codec = codec_for(schema_name)
        self._fast = self._codec.decode if self._codec is not None else None
        self.schema_id = registry.register(subject, schema_dict(schema_name))
        self._header = bytes([MAGIC_BYTE]) + self.schema_id.to_bytes(4, "big")
        self._writers: dict[int, dict[str, Any]] = {}

    # -- encoding
    def encode(self, record: dict[str, Any]) -> bytes:
        """One record as wire-format bytes; :class:`SchemaValidationError` if it does not fit."""
        codec = self._codec
        try:
            if codec is not None:
                return bytes(codec.encode(record, bytearray(self._header)))
            buf = io.BytesIO()
            buf.write(self._header)
            schemaless_writer(buf, self._parsed, record)
            return buf.getvalue()
        except Exception as exc:
            raise _invalid(self.schema_name, codec, record, exc) from exc

    def encode_many(self, records: Iterable[dict[str, Any]]) -> list[bytes]:
        """Encode every record; the first invalid one raises (its index is in the message)."""
        out = []
        for i, rec in enumerate(records):
            try:
                out.append(self.encode(rec))
            except SchemaValidationError as exc:
                raise SchemaValidationError(f"record {i}: {exc.message}", field=exc.field) from exc
        return out

    # -- decoding
    def decode(self, data: bytes | bytearray | memoryview | None) -> dict[str, Any]:
        """One record from wire-format bytes; :class:`DecodeError` for anything unreadable.

        ``timestamp-millis`` fields come back as epoch-millisecond ints.
        """
        # Fast path: our own schema id, read by the generated codec.
        if self._fast is not None and data.__class__ is bytes and data[:5] == self._header:
            try:
                return self._fast(data, HEADER_SIZE)
            except _DECODE_FAILURES as exc:
                raise self._malformed(self.schema_id, exc) from exc
        return self._decode_slow(data)

    def _decode_slow(self, data: bytes | bytearray | memoryview | None) -> dict[str, Any]:
        if data is None:
            raise DecodeError("no value (tombstone)")
        if not isinstance(data, bytes):
            data = bytes(data)
        if len(data) < HEADER_SIZE:
            raise DecodeError(f"{len(data)} bytes is shorter than the 5-byte wire-format header")
        if data[0] != MAGIC_BYTE:
            raise DecodeError(f"magic byte is {data[0]}, not 0: not Confluent wire format")
        schema_id = int.from_bytes(data[1:5], "big")
        try:
            if schema_id == self.schema_id and self._fast is not None:
                return self._fast(data, HEADER_SIZE)
            return self._read_foreign(schema_id, data)
        except SchemaResolutionError as exc:
            raise DecodeError(
                f"schema id {schema_id} is not a readable version of {self.schema_name}"
            ) from exc
        except _DECODE_FAILURES as exc:
            raise self._malformed(schema_id, exc) from exc

    def _malformed(self, schema_id: int, exc: Exception) -> DecodeError:
        return DecodeError(
            f"schema id {schema_id}: malformed {self.schema_name} body "
            f"({type(exc).__name__}: {str(exc)[:200]})"
        )

    def decode_many(
        self, datas: Sequence[bytes | None]
    ) -> tuple[list[dict[str, Any] | None], list[RecordError | None]]:
        """Decode a batch; never raises for a bad record.

        Returns two lists as long as ``datas``: the record or ``None``, and
        ``None`` or the error that goes into the dead-letter record.
        """
        n = len(datas)
        records: list[dict[str, Any] | None] = [None] * n
        errors: list[RecordError | None] = [None] * n
        fast, header, slow = self._fast, self._header, self._decode_slow
        for i, data in enumerate(datas):
            # the fast path of decode(), inlined: no method call per record
            try:
                if fast is not None and data.__class__ is bytes and data[:5] == header:
                    records[i] = fast(data, HEADER_SIZE)
                else:
                    records[i] = slow(data)
            except RecordError as exc:
                errors[i] = exc
            except _DECODE_FAILURES as exc:
                errors[i] = self._malformed(self.schema_id, exc)
        return records, errors

    def _read_foreign(self, schema_id: int, data: bytes) -> dict[str, Any]:
        writer = self._writers.get(schema_id)
        if writer is None:
            raw = self._registry.get_by_id(schema_id)  # DecodeError when unknown
            writer = cast(dict[str, Any], parse_schema(strip_logical_types(raw), named_schemas={}))
            self._writers[schema_id] = writer
            logger.info("reading %s with writer schema id=%d", self.schema_name, schema_id)
        buf = io.BytesIO(data)
        buf.seek(HEADER_SIZE)
        reader = None if schema_id == self.schema_id else self._reader
        rec = schemaless_reader(buf, writer, reader)
        if buf.tell() != len(data):
            raise CodecError(f"{len(data) - buf.tell()} trailing bytes")
        if not isinstance(rec, dict):
            raise CodecError("body is not a record")
        return rec


def _invalid(
    schema_name: str, codec: Codec | None, record: Any, exc: Exception
) -> SchemaValidationError:
    """Turn a failed encode into an error that names the field (slow path only)."""
    if not isinstance(record, dict):
        return SchemaValidationError(f"expected a record (dict), got {type(record).__name__}")
    parsed = load_schema(schema_name)
    prefix = parsed["name"] + "."
    try:
        validate(record, parsed, raise_errors=True)
    except FastavroValidationError as verr:
        first = verr.errors[0]
        path = str(first.field or "")
        field = path.removeprefix(prefix) if path else None
        expected = " or ".join(_describe(e.schema) for e in verr.errors if e.field == first.field)
        got = (
            "missing"
            if first.datum is None
            else f"{first.datum!r:.80} ({type(first.datum).__name__})"
        )
        return SchemaValidationError(
            f"does not fit schema {schema_name}: {got}, expected {expected}", field=field
        )
    except Exception as verr:  # validate itself choked on the value
        logger.debug("fastavro validate raised %r", verr)
    field = codec.field_at(exc) if codec is not None else None
    return SchemaValidationError(
        f"does not fit schema {schema_name}: {type(exc).__name__}: {exc}", field=field
    )


def _describe(schema: Any) -> str:
    """A short human description of an Avro type, for error messages."""
    if isinstance(schema, list):
        return " or ".join(_describe(s) for s in schema)
    if isinstance(schema, dict):
        if schema.get("logicalType") == "timestamp-millis":
            return "timestamp-millis (int epoch ms or aware datetime)"
        kind = schema.get("type")
        if kind == "enum":
            return "one of " + ", ".join(schema["symbols"])
        if kind == "array":
            return f"array of {_describe(schema['items'])}"
        if kind == "map":
            return f"map of {_describe(schema['values'])}"
        return str(schema.get("name", kind))
    return str(schema)
