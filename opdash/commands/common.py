"""What every command shares: argument types and JSON output.

Argument types raise ``argparse.ArgumentTypeError`` so a bad value ends in one line, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from opdash.display import percent


def given_path(value: str, what: str) -> Path:
    """``value`` as a path, ``~`` expanded: one line naming it when it cannot be one (an
    unknown ``~user``, a name longer than the system allows)."""
    try:
        path = Path(value).expanduser()
        path.exists()
    except (RuntimeError, OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise argparse.ArgumentTypeError(f"{what} '{value}': {reason}") from None
    return path


def folder(value: str) -> Path | str:
    """A local folder that exists, or a URI (``s3a://bucket/exports``) only Spark reads."""
    if "://" in value:
        return value.rstrip("/")
    path = given_path(value, "folder")
    if not path.exists():
        raise argparse.ArgumentTypeError(f"folder '{value}' does not exist")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"'{value}' is not a folder")
    return path


#: The largest whole number an option takes (a limit, seconds, processes): DuckDB's integers
#: are 64-bit, and nothing sensible comes near this.
MAX_COUNT = 10**12


def count(value: str) -> int:
    """A whole number ≥ 0."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"'{value}' must not be negative")
    if number > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"'{value}' is too large (at most {MAX_COUNT:,})")
    return number


def positive(value: str) -> int:
    """A whole number ≥ 1."""
    number = count(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"'{value}' must be at least 1")
    return number


def port(value: str) -> int:
    number = count(value)
    if not 0 < number < 65536:
        raise argparse.ArgumentTypeError(f"port '{value}' must be between 1 and 65535")
    return number


def add_folder(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dir", type=folder, help="the artifact folder (with --engine spark: any URI Spark reads)"
    )
    add_engine(parser)


def add_engine(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default="duckdb",
        help="the query engine: DuckDB embedded (default) or Apache Spark via Spark Connect",
    )
    parser.add_argument(
        "--spark-remote",
        metavar="URL",
        help="a Spark Connect server (sc://host:port; default $OPDASH_SPARK_REMOTE, else a "
        "local Spark started for this command)",
    )


def add_stale_after(parser: argparse.ArgumentParser) -> None:
    from opdash.metrics.runs import STALE_AFTER_SECONDS

    parser.add_argument(
        "--stale-after",
        type=positive,
        default=STALE_AFTER_SECONDS,
        metavar="SECONDS",
        help="a running run with no heartbeat or event for longer is stale (default 300)",
    )


def spec_file(value: str) -> Path:
    path = given_path(value, "spec file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"spec file '{value}' does not exist")
    return path


def add_spec(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spec",
        type=spec_file,
        metavar="FILE",
        help="the dashboard spec (default: DIR/dashboard.yaml, else the built-in one)",
    )


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False))


def pct(value: float | None) -> str:
    """A share as a percent in a command's plain-text table (``-`` where there is none)."""
    return percent(value, missing="-")


def local_duckdb_only(args: argparse.Namespace, command: str) -> None:
    """A command that does not run on Spark yet says so in one line (not silently DuckDB)."""
    from opdash.errors import UsageError

    if getattr(args, "engine", "duckdb") != "duckdb":
        raise UsageError(f"{command} runs on --engine duckdb only (docs/scale-out.md)")
    local_folder(args)


def local_folder(args: argparse.Namespace) -> None:
    """A URI folder (``s3a://…``) is for Spark: on DuckDB, one line saying so."""
    from opdash.errors import UsageError

    if getattr(args, "engine", "duckdb") == "duckdb" and isinstance(args.dir, str):
        raise UsageError(f"folder '{args.dir}' is a URI: only --engine spark reads one")


def open_folder(args: argparse.Namespace, *, keep_shared: bool = True):
    """The catalog of ``args.dir``; ``keep_shared=False`` for a command asking one question
    (what questions share is then computed within it, not kept)."""
    engine = getattr(args, "engine", "duckdb")
    if engine == "spark":
        from opdash.catalog import shared_catalog

        catalog = shared_catalog(args.dir, engine="spark", remote=args.spark_remote)
        catalog.refresh()  # the process's one Spark catalog, up to date
        return catalog
    local_folder(args)
    from opdash.catalog import open_catalog

    return open_catalog(args.dir, keep_shared=keep_shared)


def emit(args: argparse.Namespace, result, table) -> int:
    """Print a metric result as JSON (``--json``) or as ``table(result)``; a step or event type
    that never occurs is a note on stderr, not an error."""
    for missing in getattr(result, "missing_event_types", []):
        print(f"note: event type '{missing}' never occurs in {args.dir}", file=sys.stderr)
    if args.json:
        print_json(result.to_dict())
    else:
        print(table(result))
    return 0
