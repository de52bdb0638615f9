"""opdash serve DIR: the dashboard, bound to 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import argparse

from opdash.commands.common import add_folder, add_stale_after, count, port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_folder(parser)
    parser.add_argument("--port", type=port, default=5006)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--show", action="store_true", help="open a browser")
    parser.add_argument(
        "--refresh", type=count, default=10, help="seconds between refreshes (0 = off)"
    )
    add_stale_after(parser)


def run(args: argparse.Namespace) -> int:
    from opdash.server import serve

    return serve(
        args.dir,
        port=args.port,
        address=args.address,
        show=args.show,
        refresh=args.refresh,
        stale_after=args.stale_after,
    )
