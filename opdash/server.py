"""Serving the dashboard: one shared catalog per process, refreshed once per interval."""

from __future__ import annotations

import errno
import socket
import sys
from pathlib import Path

from opdash.catalog import shared_catalog
from opdash.errors import UsageError
from opdash.metrics.runs import STALE_AFTER_SECONDS


def check_port_free(address: str, port: int) -> None:
    """Fail early, in one line, when the port is taken (instead of a Tornado traceback)."""
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(
                    f"port {port} on {address} is already in use; pick another with --port"
                ) from None
            raise UsageError(f"cannot listen on {address}:{port}: {exc.strerror}") from None


def serve(
    folder: str | Path,
    *,
    port: int,
    address: str,
    show: bool,
    refresh: int,
    stale_after: int = STALE_AFTER_SECONDS,
) -> int:
    check_port_free(address, port)
    import panel as pn

    from opdash.api import Api, handlers
    from opdash.app import ensure_extensions, schedule_refresh, session_factory, start_warming

    catalog = shared_catalog(folder)
    ensure_extensions()
    start_warming(catalog)
    if refresh:
        schedule_refresh(catalog, refresh)
    origins = [f"{address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    print(
        f"opdash: serving {catalog.root} on http://{address}:{port}/", file=sys.stderr, flush=True
    )
    pn.serve(
        {"/": session_factory(catalog, refresh, stale_after)},
        port=port,
        address=address,
        show=show,
        websocket_origin=origins,
        title=f"opdash · {catalog.root.name}",
        threaded=False,
        extra_patterns=handlers(Api(catalog, stale_after=stale_after)),
    )
    return 0
