"""The read-only JSON twin of the dashboard, served by the same ``opdash serve`` process.

GET and HEAD only (any other method: 405). One route table drives both the Tornado handlers
and the OpenAPI document, so the two cannot drift. Answers come from the process's shared
catalog on worker threads (never on the event loop), with secrets masked by the metrics they
come from. A run id is checked against ``RUN_ID`` before anything is looked up: ids are only
ever matched against the catalog, never joined to a path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import tornado.ioloop
import tornado.web
from bokeh.server.auth_provider import NullAuth
from bokeh.server.views.auth_request_handler import AuthRequestHandler

from opdash import __version__
from opdash.catalog import Catalog
from opdash.errors import did_you_mean
from opdash.jsontext import dumps
from opdash.masking import mask
from opdash.metrics.runs import (
    ALERT_STATES,
    MAX_LIMIT,
    SEVERITIES,
    STALE_AFTER_SECONDS,
    plain,
    run_alerts,
    run_snapshot,
    run_tail,
    runs,
)
from opdash.snapshots import render_html
from opdash.snapshots import status as whole_status
from opdash.spec import CheckReport, default_spec

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
DEFAULT_LIMIT = 50
_EXECUTOR = ThreadPoolExecutor(max_workers=4, thread_name_prefix="opdash-api")


#: What any route may answer besides 200.
_ALWAYS = {
    400: "An unknown query parameter or a bad value, named in the error",
    503: "Not enough memory or disk for the answer: the error says what to change",
    401: "Log in first (only when the server requires a login)",
}


class ApiError(Exception):
    """An answer other than 200: its status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("error", ""))
        self.status, self.body = status, body


@dataclass(frozen=True)
class Api:
    """What every route reads: the process's shared catalog (``process_catalog()``: with
    ``--num-procs`` each forked process has its own), the staleness threshold and the start-up
    check of the spec being served (None: the built-in spec, unchecked)."""

    process_catalog: Callable[[], Catalog]
    stale_after: int = STALE_AFTER_SECONDS
    check: CheckReport | None = None

    @property
    def catalog(self) -> Catalog:
        return self.process_catalog()

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class Param:
    name: str
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Route:
    path: str  # as in OpenAPI: /api/runs/{run_id}
    summary: str
    answer: Callable[..., dict[str, Any] | str]  # (api, query, *path values) -> JSON data
    params: tuple[Param, ...] = ()
    errors: dict[int, str] = field(default_factory=lambda: dict(_ALWAYS))
    media: str = "application/json"  # text/html: ``answer`` returns the page as text

    @property
    def query_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if "{" + p.name + "}" not in self.path)

    @property
    def pattern(self) -> str:
        """The Tornado pattern: each ``{name}`` is one path segment (still URL-encoded)."""
        parts = re.split(r"\{[a-z_]+\}", self.path)
        return "^" + "([^/]+)".join(re.escape(part) for part in parts) + "$"


# -- answers -------------------------------------------------------------------------------------


def health(api: Api, query: Query) -> dict[str, Any]:
    """ok, or degraded with the reasons: quarantined records, unreadable or stale runs."""
    stats = api.catalog.stats()
    listed = runs(api.catalog, as_of=api.now(), stale_after=api.stale_after).runs
    reasons = []
    if stats.quarantined:
        reasons.append(f"{stats.quarantined} records quarantined")
    unreadable = [r.run_id for r in listed if r.error]
    if unreadable:
        reasons.append(f"{len(unreadable)} runs unreadable: {', '.join(unreadable)}")
    stale = [r.run_id for r in listed if r.stale]
    if stale:
        reasons.append(f"{len(stale)} runs stale: {', '.join(stale)}")
    return {
        "status": "degraded" if reasons else "ok",
        "reasons": reasons,
        "events": stats.events,
        "runs": stats.runs,
        "quarantined": stats.quarantined,
        "last_event_at": stats.last_event_at.isoformat() if stats.last_event_at else None,
        "refreshed_at": stats.refreshed_at.isoformat() if stats.refreshed_at else None,
        "data_version": stats.version,
        "refresh_seconds": api.catalog.refresh_seconds,
        "files_pending": list(stats.pending),
    }


def run_list(api: Api, query: Query) -> dict[str, Any]:
    result = runs(api.catalog, as_of=api.now(), stale_after=api.stale_after)
    return {"as_of": result.as_of.isoformat(), "runs": [plain(r) for r in result.runs]}


def one_run(api: Api, query: Query, run_id: str) -> dict[str, Any]:
    snapshot = run_snapshot(
        api.catalog, _known_run(api, run_id), as_of=api.now(), stale_after=api.stale_after
    )
    if snapshot is None:
        raise _not_found(run_id)
    return snapshot.to_dict()


