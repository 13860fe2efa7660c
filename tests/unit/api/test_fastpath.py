"""The ingest fast path (ahead of the middleware stack) and the coalescing transport."""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import itertools

import pytest
from prometheus_client import REGISTRY

from fraudstream.api.schemas import _ip
from fraudstream.api.server import CoalescingTransport
from tests.unit.api.conftest import Api, headers, payment


def _count(status: str) -> float:
    value = REGISTRY.get_sample_value(
        "fraudstream_api_requests_total",
        {"method": "POST", "route": "/api/v1/payments", "status": status},
    )
    return value or 0.0


def test_fast_path_keeps_metrics_per_status(api: Api) -> None:
    ok, unauth = _count("202"), _count("401")
    assert api.client.post("/api/v1/payments", json=payment(), headers=headers("ingest")).is_success
    r = api.client.post("/api/v1/payments", json=payment())
    assert r.status_code == 401 and r.headers["www-authenticate"] == "ApiKey"
    assert _count("202") == ok + 1 and _count("401") == unauth + 1


def test_fast_path_answers_403_and_413_streamed_with_reasons(api: Api) -> None:
    r = api.client.post("/api/v1/payments", json=payment(), headers=headers("analyst"))
    assert r.status_code == 403 and r.json()["error"] == "forbidden"

    def chunks():  # no Content-Length: the limit must hold on the streamed body
        for _ in range(100):
            yield b"x" * 1000

    r = api.client.post("/api/v1/payments", content=chunks(), headers=headers("ingest"))
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


def test_fast_path_rejects_a_malformed_idempotency_key(api: Api) -> None:
    r = api.client.post(
        "/api/v1/payments", json=payment(), headers=headers("ingest", **{"Idempotency-Key": "a b"})
    )
    assert r.status_code == 422 and "Idempotency-Key" in r.json()["detail"]


class _Sink:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_coalescing_transport_merges_header_and_body_and_never_holds_longer() -> None:
    # A thread of its own: another test may have left an event loop marked as
    # running in this one, and run_until_complete refuses to nest.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(_check_coalescing_transport).result(timeout=30)


def _check_coalescing_transport() -> None:
    loop = asyncio.new_event_loop()
    try:
        sink = _Sink()
        t = CoalescingTransport(sink, loop)
        t.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n")
        assert sink.writes == []
        t.write(b"{}")
        assert sink.writes == [b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}"]
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")  # a header whose body does not follow ...
        loop.run_until_complete(asyncio.sleep(0))  # ... goes out on the next loop turn
        assert sink.writes[-1] == b"HTTP/1.1 200 OK\r\n\r\n"
        t.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        t.close()  # closing sends what is held first
        assert sink.writes[-1] == b"HTTP/1.1 204 No Content\r\n\r\n" and sink.closed
        assert t.is_closing()  # everything else is the transport's
        t.write(b"plain")
        assert sink.writes[-1] == b"plain"
    finally:
        loop.close()


def test_ip_validation_matches_the_standard_library() -> None:
    parts = ["0", "00", "01", "9", "10", "99", "199", "249", "250", "255", "256", "\u0663"]
    cases = [".".join(p) for p in itertools.product(parts, repeat=4)]
    cases += ["::1", "2001:DB8::1", "::ffff:1.2.3.4", "1.2.3", "1.2.3.4 ", "1.2.3.4\n", "x"]
    for case in cases:
        try:
            expected = str(ipaddress.ip_address(case))
        except ValueError:
            with pytest.raises(ValueError, match="not a valid IPv4 or IPv6"):
                _ip(case)
        else:
            assert _ip(case) == expected, case
