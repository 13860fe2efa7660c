"""The feature contract: one ordered, versioned feature list for training and serving.

Training (``offline_features``) and serving (``OnlineFeatures.transform``) both
produce a matrix whose columns are :data:`FEATURE_NAMES`, in that order. Any change
to the list, to a feature's meaning or to an encoding bumps
:data:`FEATURE_CONTRACT_VERSION`; a model records the version it was trained on and
the detector refuses a model whose version differs.

Ground truth travels with simulated and replayed transactions for evaluation only:
:data:`LEAKAGE_FIELDS` are removed by :func:`strip_leakage` before anything is scored.

Conventions every window feature follows (both paths):

* time is the event time in ms, made monotone per key
  (``t_eff = max(event_time, latest t_eff of the key)``) so late events never see
  the future;
* a window of ``w`` seconds covers the key's events with ``t_eff`` in
  ``(t - w, t]`` that came *before or at* this transaction in processing order:
  the current transaction counts itself (``count_by_card_1h >= 1``);
* "history" features (``amount_zscore_by_card``, ``history_count_by_card``, the
  ``is_new_*`` flags, ``seconds_since_prev_by_card``) look at strictly earlier
  transactions of the card only;
* a missing key (no device, no IP) gives NaN, which models treat as missing and
  rules treat as "condition false".
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

FEATURE_CONTRACT_VERSION = "fc-1"

STATELESS_FEATURES: tuple[str, ...] = (
    "amount",
    "amount_log",
    "hour_of_day",
    "day_of_week",
    "is_night",
    "is_weekend",
    "is_whole_amount",
    "is_round_amount",
    "is_micro_amount",
    "is_cross_border",
    "is_currency_mismatch",
    "merchant_category_code",
    "merchant_country_code",
    "customer_country_code",
    "channel_code",
    "tx_type_code",
    "has_device",
    "has_ip",
)

# Window keys: feature-name suffix -> transaction field.
WINDOW_KEYS: tuple[tuple[str, str], ...] = (
    ("card", "card_id"),
    ("account", "account_id"),
    ("device", "device_id"),
    ("ip", "ip_address"),
)
# Window name -> length in seconds.
WINDOWS: tuple[tuple[str, int], ...] = (("1m", 60), ("1h", 3_600), ("24h", 86_400))
# Longest window: state older than this (relative to the key's latest event) is dropped.
MAX_WINDOW_SECONDS = max(s for _, s in WINDOWS)

WINDOW_FEATURES: tuple[str, ...] = tuple(
    f"{agg}_by_{key}_{win}"
    for key, _ in WINDOW_KEYS
    for agg in ("count", "amount_sum")
    for win, _ in WINDOWS
)

CARD_HISTORY_FEATURES: tuple[str, ...] = (
    "history_count_by_card",
    "amount_zscore_by_card",
    "distinct_merchants_by_card_1h",
    "distinct_countries_by_card_1h",
    "is_new_device_for_card",
    "is_new_country_for_card",
    "seconds_since_prev_by_card",
)

FEATURE_NAMES: tuple[str, ...] = STATELESS_FEATURES + WINDOW_FEATURES + CARD_HISTORY_FEATURES
FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}

# Fields that know the future (labels, scenario names, analyst verdicts): never inputs.
LEAKAGE_FIELDS: frozenset[str] = frozenset(
    {"is_fraud", "fraud_scenario", "label", "verdict", "isFraud", "isFlaggedFraud", "Class"}
)

# Fixed vocabularies: 0 is the "unknown" bucket, so unseen values are tolerated.
CHANNELS: tuple[str, ...] = ("POS", "ECOM", "ATM", "TRANSFER")
TX_TYPES: tuple[str, ...] = ("PURCHASE", "TRANSFER", "CASH_OUT")
CHANNEL_CODES = {v: i + 1 for i, v in enumerate(CHANNELS)}
TX_TYPE_CODES = {v: i + 1 for i, v in enumerate(TX_TYPES)}

# Currency of a country (ISO 3166-1 alpha-2 -> ISO 4217); unknown countries give NaN.
_EUR = ("AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR", "IE", "IT", "LT", "LU")
_EUR2 = ("LV", "MT", "NL", "PT", "SI", "SK")
COUNTRY_CURRENCY: dict[str, str] = {c: "EUR" for c in _EUR + _EUR2} | {
    "US": "USD",
    "GB": "GBP",
    "CA": "CAD",
    "AU": "AUD",
    "NZ": "NZD",
    "CH": "CHF",
    "SG": "SGD",
    "JP": "JPY",
    "CN": "CNY",
    "IN": "INR",
    "BR": "BRL",
    "MX": "MXN",
    "SE": "SEK",
    "NO": "NOK",
    "DK": "DKK",
    "PL": "PLN",
    "CZ": "CZK",
    "HU": "HUF",
    "ZA": "ZAR",
    "HK": "HKD",
    "KR": "KRW",
    "AE": "AED",
    "TR": "TRY",
    "NG": "NGN",
    "RU": "RUB",
}

HASH_BUCKETS = 4096


def stable_code(value: Any, buckets: int = HASH_BUCKETS) -> int:
    """A stable small integer code for a category: CRC-32 bucket in ``1..buckets``, 0 if None.

    Stable across processes and Python versions (unlike ``hash``), so a model trained
    today reads the same codes tomorrow, and unseen categories still get a code.

    Example:
        >>> stable_code("grocery") == stable_code("grocery"), stable_code(None)
        (True, 0)
    """
    if value is None:
        return 0
    return zlib.crc32(str(value).encode()) % buckets + 1


def stable_hash64(value: Any) -> int:
    """A stable 63-bit hash of a key value (0 means missing), for compact state.

    Example:
        >>> stable_hash64("dev-1") == stable_hash64("dev-1") != stable_hash64("dev-2")
        True
    """
    if value is None:
        return 0
    data = str(value).encode()
    return ((zlib.crc32(data) << 31) ^ zlib.adler32(data)) & 0x7FFF_FFFF_FFFF_FFFF or 1


def strip_leakage(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` without the fields that know the ground truth.

    Example:
        >>> strip_leakage({"amount": 5.0, "is_fraud": True, "fraud_scenario": "x"})
        {'amount': 5.0}
    """
    return {k: v for k, v in record.items() if k not in LEAKAGE_FIELDS}
