"""opdash snapshot DIR --out OUT [--as-of ISO]: the status as deterministic files to archive.

Writes status_snapshot.json, status_snapshot.html, runs.json and runs/<run_id>/{snapshot,tail,
alerts}.json under OUT (never inside DIR), and lists them in OUT/.opdash-snapshot.json: the next
snapshot into OUT deletes the files of runs that have since gone (nothing else). Same artifacts
and same --as-of: the same bytes.
"""

from __future__ import annotations

import argparse
import errno
from pathlib import Path

from opdash.commands.common import add_folder, add_stale_after, open_folder
from opdash.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_folder(parser)
    parser.add_argument("--out", required=True, type=Path, metavar="OUT", help="folder to write")
    parser.add_argument(
        "--as-of", default=None, metavar="ISO", help="the moment (default: the data's newest)"
    )
    add_stale_after(parser)


def run(args: argparse.Namespace) -> int:
    from opdash.snapshots import write_snapshot
    from opdash.timeutil import parse_instant

    as_of = parse_instant(args.as_of, name="--as-of")  # fail on a bad option before reading
    try:
        written = write_snapshot(
            open_folder(args), args.out, as_of=as_of, stale_after=args.stale_after
        )
    except (NotADirectoryError, FileNotFoundError, PermissionError) as exc:
        raise UsageError(f"--out {args.out}: {exc.strerror or exc}") from None
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        raise UsageError(f"--out {args.out}: {exc.strerror}") from None
    gone = f", removed {len(written.removed)} of runs since gone" if written.removed else ""
    print(f"wrote {len(written.files)} files to {written.out}{gone}")
    return 0
