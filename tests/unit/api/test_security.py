"""Pure logic of the API: key ring, roles, Luhn, card hashing, wrk output parsing."""

from __future__ import annotations

import hmac
import os

import pytest
from pydantic import SecretStr

from fraudstream.api.security import KeyedSha256, KeyRing, Principal, card_hash, luhn_ok
from fraudstream.bench.ingest import parse_wrk
from fraudstream.errors import AuthError, ForbiddenError
from fraudstream.settings import ApiKeySettings


def test_keyring_authenticates_known_keys_only() -> None:
    ring = KeyRing([ApiKeySettings(name="ann", key=SecretStr("s3cret"), roles=["analyst"])])
    assert ring.authenticate("s3cret") == Principal("ann", frozenset({"analyst"}))
    with pytest.raises(AuthError, match="missing API key"):
        ring.authenticate(None)
    with pytest.raises(AuthError, match="unknown API key"):
        ring.authenticate("s3cre")


def test_roles_admin_passes_everything_others_only_their_own() -> None:
    Principal("ops", frozenset({"admin"})).require("ingest")
    Principal("ann", frozenset({"analyst"})).require("ingest", "analyst")
    with pytest.raises(ForbiddenError, match="ingest"):
        Principal("ann", frozenset({"analyst"})).require("ingest")


@pytest.mark.parametrize(
    ("pan", "ok"),
    [
        ("4242424242424242", True),
        ("4000056655665556", True),
        ("79927398713", True),
        ("4242424242424241", False),
        ("1234567812345678", False),
    ],
)
def test_luhn(pan: str, ok: bool) -> None:
    assert luhn_ok(pan) is ok


def test_card_hash_is_keyed_and_stable() -> None:
    a = card_hash(b"k1", "4242424242424242")
    assert a == card_hash(b"k1", "4242424242424242")
    assert a != card_hash(b"k2", "4242424242424242")
    assert "4242" not in a and len(a) == 64


def test_parse_wrk_reads_rate_percentiles_and_errors() -> None:
    out = """Running 20s test @ http://127.0.0.1:1
  Latency Distribution
     50%   19.43ms
     75%  500.00us
     90%   1.20s
     99%  297.45ms
  24441 requests in 20.03s, 5.00MB read
  Non-2xx or 3xx responses: 7
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:   1221.85
"""
    got = parse_wrk(out)
    assert got["requests_per_s"] == 1221.85 and got["requests"] == 24441
    assert (got["p50_ms"], got["p75_ms"], got["p90_ms"], got["p99_ms"]) == (
        19.43,
        0.5,
        1200.0,
        297.45,
    )
    assert got["non_2xx"] == 7 and got["socket_errors"] == 3


def test_keyed_sha256_is_hmac_sha256_for_short_long_and_empty_keys() -> None:
    for key in (b"", b"k", b"x" * 64, b"y" * 65, os.urandom(200)):
        keyed = KeyedSha256(key)
        for data in (b"", b"4242424242424242", os.urandom(5000)):
            assert keyed.hexdigest(data) == hmac.digest(key, data, "sha256").hex()
        assert keyed.hexdigest(b"a") != keyed.hexdigest(b"b")
