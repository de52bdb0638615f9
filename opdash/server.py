"""Serving the dashboard: one shared catalog per process, refreshed once per interval."""

from __future__ import annotations

import contextlib
import errno
import secrets
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opdash.catalog import shared_catalog
from opdash.errors import UsageError
from opdash.metrics.runs import STALE_AFTER_SECONDS
from opdash.spec.check import DATA, ENGINE


def check_port_free(address: str, port: int) -> None:
    """Fail early, in one line, when the port is taken (instead of a Tornado traceback)."""
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except (TypeError, UnicodeError):  # a name IDNA cannot encode
            raise UsageError(f"cannot listen on '{address}': not a valid address") from None
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(
                    f"port {port} on {address} is already in use; pick another with --port"
                ) from None
            raise UsageError(f"cannot listen on {address}:{port}: {exc.strerror}") from None


@dataclass(frozen=True)
class Access:
    """Who may see the dashboard and its API (everyone who reaches the address by default)."""

    basic_auth: str | None = None  # a password, or a JSON file of {user: password} (Panel's)
    cookie_secret: str | None = None  # generated per start when a login is on and none is given
    oauth: dict[str, Any] = field(default_factory=dict)  # Panel's oauth_* options, passed on

    @property
    def setting(self) -> str:
        """What the audit reports: none, basic, or oauth (provider)."""
        if self.basic_auth:
            return "basic"
        if self.oauth.get("oauth_provider"):
            return f"oauth ({self.oauth['oauth_provider']})"
        return "none"

    def panel_options(self) -> dict[str, Any]:
        if self.setting == "none":
            return {}
        secret = self.cookie_secret or secrets.token_urlsafe(32)
        options: dict[str, Any] = {"cookie_secret": secret, **self.oauth}
        if self.basic_auth:
            options["basic_auth"] = self.basic_auth
        return options


def serve(
    folder: str | Path,
    *,
    port: int,
    address: str,
    show: bool,
    refresh: int,
    stale_after: int = STALE_AFTER_SECONDS,
    access: Access = Access(),  # noqa: B008  (frozen: one shared default is safe)
    spec_path: str | Path | None = None,
    lenient: bool = False,
    num_procs: int = 1,
    engine: str = "duckdb",
    remote: str | None = None,
) -> int:
    if engine != "duckdb" and num_procs != 1:
        raise UsageError(
            f"--num-procs {num_procs} needs --engine duckdb: on Spark the cluster does the work "
            "in parallel and one serving process talks to it (drop --num-procs)"
        )
    check_port_free(address, port)
    import panel as pn

    from opdash.api import Api, handlers
    from opdash.app import ensure_extensions
    from opdash.serving import checked, dashboard, draw_once, serving_catalog

    spec = str(spec_path) if spec_path else None
    on = {"engine": engine, "remote": remote}
    catalog = shared_catalog(folder, **on)
    report = checked(catalog, spec, log=False)
    _report_problems(report, lenient)
    ensure_extensions()

    def process_catalog():
        """This process's catalog (opened, warmed and refreshed on first use)."""
        return serving_catalog(folder, spec, refresh, log=False, overview_first=True, **on)[0]

    def session():  # (the start-up check above printed the spec's problems)
        return dashboard(
            folder,
            spec_path=spec,
            refresh_seconds=refresh,
            stale_after=stale_after,
            log=False,
            **on,
        )

    if num_procs != 1:
        catalog.close()  # the forked processes open their own: a database must not cross a fork
    origins = [f"{address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    login = "" if access.setting == "none" else f" (login: {access.setting})"
    on_spark = f" on Spark ({catalog.remote})" if engine == "spark" else ""
    print(
        f"opdash: serving {getattr(catalog, 'location', catalog.root)}{on_spark} on "
        f"http://{address}:{port}/{login}",
        file=sys.stderr,
        flush=True,
    )
    server = pn.serve(
        {"/": session},
        port=port,
        address=address,
        show=show,
        websocket_origin=origins,
        title=f"opdash · {report.spec.title or catalog.root.name}",
        threaded=False,
        extra_patterns=handlers(Api(process_catalog, stale_after=stale_after, check=report)),
        num_procs=num_procs,
        start=False,
        **access.panel_options(),
    )
    # here in every serving process (with --num-procs, after the fork): open the catalog, warm
    # its Overview, draw one page nobody sees and schedule its refresh before the first visitor
    draw_once(process_catalog(), report.spec)
    print(f"opdash: ready on http://{address}:{port}/", file=sys.stderr, flush=True)
    server.start()
    with contextlib.suppress(RuntimeError):  # the loop was stopped (Ctrl-C)
        server.io_loop.start()
    return 0


def _report_problems(report, lenient: bool) -> None:
    """The start-up check: spec and goals errors stop the server (every one printed) unless
    ``lenient``; broken data never does — it is counted here and shown on the Data quality
    page."""
    for problem in report.blocking:
        print(problem.text(), file=sys.stderr)
    for problem in report.errors:
        if problem.area == ENGINE:  # (a tile this engine does not run: its card says why)
            print(problem.text(), file=sys.stderr)
    data = [p for p in report.errors if p.area == DATA]
    if data:
        files = len({p.file for p in data})
        print(
            f"opdash: note: {len(data)} data problem(s) in {files} file(s) — quarantined records "
            "are listed on the Data quality page and by `opdash check`",
            file=sys.stderr,
        )
    if report.blocking and not lenient:
        spec = report.spec_file or "the built-in spec"
        raise UsageError(
            f"{len(report.blocking)} problem(s) in {spec} or goals.yaml (listed above): fix them "
            "(`opdash check DIR` lists them again) or serve with --lenient"
        )
    if report.blocking:
        print(
            f"opdash: --lenient: {len(report.blocking)} problem(s) drawn as error cards",
            file=sys.stderr,
        )
