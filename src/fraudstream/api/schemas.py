"""Request and response bodies, named on a Base / Create / Public grid.

``*Create`` is what a caller sends, ``*Public`` what the API returns; shared
fields live in ``*Base``. Every request model forbids unknown fields and bounds
every string, so bad input is a 422 with the field's name, never a 500 from
the database. Card numbers are ``SecretStr``: they never appear in a repr, a
log line or an error body.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from ipaddress import ip_address
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from fraudstream.api.security import luhn_ok
from fraudstream.events.validate import COUNTRIES, CURRENCIES

# Ids: printable ASCII without spaces, so they are safe in URLs, logs and every database.
Ident = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[!-~]+$")]
# Free text: no NUL (PostgreSQL refuses it) and bounded.
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=r"^[^\x00]+$")]


def _currency(v: str) -> str:
    if v not in CURRENCIES:
        raise ValueError(f"unknown ISO 4217 currency {v!r}")
    return v


def _country(v: str) -> str:
    if v not in COUNTRIES:
        raise ValueError(f"unknown ISO 3166-1 alpha-2 country {v!r}")
    return v


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_currency)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$"), AfterValidator(_country)]


_IPV4_CANONICAL = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
)


def _ip(v: str) -> str:
    # A canonical dotted quad is already what ipaddress would give back: one regex match
    # instead of a parse. Anything else is parsed once and returned in canonical text
    # (what is stored and published). An IPv4Address | IPv6Address union parsed every
    # IPv4 as IPv6 first, a measurable share of the ingest path's CPU.
    if _IPV4_CANONICAL.fullmatch(v):
        return v
    try:
        return str(ip_address(v))
    except ValueError:
        raise ValueError("value is not a valid IPv4 or IPv6 address") from None


IpAddress = Annotated[
    str,
    AfterValidator(_ip),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "ipv4"}, {"type": "string", "format": "ipv6"}]}
    ),
]
Amount = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2, allow_inf_nan=False)]

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=False)


class PaymentBase(BaseModel):
    """Fields of a payment shared by requests and responses."""

    model_config = _STRICT

    amount: Amount = Field(description="Amount in currency units, > 0, at most two decimals.")
    currency: Currency = Field(description="ISO 4217 code, e.g. EUR.")
    merchant_id: Ident
    merchant_category: Ident = "other"
    merchant_country: Country
    customer_country: Country
    customer_id: Ident
    account_id: Ident
    channel: Literal["POS", "ECOM", "ATM", "TRANSFER"] = "ECOM"
    tx_type: Literal["PURCHASE", "TRANSFER", "CASH_OUT"] = "PURCHASE"
    device_id: Ident | None = None
    ip_address: IpAddress | None = None
    counterparty_account_id: Ident | None = None
    event_time: AwareDatetime | None = Field(
        None, description="When the payment happened (default: when it was received)."
    )


class PaymentCreate(PaymentBase):
    """A payment to ingest: exactly one of ``card_number`` (a PAN) or ``card_token``.

    Example:
        >>> p = PaymentCreate(amount="12.50", currency="EUR", merchant_id="m1",
        ...     merchant_country="FR", customer_country="FR", customer_id="u1",
        ...     account_id="a1", card_number="4242424242424242")
        >>> p.card_number
        SecretStr('**********')
    """

    card_number: SecretStr | None = Field(
        None, description="12-19 digits passing the Luhn check; hashed, never stored."
    )
    card_token: (
        Annotated[
            str, StringConstraints(min_length=4, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$")
        ]
        | None
    ) = Field(None, description="An opaque card token (alternative to card_number).")

    @field_validator("card_number")
    @classmethod
    def _pan(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return v
        pan = v.get_secret_value()
        if not (12 <= len(pan) <= 19 and pan.isascii() and pan.isdigit()):
            raise ValueError("must be 12 to 19 digits")
        if not luhn_ok(pan):
            raise ValueError("fails the Luhn check")
        return v

    @model_validator(mode="after")
    def _one_card(self) -> PaymentCreate:
        if (self.card_number is None) == (self.card_token is None):
            raise ValueError("send exactly one of card_number or card_token")
        return self


class PaymentItemCreate(PaymentCreate):
    """One payment of a batch; ``idempotency_key`` replaces the header per item."""

    idempotency_key: (
        Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[!-~]+$")] | None
    ) = None


class PaymentBatchCreate(BaseModel):
    """Bulk ingest: up to ``api.max_batch_payments`` payments in one request."""

    model_config = _STRICT

    payments: list[PaymentItemCreate] = Field(min_length=1)


class PaymentAccepted(BaseModel):
    """The answer to an accepted payment (202)."""

    payment_id: str
    status: Literal["RECEIVED"] = "RECEIVED"
    replayed: bool = Field(False, description="True when an Idempotency-Key was seen before.")
    error: str | None = Field(
        None, description="Batch items only: why this item was not accepted (key reused)."
    )


class PaymentBatchAccepted(BaseModel):
    """The answer to a batch: one entry per payment, in order."""

    payments: list[PaymentAccepted]


class ScorePublic(BaseModel):
    """A scoring decision."""

    model_config = ConfigDict(from_attributes=True)

    transaction_id: str
    fraud_score: float
    risk_level: str
    action: str
    reasons: list[str]
    model_version: str
    scored_at: datetime | None = None


class PaymentPublic(BaseModel):
    """A stored payment and, once the stream scored it, its score."""

    model_config = ConfigDict(from_attributes=True)

    payment_id: str
    transaction_id: str
    status: Literal["RECEIVED", "SCORED"]
    amount: Decimal
    currency: str
    merchant_id: str
    card_last4: str | None
    created_at: datetime
    score: ScorePublic | None = None


class CaseBrief(BaseModel):
    """The case opened for an alert."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    status: str
    assignee: str | None
    verdict: str | None