def tail(api: Api, query: Query, run_id: str) -> dict[str, Any]:
    run_id = _known_run(api, run_id)
    events = run_tail(api.catalog, run_id, as_of=api.now(), limit=query.limit())
    return {"run_id": run_id, "events": events}


def alerts(api: Api, query: Query, run_id: str) -> dict[str, Any]:
    run_id = _known_run(api, run_id)
    found = run_alerts(
        api.catalog,
        run_id,
        as_of=api.now(),
        limit=query.limit(),
        severity=query.choice("severity", SEVERITIES, None),
        state=query.choice("state", ALERT_STATES, "all"),
    )
    return {"run_id": run_id, "alerts": [plain(a) for a in found]}


def status_json(api: Api, query: Query) -> dict[str, Any]:
    return whole_status(api.catalog, as_of=api.now(), stale_after=api.stale_after)


def status_html(api: Api, query: Query) -> str:
    return render_html(status_json(api, query))


def served_spec(api: Api, query: Query) -> dict[str, Any]:
    """The spec the pages are built from, and what the start-up check found."""
    report = api.check
    spec = report.spec if report else default_spec()
    return {
        "spec_file": report.spec_file if report else None,
        "spec": mask(spec.to_dict()),
        "problems": [p.to_dict() for p in report.problems] if report else [],
    }


def openapi(api: Api, query: Query) -> dict[str, Any]:
    return openapi_document()


def _known_run(api: Api, run_id: str) -> str:
    """``run_id`` when it is a well-formed id of a listed run; else 404."""
    if not RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise _not_found(run_id)
    if not api.catalog.fetchall("SELECT 1 FROM runs WHERE run_id = ? LIMIT 1", [run_id]):
        raise _not_found(run_id)
    return run_id


def _not_found(run_id: str) -> ApiError:
    return ApiError(404, {"error": "run not found", "run_id": run_id})


class Query:
    """The request's query arguments, checked (a bad value: 400 naming it)."""

    def __init__(self, arguments: dict[str, list[bytes]], known: tuple[str, ...] = ()) -> None:
        self._arguments = arguments
        unknown = sorted(set(arguments) - set(known))
        if unknown:
            name = unknown[0]
            takes = f"this route takes {', '.join(known)}" if known else "this route takes none"
            error = f"unknown query parameter {name!r}{did_you_mean(name, known)}; {takes}"
            raise ApiError(400, {"error": error})

    def _one(self, name: str) -> str | None:
        values = self._arguments.get(name)
        if not values:
            return None
        return values[-1].decode("utf-8", errors="replace")

    def limit(self) -> int:
        text = self._one("limit")
        if text is None:
            return DEFAULT_LIMIT
        if not re.fullmatch(r"[0-9]{1,7}", text) or not 1 <= int(text) <= MAX_LIMIT:
            raise ApiError(
                400, {"error": f"bad limit {text!r}: use a whole number from 1 to {MAX_LIMIT}"}
            )
        return int(text)

    def choice(self, name: str, allowed: tuple[str, ...], default: str | None) -> str | None:
        text = self._one(name)
        if text is None:
            return default
        if text not in allowed:
            raise ApiError(400, {"error": f"bad {name} {text!r}: use one of {', '.join(allowed)}"})
        return text


# -- the route table -----------------------------------------------------------------------------

_RUN_ID_PARAM = Param(
    "run_id", "A run folder's name", {"type": "string", "pattern": RUN_ID.pattern}
)
_LIMIT = Param(
    "limit",
    f"How many (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
)
_NOT_FOUND = {**_ALWAYS, 404: "No such run"}

ROUTES: tuple[Route, ...] = (
    Route("/health", "Whether the data reads cleanly, with the reasons when not", health),
    Route("/api/runs", "Every run with its status, staleness and open alerts", run_list),
    Route(
        "/api/runs/{run_id}",
        "One run: metadata, counts, staleness, last events, open alerts",
        one_run,
        (_RUN_ID_PARAM,),
        _NOT_FOUND,
    ),
    Route(
        "/api/runs/{run_id}/tail",
        "The run's last events, oldest first",
        tail,
        (_RUN_ID_PARAM, _LIMIT),
        _NOT_FOUND,
    ),
    Route(
        "/api/runs/{run_id}/alerts",
        "The run's alerts, open ones first, newest first",
        alerts,
        (
            _RUN_ID_PARAM,
            _LIMIT,
            Param("severity", "Only this severity", {"type": "string", "enum": list(SEVERITIES)}),
            Param(
                "state",
                "open, resolved or all (default)",
                {"type": "string", "enum": list(ALERT_STATES), "default": "all"},
            ),
        ),
        _NOT_FOUND,
    ),
    Route(
        "/api/status/snapshot.json",
        "The whole status now: today, the loop funnel, goals, runs, open alerts",
        status_json,
    ),
    Route(
        "/api/status/snapshot.html",
        "The same status as one self-contained HTML page (no network needed)",
        status_html,
        media="text/html",
    ),
    Route(
        "/api/spec",
        "The dashboard spec being served (pages, tiles) and the problems found at start",
        served_spec,
    ),
    Route("/api/openapi.json", "This document", openapi),
)


