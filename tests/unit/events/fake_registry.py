"""A small real HTTP server speaking the two Confluent schema-registry endpoints.

It is not a Confluent registry: it lets the tests check the HTTP client's
protocol handling and the wire-format interop with Confluent's own Python
serializer, which talks to it over real sockets.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fraudstream.events.registry import canonical


class FakeConfluent(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.ids: dict[str, int] = {}
        self.schemas: dict[int, str] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail_with: int | None = None
        self.auth_headers: list[str | None] = []


class Handler(BaseHTTPRequestHandler):
    server: FakeConfluent

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.server.requests.append(("POST", self.path))
        self.server.auth_headers.append(self.headers.get("Authorization"))
        if self.server.fail_with:
            self._send(self.server.fail_with, {"error_code": 50001, "message": "boom"})
            return
        parts = self.path.split("?")[0].strip("/").split("/")
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if len(parts) != 3 or parts[0] != "subjects" or parts[2] != "versions":
            self._send(404, {"error_code": 404, "message": "no route"})
            return
        text = canonical(body["schema"])
        schema_id = self.server.ids.setdefault(text, len(self.server.ids) + 100)
        self.server.schemas[schema_id] = body["schema"]
        self._send(200, {"id": schema_id, "schema": body["schema"]})

    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path))
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[:2] == ["schemas", "ids"] and int(parts[2]) in self.server.schemas:
            self._send(200, {"schema": self.server.schemas[int(parts[2])]})
        else:
            self._send(404, {"error_code": 40403, "message": "Schema not found"})


@pytest.fixture
def server() -> Iterator[FakeConfluent]:
    srv = FakeConfluent()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def url(srv: FakeConfluent) -> str:
    host, port = srv.server_address[:2]
    return f"http://{host!s}:{port}"
