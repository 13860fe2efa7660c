"""Domain validation of transactions: values a schema cannot express.

A record can fit ``transaction.avsc`` and still be nonsense: a negative or
NaN amount, three decimals, an unknown currency or country, a channel we do
not know, a timestamp far in the future. :func:`validate_transaction` rejects
those with :class:`~fraudstream.errors.ValidationError` naming the field;
:func:`validate_transactions` does a batch with the numeric checks vectorised
and returns one error (or ``None``) per record, for the dead-letter router.

Example:
    >>> rec = {"transaction_id": "t1", "event_time": 1_700_000_000_000, "card_id": "c",
    ...        "account_id": "a", "customer_id": "u", "merchant_id": "m",
    ...        "merchant_category": "grocery", "merchant_country": "FR",
    ...        "customer_country": "FR", "amount": 12.5, "currency": "EUR",
    ...        "channel": "POS", "tx_type": "PURCHASE"}
    >>> validate_transaction(rec, now_ms=1_700_000_000_000)
    >>> validate_transaction(dict(rec, currency="EUX"), now_ms=1_700_000_000_000)
    Traceback (most recent call last):
    ...
    fraudstream.errors.ValidationError: currency: unknown ISO 4217 currency 'EUX'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fraudstream.errors import ValidationError

KEY_FIELDS = (
    "transaction_id",
    "card_id",
    "account_id",
    "customer_id",
    "merchant_id",
    "merchant_category",
)
CHANNELS = frozenset({"POS", "ECOM", "ATM", "TRANSFER"})
TX_TYPES = frozenset({"PURCHASE", "TRANSFER", "CASH_OUT"})


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


# ISO 4217 codes of currencies in circulation (funds, metals and test codes left out).
CURRENCIES = _codes(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD
    BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB
    EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD
    JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK
    MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
    PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL
    THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG
    XOF XPF YER ZAR ZMW ZWG ZWL"""
)

# ISO 3166-1 alpha-2, plus XK (Kosovo), which card networks use.
COUNTRIES = _codes(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN
    BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE
    DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN
    GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE
    KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK
    ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA
    PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK
    SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG
    UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK"""
)


@dataclass(frozen=True, slots=True)
class TransactionLimits:
    """Bounds of a plausible transaction.

    Attributes:
        max_future_ms: how far ``event_time`` may be ahead of the clock (skew).
        min_event_time_ms: older than this is absurd (default 2000-01-01 UTC;
            dataset replays are years old, so this is a floor, not a window).
        max_amount: larger amounts are rejected.
        max_id_length: longest accepted id string.
    """

    max_future_ms: int = 5 * 60_000
    min_event_time_ms: int = 946_684_800_000
    max_amount: float = 1e9
    max_id_length: int = 256


DEFAULT_LIMITS = TransactionLimits()


def validate_transaction(
    rec: dict[str, Any], now_ms: int, limits: TransactionLimits = DEFAULT_LIMITS
) -> None:
    """Raise :class:`ValidationError` (with ``field``) for the first implausible value."""
    for name in KEY_FIELDS:
        value = rec.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ValidationError("missing or empty", field=name)
        if len(value) > limits.max_id_length:
            raise ValidationError(f"longer than {limits.max_id_length} characters", field=name)
    _check_amount(rec.get("amount"), limits)
    currency = rec.get("currency")
    if currency not in CURRENCIES:
        raise ValidationError(f"unknown ISO 4217 currency {currency!r}", field="currency")
    for name in ("merchant_country", "customer_country"):
        if rec.get(name) not in COUNTRIES:
            raise ValidationError(f"unknown ISO 3166 country {rec.get(name)!r}", field=name)
    if rec.get("channel") not in CHANNELS:
        raise ValidationError(
            f"{rec.get('channel')!r} is not one of {sorted(CHANNELS)}", field="channel"
        )
    if rec.get("tx_type") not in TX_TYPES:
        raise ValidationError(
            f"{rec.get('tx_type')!r} is not one of {sorted(TX_TYPES)}", field="tx_type"
        )
    _check_time(rec.get("event_time"), now_ms, limits)


def validate_transactions(
    records: Sequence[dict[str, Any]], now_ms: int, limits: TransactionLimits = DEFAULT_LIMITS
) -> list[ValidationError | None]:
    """Validate a batch: one error or ``None`` per record, never raises.

    The numeric checks run as numpy masks over the batch; only records that
    fail one, or whose categorical fields are off, go through the scalar path
    (which yields the same first error :func:`validate_transaction` would).
    """
    n = len(records)
    if n == 0:
        return []
    amounts = np.array([_num(r.get("amount")) for r in records], dtype=np.float64)
    times = np.array([_num(r.get("event_time")) for r in records], dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        suspect = _numeric_suspects(amounts, times, now_ms, limits)
    out: list[ValidationError | None] = [None] * n
    for i, rec in enumerate(records):
        if suspect[i] or not _categoricals_ok(rec, limits):
            try:
                validate_transaction(rec, now_ms, limits)
            except ValidationError as exc:
                out[i] = exc
    return out


def _numeric_suspects(
    amounts: np.ndarray, times: np.ndarray, now_ms: int, limits: TransactionLimits
) -> np.ndarray:
    cents = amounts * 100.0
    mask: np.ndarray = (
        ~np.isfinite(amounts)
        | (amounts <= 0.0)
        | (amounts > limits.max_amount)
        | (np.abs(cents - np.round(cents)) > 1e-6 * np.maximum(1.0, cents))
        | ~np.isfinite(times)
        | (times > now_ms + limits.max_future_ms)
        | (times < limits.min_event_time_ms)
    )
    return mask


def _categoricals_ok(rec: dict[str, Any], limits: TransactionLimits) -> bool:
    for name in KEY_FIELDS:
        value = rec.get(name)
        if not isinstance(value, str) or not value.strip() or len(value) > limits.max_id_length:
            return False
    return (
        rec.get("currency") in CURRENCIES
        and rec.get("merchant_country") in COUNTRIES
        and rec.get("customer_country") in COUNTRIES
        and rec.get("channel") in CHANNELS
        and rec.get("tx_type") in TX_TYPES
        and isinstance(rec.get("event_time"), int)
        and isinstance(rec.get("amount"), int | float)
    )


def _num(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def _check_amount(amount: Any, limits: TransactionLimits) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise ValidationError(f"expected a number, got {type(amount).__name__}", field="amount")
    if not math.isfinite(amount):
        raise ValidationError(f"{amount} is not a finite number", field="amount")
    if amount <= 0:
        raise ValidationError(f"{amount} is not positive", field="amount")
    if amount > limits.max_amount:
        raise ValidationError(f"{amount} exceeds {limits.max_amount}", field="amount")
    cents = amount * 100.0
    if abs(cents - round(cents)) > 1e-6 * max(1.0, cents):
        raise ValidationError(f"{amount} has more than two decimals", field="amount")


def _check_time(event_time: Any, now_ms: int, limits: TransactionLimits) -> None:
    if isinstance(event_time, bool) or not isinstance(event_time, int):
        raise ValidationError("expected epoch milliseconds", field="event_time")
    if event_time > now_ms + limits.max_future_ms:
        ahead_s = (event_time - now_ms) / 1000
        raise ValidationError(f"{ahead_s:.0f} s in the future", field="event_time")
    if event_time < limits.min_event_time_ms:
        raise ValidationError(f"{event_time} is implausibly old", field="event_time")