class AlertPublic(BaseModel):
    """An alert with its case."""

    model_config = ConfigDict(from_attributes=True)

    transaction_id: str
    card_id: str | None
    amount: float | None
    fraud_score: float
    risk_level: str
    action: str
    reasons: list[str]
    model_version: str
    created_at: datetime
    case: CaseBrief | None = None


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a listing."""

    items: list[T]
    total: int
    limit: int
    offset: int


class CaseNotePublic(BaseModel):
    """A note on a case."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    author: str
    body: str
    created_at: datetime


class CasePublic(CaseBrief):
    """A case with its notes."""

    transaction_id: str
    created_at: datetime
    updated_at: datetime
    notes: list[CaseNotePublic] = Field(default_factory=list)


class CaseAssign(BaseModel):
    """Assign a case to an analyst."""

    model_config = _STRICT

    assignee: Ident


class CaseStatusUpdate(BaseModel):
    """Move a case through its workflow."""

    model_config = _STRICT

    status: Literal["OPEN", "IN_REVIEW", "CLOSED"]


class CaseVerdict(BaseModel):
    """Record the analyst's verdict; closes the case and publishes feedback."""

    model_config = _STRICT

    verdict: Literal["FRAUD", "LEGITIMATE"]


class CaseNoteCreate(BaseModel):
    """Append a note to a case."""

    model_config = _STRICT

    body: Text


class AuditEventPublic(BaseModel):
    """Who changed what, from which value to which, and when."""

    model_config = ConfigDict(from_attributes=True)

    actor: str
    entity: str
    entity_id: str
    field: str
    old_value: str | None
    new_value: str | None
    at: datetime


class FeedbackCreate(BaseModel):
    """An analyst's verdict on a transaction (the analyst is the API key's name)."""

    model_config = _STRICT

    transaction_id: Ident
    label: Literal["fraud", "legitimate"]
    comment: Text | None = None


class FeedbackAccepted(BaseModel):
    """Feedback published to the ``feedback`` topic (202)."""

    transaction_id: str
    label: str
    analyst: str


class FieldErrorPublic(BaseModel):
    """One invalid field of a request."""

    field: str
    reason: str


class ErrorPublic(BaseModel):
    """The body of every 4xx and 5xx answer."""

    error: str = Field(description="A stable reason code, e.g. validation_failed.")
    detail: str = Field(description="What was wrong, in words.")
    fields: list[FieldErrorPublic] | None = None