def openapi_document() -> dict[str, Any]:
    """An OpenAPI 3 document of ``ROUTES``."""
    error = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "run_id": {"type": "string"}},
    }
    paths = {}
    for route in ROUTES:
        body = {"type": "string"} if route.media == "text/html" else {"type": "object"}
        responses: dict[str, Any] = {
            "200": {"description": "OK", "content": {route.media: {"schema": body}}}
        }
        for status, text in route.errors.items():
            responses[str(status)] = {
                "description": text,
                "content": {"application/json": {"schema": error}},
            }
        parameters = [
            {
                "name": p.name,
                "in": "path" if "{" + p.name + "}" in route.path else "query",
                "required": "{" + p.name + "}" in route.path,
                "description": p.description,
                "schema": p.schema,
            }
            for p in route.params
        ]
        operation = {
            "summary": route.summary,
            "operationId": re.sub(r"[^A-Za-z0-9]+", "_", route.path).strip("_"),
            "parameters": parameters,
            "responses": responses,
        }
        paths[route.path] = {"get": operation}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "opdash read-only API",
            "version": __version__,
            "description": "GET only: every other method is answered 405.",
        },
        "paths": paths,
    }


# -- Tornado -------------------------------------------------------------------------------------


class ApiHandler(AuthRequestHandler):
    """One route: GET answers it, HEAD answers its headers, anything else is 405. With a login
    on (``--basic-auth``, OAuth), a request without the dashboard's login cookie is 401."""

    def initialize(self, api: Api, route: Route | None) -> None:
        self.api, self.route = api, route

    async def prepare(self) -> None:
        await super().prepare()
        if not isinstance(self.application.auth_provider, NullAuth) and not self.current_user:
            raise ApiError(
                401, {"error": "log in first: this server requires a login", "login": "/login"}
            )

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        # nothing an answer holds may load or run anything (the HTML snapshot included)
        self.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")

    async def get(self, *segments: str) -> None:
        if self.route is None:
            raise ApiError(404, {"error": "no such route", "path": self.request.path})
        query = Query(self.request.query_arguments, self.route.query_names)
        # Tornado has decoded each segment once; it is checked as it is (never decoded again)
        loop = tornado.ioloop.IOLoop.current()
        data = await loop.run_in_executor(
            _EXECUTOR, lambda: self.route.answer(self.api, query, *segments)
        )
        if self.route.media != "application/json":
            self.set_header("Content-Type", f"{self.route.media}; charset=utf-8")
        self._answer(200, data)

    async def head(self, *segments: str) -> None:
        await self.get(*segments)

    def _answer(self, status: int, data: dict[str, Any] | str) -> None:
        self.set_status(status)
        body = (data if isinstance(data, str) else dumps(data)).encode("utf-8")
        if self.request.method == "HEAD":
            self.set_header("Content-Length", len(body))
            self.finish()
        else:
            self.finish(body)

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, ApiError):
            self._answer(e.status, e.body)
            return
        from opdash.catalog.memory import resource_message

        message = resource_message(e)
        if message is not None:  # out of memory or disk: say what to change, no traceback
            self._answer(503, {"error": message})
            return
        super()._handle_request_exception(e)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if status_code == 405:
            self.set_header("Allow", "GET, HEAD")
            body = {"error": f"method {self.request.method} not allowed: this API is read-only"}
        else:
            body = {"error": self._reason}
        self.finish(dumps(body))


def implemented_methods(handler: type[tornado.web.RequestHandler]) -> list[str]:
    """The request methods a Tornado handler class answers (the rest fall to Tornado's 405)."""
    base = tornado.web.RequestHandler
    return [
        method
        for method in handler.SUPPORTED_METHODS
        if getattr(handler, method.lower(), None) is not getattr(base, method.lower())
    ]


def handlers(api: Api) -> list[tuple]:
    """Tornado ``extra_patterns`` for ``pn.serve``: every route, then 404 for the rest of /api."""
    table: list[tuple] = [(r.pattern, ApiHandler, {"api": api, "route": r}) for r in ROUTES]
    table.append((r"^/api/.*$", ApiHandler, {"api": api, "route": None}))
    return table


__all__ = [
    "ROUTES",
    "RUN_ID",
    "Api",
    "Route",
    "handlers",
    "implemented_methods",
    "openapi_document",
]
