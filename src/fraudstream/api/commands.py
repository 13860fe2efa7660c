"""``fraudstream api``: serve the HTTP API with uvicorn (one process)."""

from __future__ import annotations

from typing import Annotated

import typer

GC_GEN0_THRESHOLD = 20_000
GIL_SWITCH_INTERVAL_S = 0.0005


def api_command(
    host: Annotated[str | None, typer.Option(help="Default: api.host.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: api.port.")] = None,
) -> None:
    """Serve the API (uvloop + httptools when installed)."""
    import logging

    import uvicorn

    from fraudstream.api.app import create_app
    from fraudstream.cli import load_settings

    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httptools with header and body in one send() (see fraudstream.api.server).
    import gc
    import sys

    from fraudstream.api.server import CoalescingHttpToolsProtocol

    # A request allocates a few hundred short-lived containers; with the default
    # threshold (700) the young generation was collected about once per request.
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)
    # The ledger thread needs the GIL back after each SQLite call; while the event
    # loop is busy it waited up to the default 5 ms switch interval for it, and
    # every request of its batch with it.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)

    uvicorn.run(
        create_app(settings),
        http=CoalescingHttpToolsProtocol,
        host=host or settings.api.host,
        port=port or settings.api.port,
        access_log=settings.api.access_log,
        log_level=settings.log_level.lower(),
        # The app never reads the client address (no X-Forwarded-* rewriting needed,
        # one ASGI layer less per request) and does not advertise its server.
        proxy_headers=False,
        server_header=False,
    )
