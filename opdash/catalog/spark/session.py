"""Reaching Spark: a cluster's Spark Connect server, or a local one opdash starts itself.

Spark is reached only through Spark Connect (``sc://host:port``), so a laptop and a cluster use
the same client code: without a remote, opdash starts a local Spark Connect server
(``local[*]``) inside this process's own Java child, on a free port — once per process. Each
catalog has a Spark Connect session of its own on that server (a quarter of a second to open):
a catalog's relations are temporary views named ``events``, ``quarantine``…, and two folders
open in one process must not see each other's. Nothing here is imported on the DuckDB path.

What can go wrong is said in one line naming what is missing and how to get it (a
:class:`~opdash.errors.UsageError`: the CLI prints it and exits 2).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import sys
import tempfile
import threading
import warnings
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from opdash.errors import UsageError

#: Where a cluster's Spark Connect server is, when ``--spark-remote`` is not given.
REMOTE_ENV = "OPDASH_SPARK_REMOTE"
#: Threads of the local server (``local[N]``); all cores when unset.
THREADS_ENV = "OPDASH_SPARK_THREADS"
INSTALL_HINT = "pip install 'opdash[spark]'"
JAVA_HINT = "install Java 17 (apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
#: How long a remote may take to answer a TCP connection before it is called unreachable.
CONNECT_TIMEOUT_S = 5.0

#: Settings of every session opdash opens: instants in UTC, and Spark's forgiving casts (a
#: value that does not parse is NULL, as DuckDB's ``TRY_CAST``).
SESSION_CONF = {"spark.sql.session.timeZone": "UTC", "spark.sql.ansi.enabled": "false"}

_SERVERS: dict[str, Spark] = {}
_OPENED: list[weakref.ref] = []  # every session, for closing their clients at exit
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Spark:
    """A Spark Connect session and the ibis backend over it."""

    session: Any
    backend: Any
    remote: str  # "local[N]" or the sc:// URL
    url: str  # what a client connects to: the remote, or the local server's sc://localhost:port

    @property
    def local(self) -> bool:
        return self.remote.startswith("local")


def remote_url(given: str | None) -> str | None:
    """The Spark Connect URL to use: ``given``, else ``$OPDASH_SPARK_REMOTE``, else None (a
    local server). A URL that is not ``sc://host[:port]`` is a UsageError naming it."""
    url = (given if given is not None else os.environ.get(REMOTE_ENV, "")).strip()
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme != "sc" or not parsed.hostname:
        raise UsageError(f"Spark remote '{url}' is not a Spark Connect URL (sc://host:port)")
    try:
        parsed.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        raise UsageError(f"Spark remote '{url}' has a bad port") from None
    return url


def spark(remote: str | None = None) -> Spark:
    """The process's first session with ``remote`` (None: a local server, started once)."""
    key = remote or "local"
    with _LOCK:
        if key not in _SERVERS:
            _SERVERS[key] = _connect(remote) if remote else _start_local()
        return _SERVERS[key]


def new_session(remote: str | None = None) -> Spark:
    """A session of its own with ``remote`` (a catalog's: its temporary views are its own),
    on the server :func:`spark` reached or started."""
    server = spark(remote)  # (says in one line when pyspark or Java is missing)
    from pyspark.sql.connect.session import SparkSession as RemoteSession

    session = RemoteSession.builder.remote(server.url).create()
    _configure(session)
    return Spark(session, _backend(session), server.remote, server.url)


def _configure(session: Any) -> None:
    """Apply :data:`SESSION_CONF`; the session's client is closed when the process exits.

    Results come back on one plain stream, not pyspark's reattachable one: closing any
    session's client shuts down the release thread pool every reattachable stream of the
    process shares, and a second catalog's first query was seen to wait forever after that
    (in the Spark suite, a folder opened after others were let go). A reattachable stream
    only helps across a dropped connection, which then fails the question instead."""
    session.client.disable_reattachable_execute()
    for key, value in SESSION_CONF.items():
        session.conf.set(key, value)
    _OPENED.append(weakref.ref(session))


@atexit.register
def _close_clients() -> None:
    """At exit, close every session's client first: pyspark otherwise lets go of each kept
    table from its finaliser while the interpreter is tearing down (a traceback per table)."""
    for ref in _OPENED:
        session = ref()
        if session is not None:
            with contextlib.suppress(Exception):
                session.client.close()


def require_pyspark() -> None:
    """A UsageError saying how to install pyspark when it (or its Connect client) is missing."""
    try:
        import grpc  # noqa: F401
        import pyspark  # noqa: F401
        from pyspark.sql.connect.session import SparkSession  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            f"the Spark engine needs pyspark with its Connect client ({exc.name or exc} is "
            f"missing): {INSTALL_HINT}"
        ) from None


