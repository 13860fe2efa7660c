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

import numpy as np

from fraudstream.generate.columns import DEVICE_SCRAMBLE, SCENARIOS, Columns, IdTables
from fraudstream.generate.legit import MOBILE_GATEWAYS
from fraudstream.generate.population import (
    CATEGORY_NAMES,
    CHANNELS,
    COUNTRIES,
    COUNTRY_CODES,
    COUNTRY_CURRENCY,
    TX_TYPES,
)

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_SHIFTS = np.arange(60, -1, -4, dtype=np.uint64)  # 16 hex digits, most significant first
_VARINT_WIDTH = 10
_IP_WIDTH = (
    17  # union branch, length, up to 15 characters  # bytes of the longest zig-zag varint of a long
)
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


class _Table:
    """Byte strings as rows of a zero-padded matrix, with their lengths."""

    def __init__(self, items: list[bytes], width: int = 0) -> None:
        self.lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
        width = max(width, int(self.lengths.max()) if len(items) else 0)
        self.rows = np.zeros((len(items), width), dtype=np.uint8)
        flat = np.frombuffer(b"".join(items), dtype=np.uint8)
        self.rows[np.arange(width) < self.lengths[:, None]] = flat

    def take(self, index: np.ndarray) -> _Field:
        return self.rows[index], self.lengths[index]


# One field of a chunk: each record's bytes as a zero-padded row, and their lengths.
_Field = tuple[np.ndarray, np.ndarray]


class TransactionEncoder:
    """Encodes :class:`Columns` straight to wire-format Avro values and Kafka keys.

    Each field of a chunk is a zero-padded byte matrix with a length per row:
    gathered from a table (entities) or built with numpy (ids, times, amounts,
    devices). The fields are laid side by side and one boolean mask keeps each
    row's real bytes, which leaves the records back to back in one buffer.

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
        card = _table(ids.card_ids) + _table(ids.account_ids)[cust] + _table(ids.customer_ids)[cust]
        self._card = _Table(card.tolist())
        self._home = _Table(_table(COUNTRY_CODES)[pop.customer_country[cust]].tolist())
        merchant = (
            _table(ids.merchant_ids)
            + _table(CATEGORY_NAMES)[pop.merchant_category]
            + _table(COUNTRY_CODES)[pop.merchant_country]
        )
        self._merchant = _Table(merchant.tolist())
        self._m_country = pop.merchant_country.astype(np.int64)
        # Population, carrier-NAT and no IP are encoded up front (found by binary
        # search); travel and fraudsters' fresh IPs as they appear.
        nat = (np.array([c[3] for c in COUNTRIES], dtype=np.uint32)[:, None] << np.uint32(24)) | (
            np.uint32(0xFFFF00) + np.arange(MOBILE_GATEWAYS, dtype=np.uint32)
        )
        self._known_ips = np.unique(
            np.concatenate(
                [pop.customer_ips.ravel(), pop.ring_ips.ravel(), pop.fraud_ips, nat.ravel(), [0]]
            ).astype(np.uint32)
        )
        self._ips: dict[int, bytes] = {}
        self._known = _Table(self._ip_strings(self._known_ips), width=_IP_WIDTH)
        self._ips.clear()
        # currency, channel, tx_type follow the amount: one entry per combination.
        cur, chan, typ = _table(COUNTRY_CURRENCY), _table(CHANNELS), _table(TX_TYPES)
        self._ctt = _Table(
            [c + h + t for c in cur.tolist() for h in chan.tolist() for t in typ.tolist()]
        )
        accounts = [_SOME + a for a in _table(ids.account_ids).tolist()]
        self._account = _Table([*accounts, _NULL])
        self._no_account = len(accounts)
        self._last4 = _Table([_SOME + avro_string(s) for s in pop.card_last4.tolist()])
        self._label = _Table(
            [_SOME + b"\x00" + _NULL]
            + [_SOME + b"\x01" + _SOME + avro_string(s) for s in SCENARIOS]
        )

    def _ip_strings(self, uniq: np.ndarray) -> list[bytes]:
        """Union ["null", "string"] bytes of distinct IPs; each is encoded once per run."""
        cache = self._ips
        keys = uniq.tolist()
        missing = [k for k in keys if k not in cache]
        if missing:
            if len(cache) > 4_000_000:  # bound memory on very long runs
                cache.clear()
            strings = self.ids.ip_strings(np.array(missing, dtype=uniq.dtype))
            for k, s in zip(missing, strings.tolist(), strict=True):
                cache[k] = _NULL if s is None else _SOME + avro_string(s)
        return [cache[k] for k in keys]

    def _ip(self, ip: np.ndarray) -> _Field:
        pos = np.minimum(np.searchsorted(self._known_ips, ip), len(self._known_ips) - 1)
        rows, length = self._known.take(pos)
        new = np.flatnonzero(self._known_ips[pos] != ip)
        if len(new):
            uniq, inverse = np.unique(ip[new], return_inverse=True)
            extra = _Table(self._ip_strings(uniq), width=_IP_WIDTH)
            rows[new], length[new] = extra.rows[inverse], extra.lengths[inverse]
        return rows, length

    @staticmethod
    def _device(device: np.ndarray) -> _Field:
        """Device ids are fixed width (see ``IdTables.device_strings``): one matrix."""
        n = len(device)
        m = np.empty((n, 16), dtype=np.uint8)
        m[:, :6] = np.frombuffer(b"\x02\x1cdev_", dtype=np.uint8)  # branch 1, length 14
        scrambled = (device.astype(np.uint64) * np.uint64(DEVICE_SCRAMBLE)) & np.uint64(
            (1 << 40) - 1
        )
        digits = (scrambled[:, None] >> _SHIFTS[6:]) & np.uint64(15)
        m[:, 6:] = _HEX[digits.astype(np.intp)]
        missing = device < 0
        m[missing, 0] = 0  # null branch: one byte
        return m, np.where(missing, 1, 16)

    def _prefix(self, raw_ids: np.ndarray, t: np.ndarray) -> _Field:
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
        return m, 25 + length

    def encode(self, cols: Columns, raw_ids: np.ndarray) -> tuple[list[bytes], list[bytes]]:
        """Kafka keys (card ids) and wire-format values of every event, in column order."""
        n = len(cols)
        amounts = np.frombuffer(np.round(cols.amount, 2).astype("<f8").tobytes(), dtype=np.uint8)
        ctt = (self._m_country[cols.merchant] * 4 + cols.channel) * 3 + cols.tx_type
        cp = np.where(cols.counterparty >= 0, cols.counterparty, self._no_account)
        fields = [
            self._prefix(raw_ids, cols.t),
            self._card.take(cols.card),
            self._merchant.take(cols.merchant),
            self._home.take(cols.card),
            (amounts.reshape(n, 8), np.full(n, 8)),
            self._ctt.take(ctt),
            self._device(cols.device),
            self._ip(cols.ip),
            self._account.take(cp),
            self._last4.take(cols.card),
            self._label.take(cols.scenario),
        ]
        padded = np.concatenate([rows for rows, _ in fields], axis=1)
        keep = np.concatenate(
            [np.arange(rows.shape[1]) < length[:, None] for rows, length in fields], axis=1
        )
        blob = padded[keep].tobytes()
        end = np.cumsum(np.sum([length for _, length in fields], axis=0))
        start = np.concatenate([[0], end[:-1]])
        values = [blob[a:b] for a, b in zip(start.tolist(), end.tolist(), strict=True)]
        return self._keys[cols.card].tolist(), values
