"""uvicorn's httptools protocol with one ``send()`` per small response instead of two.

uvicorn writes a response's status line and headers in one ``transport.write``
and its body in another. uvloop sends each at once, and on loopback each
``send()`` runs the whole TCP path (including the receiver's side) on the
sending CPU: profiled under ingest load, those two writes were the largest
single cost of a request. :class:`CoalescingHttpToolsProtocol` holds a header
block back until the body follows (normally within the same loop turn) and
sends both together; a ``call_soon`` flush makes sure a header is never held
longer than one loop turn (streaming responses, empty bodies). Bytes are never
reordered or dropped: every write, flush or close sends what is held first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport proxy that merges an HTTP header block with the write after it.

    Example:
        >>> class Sink:
        ...     def __init__(self): self.writes = []
        ...     def write(self, data): self.writes.append(data)
        >>> loop = asyncio.new_event_loop(); sink = Sink()
        >>> t = CoalescingTransport(sink, loop)
        >>> t.write(b"HTTP/1.1 202 Accepted\\r\\n\\r\\n"); t.write(b"{}")
        >>> sink.writes
        [b'HTTP/1.1 202 Accepted\\r\\n\\r\\n{}']
        >>> loop.close()
    """

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data[:5] == b"HTTP/" and data[-4:] == b"\r\n\r\n":
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Send what is held (a header block whose body did not follow this turn)."""
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        # Everything else (is_closing, get_extra_info, pause_reading, ...) is the transport's.
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` over a :class:`CoalescingTransport` (``uvicorn.run(http=...)``)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
