"""Events as columns, and their conversion to ``transaction.avsc`` records.

The generator works on :class:`Columns` (one numpy array per field, entity
numbers instead of strings) and turns them into dicts only at the end, so
everything before that is vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from fraudstream.generate.population import (
    CATEGORY_NAMES,
    CHANNELS,
    COUNTRY_CODES,
    COUNTRY_CURRENCY,
    TX_TYPES,
    Population,
)

SCENARIOS: tuple[str, ...] = (
    "card_testing",
    "account_takeover",
    "stolen_card_spree",
    "fraud_ring",
    "mule_chain",
    "high_amount",
)
SCENARIO_CODE = {name: i + 1 for i, name in enumerate(SCENARIOS)}
_SCENARIO_LABEL = np.array([None, *SCENARIOS], dtype=object)
_IS_FRAUD = np.array([False, True], dtype=object)
NO_DEVICE = -1  # device column value for POS / ATM events
NO_IP = 0  # ip column value for events without an IP
NO_ACCOUNT = -1  # counterparty column value for non-transfers
DEVICE_SCRAMBLE = 0x9E3779B97F4A7C15  # odd: a bijection on device numbers mod 2**40


@dataclass
class Columns:
    """A set of events, one array per field (all the same length).

    ``card``/``merchant``/``counterparty`` are entity numbers of the population;
    ``device`` is a device number (``NO_DEVICE``), ``ip`` an IPv4 as uint32
    (``NO_IP``), ``scenario`` 0 for legitimate events or ``SCENARIO_CODE``.

    Example:
        >>> c = Columns.empty()
        >>> len(Columns.concat([c, c]))
        0
    """

    t: np.ndarray
    card: np.ndarray
    merchant: np.ndarray
    amount: np.ndarray
    channel: np.ndarray
    tx_type: np.ndarray
    device: np.ndarray
    ip: np.ndarray
    counterparty: np.ndarray
    scenario: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    @classmethod
    def empty(cls) -> Columns:
        return cls.build(0, t=np.zeros(0, np.int64))

    @classmethod
    def build(cls, n: int, **given: Any) -> Columns:
        """Columns of length ``n``: given values (arrays or scalars) and defaults."""
        defaults: dict[str, tuple[Any, Any]] = {
            "t": (0, np.int64),
            "card": (0, np.int64),
            "merchant": (0, np.int64),
            "amount": (0.0, np.float64),
            "channel": (0, np.int8),
            "tx_type": (0, np.int8),
            "device": (NO_DEVICE, np.int64),
            "ip": (NO_IP, np.uint32),
            "counterparty": (NO_ACCOUNT, np.int64),
            "scenario": (0, np.int8),
        }
        out = {}
        for name, (fill, dtype) in defaults.items():
            value = given.get(name, fill)
            arr = np.asarray(value, dtype=dtype)
            out[name] = np.full(n, arr, dtype=dtype) if arr.ndim == 0 else arr
        return cls(**out)

    @classmethod
    def concat(cls, parts: list[Columns]) -> Columns:
        if not parts:
            return cls.empty()
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )

    def take(self, index: np.ndarray) -> Columns:
        return Columns(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


class IdTables:
    """String ids of a population's entities, built once per generator.

    Example:
        >>> from fraudstream.generate.population import Population
        >>> ids = IdTables(Population.build(seed=1, n_customers=100, n_merchants=300))
        >>> ids.card_ids[0], ids.ip_strings(np.array([0, (81 << 24) + 1], dtype=np.uint32)).tolist()
        ('card_000000', [None, '81.0.0.1'])
    """

    def __init__(self, pop: Population) -> None:
        self.pop = pop
        self.card_ids = np.array([f"card_{i:06d}" for i in range(pop.n_cards)], dtype=object)
        self.customer_ids = np.array(
            [f"cust_{i:06d}" for i in range(pop.n_customers)], dtype=object
        )
        self.account_ids = np.array([f"acct_{i:06d}" for i in range(pop.n_customers)], dtype=object)
        self.merchant_ids = np.array(
            [f"merch_{i:05d}" for i in range(pop.n_merchants)], dtype=object
        )
        self._devices: dict[int, str] = {}
        self._ips: dict[int, str] = {}

    def device_strings(self, device: np.ndarray) -> np.ndarray:
        uniq, inverse = np.unique(device, return_inverse=True)
        # An odd multiplier is a bijection mod 2**40: ids look random whatever the
        # device's origin (usual, newly bought or a fraudster's), and never collide.
        scrambled = (uniq.astype(np.uint64) * np.uint64(DEVICE_SCRAMBLE)) & np.uint64((1 << 40) - 1)
        cache = self._devices
        out = []
        for d, x in zip(uniq.tolist(), scrambled.tolist(), strict=True):
            s = cache.get(d)
            if s is None:
                s = None if d < 0 else f"dev_{x:010x}"
                if len(cache) < 2_000_000:
                    cache[d] = s  # type: ignore[assignment]
            out.append(s)
        return np.array(out, dtype=object)[inverse]

    def ip_strings(self, ip: np.ndarray) -> np.ndarray:
        uniq, inverse = np.unique(ip, return_inverse=True)
        cache = self._ips
        out = []
        for x in uniq.tolist():
            s = cache.get(x)
            if s is None:
                s = None if x == 0 else f"{x >> 24}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255}"
                if len(cache) < 2_000_000:
                    cache[x] = s  # type: ignore[assignment]
            out.append(s)
        return np.array(out, dtype=object)[inverse]

    def to_records(self, cols: Columns, tx_ids: list[str]) -> list[dict[str, Any]]:
        """Materialise ``cols`` as ``transaction.avsc`` dicts, in column order."""
        pop = self.pop
        customer = pop.card_customer[cols.card]
        m_country = pop.merchant_country[cols.merchant]
        cp = cols.counterparty
        counterparty = np.full(len(cp), None, dtype=object)
        has_cp = cp >= 0
        counterparty[has_cp] = self.account_ids[cp[has_cp]]
        fraud = cols.scenario > 0
        rows = zip(
            tx_ids,
            cols.t.tolist(),
            self.card_ids[cols.card].tolist(),
            self.account_ids[customer].tolist(),
            self.customer_ids[customer].tolist(),
            self.merchant_ids[cols.merchant].tolist(),
            CATEGORY_NAMES[pop.merchant_category[cols.merchant]].tolist(),
            COUNTRY_CODES[m_country].tolist(),
            COUNTRY_CODES[pop.customer_country[customer]].tolist(),
            np.round(cols.amount, 2).tolist(),
            COUNTRY_CURRENCY[m_country].tolist(),
            CHANNELS[cols.channel].tolist(),
            TX_TYPES[cols.tx_type].tolist(),
            self.device_strings(cols.device).tolist(),
            self.ip_strings(cols.ip).tolist(),
            counterparty.tolist(),
            pop.card_last4[cols.card].tolist(),
            _IS_FRAUD[fraud.astype(np.int8)].tolist(),
            _SCENARIO_LABEL[cols.scenario].tolist(),
            strict=True,
        )
        return [
            {
                "transaction_id": a,
                "event_time": b,
                "card_id": c,
                "account_id": d,
                "customer_id": e,
                "merchant_id": f,
                "merchant_category": g,
                "merchant_country": h,
                "customer_country": i,
                "amount": j,
                "currency": k,
                "channel": ch,
                "tx_type": m,
                "device_id": n,
                "ip_address": o,
                "counterparty_account_id": p,
                "card_last4": q,
                "is_fraud": r,
                "fraud_scenario": s,
            }
            for a, b, c, d, e, f, g, h, i, j, k, ch, m, n, o, p, q, r, s in rows
        ]
