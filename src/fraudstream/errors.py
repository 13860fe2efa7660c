"""The one error tree of fraudstream.

Every error the library raises on purpose derives from :class:`FraudstreamError`.
Domain errors know the HTTP status they map to (the API has a single exception
handler that reads ``http_status``) and, for records, the reason code that goes
into a dead-letter record.

Tree::

    FraudstreamError
    ├── ConfigError                 bad or missing configuration (start-up)
    ├── RecordError                 one record is bad: it goes to the dead-letter topic
    │   ├── DecodeError             bytes that are not a record of the expected schema
    │   ├── SchemaValidationError   a record that does not fit its Avro schema (names the field)
    │   └── ValidationError         a well-formed record with values the domain rejects
    ├── ScoringError                scoring one record raised
    ├── BusError                    the message bus failed
    │   ├── RetriableBusError       try the same call again
    │   ├── AbortableTransactionError   abort the transaction, rewind, go on
    │   └── FatalBusError           stop this worker (fenced producer, fatal librdkafka error)
    │       └── ProducerFencedError another worker took over our transactional id
    ├── SchemaRegistryError         the schema registry is unreachable or refused a request
    ├── StoreError                  the database failed (the sink backs off and retries)
    ├── NotFoundError               404
    ├── ConflictError               409
    ├── NotReadyError               503 (a service part is not loaded, e.g. no detector)
    ├── AuthError                   401 (no or unknown API key)
    └── ForbiddenError              403 (key lacks the role)
"""

from __future__ import annotations


class FraudstreamError(Exception):
    """Base of every error fraudstream raises on purpose."""

    http_status: int = 500
    reason_code: str = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(FraudstreamError):
    """Configuration is missing, malformed or names an unknown implementation."""

    reason_code = "config_error"


class RecordError(FraudstreamError):
    """A single input record is unusable; it belongs in the dead-letter topic.

    Attributes:
        field: the offending field's name, when one field is to blame.
    """

    http_status = 422
    reason_code = "invalid_record"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message if field is None else f"{field}: {message}")
        self.field = field


class DecodeError(RecordError):
    """The bytes could not be decoded (bad magic byte, unknown schema id, truncated Avro...)."""

    http_status = 400
    reason_code = "undecodable"


class SchemaValidationError(RecordError):
    """A record does not satisfy its Avro schema; ``field`` names the first bad field."""

    reason_code = "schema_invalid"


class ValidationError(RecordError):
    """A well-formed record whose values the domain rejects (negative amount, bad currency)."""

    reason_code = "validation_failed"


class ScoringError(FraudstreamError):
    """Scoring a record raised; the record is dead-lettered, the stream goes on."""

    reason_code = "scoring_failed"


class BusError(FraudstreamError):
    """The message bus (Kafka or the in-process bus) failed."""

    http_status = 503
    reason_code = "bus_error"


class RetriableBusError(BusError):
    """A transient failure: the same call may succeed if retried."""


class AbortableTransactionError(BusError):
    """The open transaction must be aborted and the consumer rewound to committed offsets."""


class FatalBusError(BusError):
    """The worker cannot go on (fatal producer error); it must stop cleanly."""


class ProducerFencedError(FatalBusError):
    """A newer producer with the same transactional id exists; this one is a zombie."""


class SchemaRegistryError(FraudstreamError):
    """The schema registry is unreachable or answered an error (not a bad record)."""

    http_status = 503
    reason_code = "schema_registry_error"


class StoreError(FraudstreamError):
    """The database is unreachable or refused a write."""

    http_status = 503
    reason_code = "store_error"


class NotFoundError(FraudstreamError):
    """The requested object does not exist."""

    http_status = 404
    reason_code = "not_found"


class ConflictError(FraudstreamError):
    """The request conflicts with the current state (an idempotency key reused)."""

    http_status = 409
    reason_code = "conflict"


class NotReadyError(FraudstreamError):
    """A part the request needs is not available (no detector loaded, shutting down)."""

    http_status = 503
    reason_code = "not_ready"


class AuthError(FraudstreamError):
    """No API key, or one we do not know."""

    http_status = 401
    reason_code = "unauthenticated"


class ForbiddenError(FraudstreamError):
    """The API key is valid but lacks the role the route needs."""

    http_status = 403
    reason_code = "forbidden"