def _connect(remote: str) -> Spark:
    require_pyspark()
    parsed = urlparse(remote)
    port = parsed.port or 15002
    try:
        socket.create_connection((parsed.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise UsageError(
            f"cannot reach the Spark Connect server at {remote}: {reason}; start it "
            f"(sbin/start-connect-server.sh) or fix --spark-remote / {REMOTE_ENV}"
        ) from None
    from pyspark.sql import SparkSession

    session = SparkSession.builder.remote(remote).getOrCreate()
    _configure(session)
    return Spark(session, _backend(session), remote, remote)


def _start_local() -> Spark:
    require_pyspark()
    _require_java()
    from pyspark.sql.connect.session import SparkSession as RemoteSession

    threads = os.environ.get(THREADS_ENV, "").strip() or "*"
    master = f"local[{threads}]"
    port = _free_port()
    # the server's Python workers (the folder is read on them) run this interpreter
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    options = {
        "spark.connect.grpc.binding.port": str(port),
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.memory": _driver_memory(),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.log.level": "ERROR",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": os.environ.get(
            "OPDASH_SPARK_PARTITIONS", str(2 * (os.cpu_count() or 1))
        ),
        "spark.sql.ansi.enabled": "false",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={_quiet_logging()}",
    }
    with _server_output():
        RemoteSession._start_connect_server(master, dict(options))
    # the Connect client itself: pyspark's front door refuses it beside the server's session
    url = f"sc://localhost:{port}"
    session = RemoteSession.builder.remote(url).getOrCreate()
    _configure(session)
    return Spark(session, _backend(session), master, url)


def _backend(session: Any) -> Any:
    """ibis's pyspark backend, running every query with its shared parts computed once (an
    expression it runs itself, ``expr.execute()``, too): see :mod:`.ctes`."""
    import contextlib

    import ibis

    from opdash.catalog.spark.ctes import computed_once

    # ibis registers in-memory tables with an option Spark Connect ignores, and says so each time
    warnings.filterwarnings("ignore", message="'verifySchema' is ignored", category=UserWarning)
    backend = ibis.pyspark.connect(session)

    class Backend(type(backend)):
        @contextlib.contextmanager
        def _safe_raw_sql(self, query):
            text = query if isinstance(query, str) else query.sql(dialect=self.dialect)
            with computed_once(self._session, text) as sql:
                yield self._session.sql(sql)

    backend.__class__ = Backend
    return backend


def _require_java() -> None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return
    if shutil.which("java") is None:
        raise UsageError(f"the Spark engine needs Java to start a local Spark server: {JAVA_HINT}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _driver_memory() -> str:
    """The local server's heap: OPDASH_MEMORY_LIMIT, else half of the machine (as DuckDB)."""
    from opdash.catalog.memory import machine_memory, parse_bytes

    given = os.environ.get("OPDASH_MEMORY_LIMIT", "").strip()
    size = parse_bytes(given) if given else None
    size = size or machine_memory() // 2
    return f"{max(512, size // 2**20)}m"


def _quiet_logging() -> Path:
    """A log4j2 configuration that silences the local server's own log (Spark's default prints
    warnings about the host name and native libraries on every start, and task failures with
    Java stack traces); errors still reach opdash through Spark Connect."""
    path = Path(tempfile.gettempdir()) / "opdash-spark-log4j2.properties"
    path.write_text(
        "rootLogger.level = off\n"
        "rootLogger.appenderRef.stderr.ref = console\n"
        "appender.console.type = Console\n"
        "appender.console.name = console\n"
        "appender.console.target = SYSTEM_ERR\n"
        "appender.console.layout.type = PatternLayout\n"
        "appender.console.layout.pattern = spark: %p %c{1}: %m%n\n"
    )
    return path


@contextlib.contextmanager
def _server_output() -> Iterator[Path]:
    """The local server's own output (the JVM inherits file descriptors 1 and 2 and prints its
    start-up notes there) goes to a log file, not into a command's output (``--json`` stays one
    document, stderr one line per problem); a start that fails names the log's last line."""
    log = Path(tempfile.gettempdir()) / f"opdash-spark-{os.getpid()}.log"
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
    try:
        yield log
    except Exception as exc:  # noqa: BLE001  (why a local Spark did not start: one line)
        said = [ln.strip() for ln in log.read_text(errors="replace").splitlines()]
        errors = [ln for ln in said if "Error" in ln or "Exception" in ln]
        reason = errors[-1] if errors else (str(exc).strip().splitlines() or [repr(exc)])[0]
        raise UsageError(f"the local Spark server did not start: {reason} (log: {log})") from None
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)
