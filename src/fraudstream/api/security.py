"""API keys with roles, and card-number hygiene.

Raw card numbers (PANs) never leave the request: :func:`card_hash` keys an
HMAC-SHA256 with ``api.card_hash_key`` so equal cards hash equally (velocity
features still work) while the hash cannot be reversed or brute-forced without
the key; only the hash and the last four digits are stored or published.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from fraudstream.errors import AuthError, ForbiddenError
from fraudstream.settings import ApiKeySettings

ROLES = ("ingest", "analyst", "admin")


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller behind an API key."""

    name: str
    roles: frozenset[str]

    def require(self, *roles: str) -> None:
        """Raise :class:`ForbiddenError` unless the caller has one of ``roles`` (or admin)."""
        if "admin" in self.roles or self.roles.intersection(roles):
            return
        raise ForbiddenError(
            f"API key {self.name!r} lacks the role this route needs "
            f"(one of: {', '.join(sorted({*roles, 'admin'}))})"
        )


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class KeyRing:
    """Looks up API keys by a SHA-256 digest and compares in constant time.

    Example:
        >>> from pydantic import SecretStr
        >>> ring = KeyRing([ApiKeySettings(name="shop", key=SecretStr("s3"), roles=["ingest"])])
        >>> ring.authenticate("s3").name
        'shop'
    """

    def __init__(self, keys: Iterable[ApiKeySettings]) -> None:
        self._by_digest: dict[bytes, tuple[bytes, Principal]] = {}
        for k in keys:
            secret = k.key.get_secret_value()
            self._by_digest[_digest(secret)] = (
                secret.encode(),
                Principal(k.name, frozenset(k.roles)),
            )

    def authenticate(self, presented: str | None) -> Principal:
        """The principal of ``presented``; :class:`AuthError` if missing or unknown."""
        if not presented:
            raise AuthError("missing API key: send it in the X-API-Key header")
        entry = self._by_digest.get(_digest(presented))
        if entry is None or not hmac.compare_digest(entry[0], presented.encode()):
            raise AuthError("unknown API key")
        return entry[1]


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a card number.

    Example:
        >>> luhn_ok("4242424242424242"), luhn_ok("4242424242424241")
        (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


class KeyedSha256:
    """HMAC-SHA256 under one key, with the keyed inner and outer states computed once.

    ``hmac.digest`` sets the key up again on every call, and OpenSSL 3 looks the
    digest up through its provider registry each time: ~5 µs per call, and the
    call releases the GIL, so the event loop could lose it to the ledger thread
    twice per request. Copying two pre-keyed ``hashlib`` states costs ~1.4 µs,
    keeps the GIL for small inputs, and gives the same bytes (RFC 2104).

    Example:
        >>> KeyedSha256(b"k").hexdigest(b"m") == hmac.digest(b"k", b"m", "sha256").hex()
        True
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(hmac.trans_36))
        self._outer = hashlib.sha256(key.translate(hmac.trans_5C))

    def hexdigest(self, data: bytes) -> str:
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


_BLOCK = hashlib.sha256().block_size


@lru_cache(maxsize=16)
def keyed_sha256(key: bytes) -> KeyedSha256:
    """The :class:`KeyedSha256` of ``key`` (built once per key)."""
    return KeyedSha256(key)


def card_hash(key: bytes, card: str) -> str:
    """Keyed hash of a card number or token (hex, 64 characters).

    Example:
        >>> len(card_hash(b"k", "4242424242424242"))
        64
    """
    return keyed_sha256(key).hexdigest(card.encode())
