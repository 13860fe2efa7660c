"""Columnar Avro encoding of generated transactions (the generator's hot path).

Encoding a dict per record costs more than generating it. Generated events are
made of a few entities (cards, merchants, devices, IPs) seen again and again,
so this encoder writes each entity's Avro bytes once, keeps them in tables, and
builds a record's body by joining table entries with the few per-record parts
(transaction id, event time, amount) encoded for a whole chunk with numpy.

The bytes are the Confluent wire format of ``transaction.avsc`` with the schema
id an :class:`~fraudstream.events.serde.AvroSerde` registered, identical byte
for byte to ``AvroSerde.encode`` of the same record (a unit test checks it), so
any consumer decodes them with the serde.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fraudstream.generate.columns import DEVICE_SCRAMBLE, SCENARIOS, Columns, IdTables
from fraudstream.generate.population import (
    CATEGORY_NAMES,
    CHANNELS,
    COUNTRY_CODES,
    COUNTRY_CURRENCY,
    TX_TYPES,
)

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_SHIFTS = np.arange(60, -1, -4, dtype=np.uint64)  # 16 hex digits, most significant first
_VARINT_WIDTH = 10  # bytes of the longest zig-zag varint of a long
_NULL = b"\x00"
_SOME = b"\x02"  # union branch 1 ("string"/"boolean" after "null")


def zigzag(n: int) -> bytes:
    """Avro's zig-zag varint of a long.

    Example:
        >>> zigzag(0), zigzag(-1), zigzag(64)
        (b'\\x00', b'\\x01', b'\\x80\\x01')
    """
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 127:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def avro_string(s: str) -> bytes:
    raw = s.encode()
    return zigzag(len(raw)) + raw


def _table(strings: np.ndarray) -> np.ndarray:
    out = np.empty(len(strings), dtype=object)
    out[:] = [avro_string(s) for s in strings.tolist()]
    return out


class TransactionEncoder:
    """Encodes :class:`Columns` straight to wire-format Avro values and Kafka keys.

    Args:
        ids: the string tables of the generator's population.
        schema_id: the registry id of ``transaction.avsc`` (``AvroSerde.schema_id``).

    Example:
        >>> from fraudstream.generate.transactions import GeneratorConfig, TransactionGenerator
        >>> gen = TransactionGenerator(GeneratorConfig(seed=1, n_customers=300, n_merchants=300))
        >>> enc = TransactionEncoder(gen.ids, schema_id=1)
        >>> cols, raw_ids = next(gen.column_batches(10))
        >>> keys, values = enc.encode(cols, raw_ids)
        >>> len(values), values[0][:5], keys[0].startswith(b"card_")
        (10, b'\\x00\\x00\\x00\\x00\\x01', True)
    """

    def __init__(self, ids: IdTables, schema_id: int) -> None:
        pop = ids.pop
        self.ids = ids
        self._header = np.frombuffer(b"\x00" + schema_id.to_bytes(4, "big"), dtype=np.uint8)
        cust = pop.card_customer
        self._keys = np.array([s.encode() for s in ids.card_ids.tolist()], dtype=object)
        # card_id, account_id, customer_id are consecutive fields: one entry per card.
        self._card = (
            _table(ids.card_ids) + _table(ids.account_ids)[cust] + _table(ids.customer_ids)[cust]
        )
        self._home = _table(COUNTRY_CODES)[pop.customer_country[cust]]
        self._merchant = (
            _table(ids.merchant_ids)
            + _table(CATEGORY_NAMES)[pop.merchant_category]
            + _table(COUNTRY_CODES)[pop.merchant_country]
        )
        self._m_country = pop.merchant_country.astype(np.int64)
        # Population IPs are encoded up front; travel and fraud IPs as they appear.
        known = np.unique(
            np.concatenate([pop.customer_ips.ravel(), pop.ring_ips.ravel(), pop.fraud_ips])
        )
        self._ips: dict[int, bytes] = {}
        self._optional(known, ids.ip_strings, self._ips)
        # currency, channel, tx_type follow the amount: one entry per combination.
        cur, chan, typ = _table(COUNTRY_CURRENCY), _table(CHANNELS), _table(TX_TYPES)
        self._ctt = np.array(
            [c + h + t for c in cur.tolist() for h in chan.tolist() for t in typ.tolist()],
            dtype=object,
        )
        self._account = np.array(
            [_SOME + a for a in _table(ids.account_ids).tolist()] + [_NULL], dtype=object
        )
        self._last4 = np.array(
            [_SOME + avro_string(s) for s in pop.card_last4.tolist()], dtype=object
        )
        self._label = np.array(
            [_SOME + b"\x00" + _NULL]
            + [_SOME + b"\x01" + _SOME + avro_string(s) for s in SCENARIOS],
            dtype=object,
        )

    @staticmethod
    def _optional(
        column: np.ndarray, to_strings: Callable[[np.ndarray], np.ndarray], cache: dict[int, bytes]
    ) -> np.ndarray:
        """Union ["null", "string"] bytes of a column; each value is encoded once per run."""
        uniq, inverse = np.unique(column, return_inverse=True)
        keys = uniq.tolist()
        missing = [k for k in keys if k not in cache]
        if missing:
            if len(cache) > 4_000_000:  # bound memory on very long runs
                cache.clear()
            for k, s in zip(missing, to_strings(np.array(missing, dtype=uniq.dtype)), strict=True):
                cache[k] = _NULL if s is None else _SOME + avro_string(s)
        table = np.empty(len(uniq), dtype=object)
        table[:] = [cache[k] for k in keys]
        return table[inverse]

    @staticmethod
    def _device_bytes(device: np.ndarray) -> list[bytes]:
        """Device ids are fixed width (see ``IdTables.device_strings``): built in one matrix."""
        n = len(device)
        m = np.empty((n, 16), dtype=np.uint8)
        m[:, :6] = np.frombuffer(b"\x02\x1cdev_", dtype=np.uint8)  # branch 1, length 14
        scrambled = (device.astype(np.uint64) * np.uint64(DEVICE_SCRAMBLE)) & np.uint64(
            (1 << 40) - 1
        )
        digits = (scrambled[:, None] >> _SHIFTS[6:]) & np.uint64(15)
        m[:, 6:] = _HEX[digits.astype(np.intp)]
        blob = m.tobytes()
        out = [blob[i : i + 16] for i in range(0, 16 * n, 16)]
        for i in np.flatnonzero(device < 0).tolist():
            out[i] = _NULL
        return out

    def _prefix(self, raw_ids: np.ndarray, t: np.ndarray) -> list[bytes]:
        """Header, transaction id and event time of every record, built in one matrix."""
        n = len(t)
        width = 5 + 20 + _VARINT_WIDTH
        m = np.zeros((n, width), dtype=np.uint8)
        m[:, :5] = self._header
        m[:, 5:9] = np.frombuffer(b"\x26tx_", dtype=np.uint8)  # length 19, zig-zag 38
        digits = (raw_ids.astype(np.uint64)[:, None] >> _SHIFTS) & np.uint64(15)
        m[:, 9:25] = _HEX[digits.astype(np.intp)]
        z = (t.astype(np.int64) << 1) ^ (t.astype(np.int64) >> 63)
        z = z.astype(np.uint64)
        length = np.ones(n, dtype=np.int64)
        for k in range(_VARINT_WIDTH):
            group = ((z >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
            more = (z >> np.uint64(7 * (k + 1))) > 0
            m[:, 25 + k] = group | (more.astype(np.uint8) << 7)
            length += more
        blob = m.tobytes()
        ends = 25 + length + np.arange(n) * width
        return [blob[s:e] for s, e in zip(range(0, n * width, width), ends.tolist(), strict=True)]

    def encode(self, cols: Columns, raw_ids: np.ndarray) -> tuple[list[bytes], list[bytes]]:
        """Kafka keys (card ids) and wire-format values of every event, in column order."""
        amounts = np.round(cols.amount, 2).astype("<f8").tobytes()
        ctt = (self._m_country[cols.merchant] * 4 + cols.channel) * 3 + cols.tx_type
        cp = np.where(cols.counterparty >= 0, cols.counterparty, len(self._account) - 1)
        parts = zip(
            self._prefix(raw_ids, cols.t),
            self._card[cols.card].tolist(),
            self._merchant[cols.merchant].tolist(),
            self._home[cols.card].tolist(),
            [amounts[i : i + 8] for i in range(0, 8 * len(cols), 8)],
            self._ctt[ctt].tolist(),
            self._device_bytes(cols.device),
            self._optional(cols.ip, self.ids.ip_strings, self._ips).tolist(),
            self._account[cp].tolist(),
            self._last4[cols.card].tolist(),
            self._label[cols.scenario].tolist(),
            strict=True,
        )
        values = [b"".join(p) for p in parts]
        return self._keys[cols.card].tolist(), values
