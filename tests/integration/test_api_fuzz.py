"""Fuzz the API from its own OpenAPI spec (schemathesis): no 5xx, every 4xx has a reason.

The app runs in a real uvicorn server (loopback, memory bus, SQLite) so every
request crosses real HTTP parsing. Schemathesis generates valid and invalid
(negative) requests for every operation; the key used is an admin key so the
handlers, not the auth check, see the generated data.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from fraudstream.api.app import create_app
from fraudstream.api.server import CoalescingHttpToolsProtocol
from fraudstream.bench.ingest import free_port
from fraudstream.bus.memory import MemoryBus
from fraudstream.settings import Settings
from tests.unit.api.conftest import KEYS, AmountDetector, make_settings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    # schemathesis' transport imports starlette's test client, which warns about httpx.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    app = create_app(
        make_settings(tmp, max_body_bytes=20_000), bus=MemoryBus(), detector=AmountDetector()
    )
    port = free_port()
    # The protocol `fraudstream api` serves with (header and body in one send()).
    config = uvicorn.Config(
        app, port=port, log_level="warning", access_log=False, http=CoalescingHttpToolsProtocol
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield base
    server.should_exit = True
    thread.join(10)


def _schema() -> schemathesis.BaseSchema:
    # The spec comes from the app object itself (no server needed to read it).
    spec = create_app(Settings(database={"url": "sqlite://"}), bus=MemoryBus()).openapi()
    config = SchemathesisConfig()
    config.projects.default.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=25
    )
    return schemathesis.openapi.from_dict(spec, config=config)


schema = _schema()
SEEN: Counter[int] = Counter()


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_every_4xx_has_a_reason(
    case: schemathesis.Case, live_api: str
) -> None:
    headers = dict(case.headers or {})
    headers["X-API-Key"] = KEYS["admin"]
    response = case.call(base_url=live_api, headers=headers)
    SEEN[response.status_code // 100 * 100] += 1
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
    )
    if response.status_code >= 400:
        body = response.json()
        assert body.get("error") and body.get("detail"), response.text


def test_fuzzing_exercised_acceptance_and_rejection() -> None:
    """Runs after the fuzz test (file order): the generator reached both outcomes."""
    print(f"fuzz responses by status class: {dict(sorted(SEEN.items()))}")
    assert SEEN[200] > 0 and SEEN[400] > 0, SEEN
    assert SEEN[500] == 0
