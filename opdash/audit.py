"""A read-only proof of what ``opdash serve`` exposes: routes and methods, bind address, login,
and the data's counts — checked, not declared, where it can be.

The API's methods are read from its handler class (which request methods it implements); the
artifact folder is fingerprinted (every file's size and modification time) before and after the
catalog reads it, so "opdash wrote nothing there" is measured.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: The dashboard's own routes (Panel 1.9 / Bokeh 3.9) and the methods their handlers implement
#: (tests/http/test_api.py checks both against a server built as ``serve`` builds it). The
#: websocket is the live page's channel: an upgraded GET that carries view updates; OPTIONS is CORS.
DASHBOARD_ROUTES = (
    ("/", "GET", "the dashboard page"),
    ("/ws", "GET", "the page's live channel (websocket)"),
    ("/autoload.js", "GET, OPTIONS", "the page as an embeddable script"),
    ("/metadata", "GET", "the app's metadata"),
    ("/favicon.ico", "GET", "the icon"),
    ("/static/*", "GET, HEAD", "Bokeh's and Panel's scripts and styles"),
    ("/components/*", "GET, HEAD", "component resources"),
)
LOGIN_ROUTES = (
    ("/login", "GET, POST", "the login form (only with a login on)"),
    ("/logout", "GET", "ends the login (only with a login on)"),
)


@dataclass(frozen=True)
class RouteRow:
    path: str
    methods: str
    what: str


@dataclass(frozen=True)
class AuditResult:
    folder: str
    bind_address: str
    port: int
    local_only: bool
    login: str
    routes: list[RouteRow]
    api_methods: list[str]
    data: dict[str, int]
    artifact_folder_unchanged: bool

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "routes": [asdict(r) for r in self.routes]}


def audit(catalog_factory, folder: Path, *, address: str, port: int, login: str) -> AuditResult:
    """``catalog_factory()`` opens the catalog; the folder is fingerprinted around it."""
    from opdash.api import ROUTES, ApiHandler, implemented_methods

    before = fingerprint(folder)
    catalog = catalog_factory()
    stats = catalog.stats()
    after = fingerprint(folder)
    api_methods = implemented_methods(ApiHandler)
    routes = [RouteRow(*row) for row in DASHBOARD_ROUTES]
    if login != "none":
        routes += [RouteRow(*row) for row in LOGIN_ROUTES]
    routes += [RouteRow(r.path, ", ".join(api_methods), r.summary) for r in ROUTES]
    return AuditResult(
        folder=Path(folder).name,
        bind_address=address,
        port=port,
        local_only=address in ("127.0.0.1", "localhost", "::1"),
        login=login,
        routes=routes,
        api_methods=api_methods,
        data={
            "events": stats.events,
            "workflows": stats.workflows,
            "runs": stats.runs,
            "quarantined": stats.quarantined,
            "duplicates": stats.duplicates,
            "files": stats.files,
        },
        artifact_folder_unchanged=before == after,
    )


def fingerprint(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: (size, modification time in ns)."""
    out = {}
    for base, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(base) / name
            stat = path.stat()
            out[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime_ns)
    return out


def markdown(result: AuditResult) -> str:
    """The same proof as a Markdown page."""
    lines = [
        f"# opdash audit: {result.folder}",
        "",
        f"- bind address: `{result.bind_address}:{result.port}`"
        + (" (local only)" if result.local_only else " (reachable from other hosts)"),
        f"- login: {result.login}",
        f"- API methods (read from the handler): {', '.join(result.api_methods)}; any other: 405",
        f"- artifact folder unchanged while read: {'yes' if result.artifact_folder_unchanged else 'NO'}",
        "",
        "| route | methods | what |",
        "| --- | --- | --- |",
        *(f"| `{r.path}` | {r.methods} | {r.what} |" for r in result.routes),
        "",
        "| data | count |",
        "| --- | ---: |",
        *(f"| {name} | {n:,} |" for name, n in result.data.items()),
        "",
    ]
    return "\n".join(lines)


__all__ = ["AuditResult", "audit", "fingerprint", "markdown"]
