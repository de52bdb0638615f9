"""The ``opdash`` command: a parser built from the modules in ``opdash.commands``.

A user mistake (bad option, bad value, missing folder) ends with one line naming the bad value and
exit code 2; never a traceback. Commands that do not draw never import Panel or HoloViews.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import NoReturn

from opdash.commands import COMMANDS
from opdash.errors import UsageError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (no usage dump) with exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="opdash", description="A read-only dashboard over operator artifacts.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, module, help_text in COMMANDS:
        command = sub.add_parser(name, help=help_text, description=help_text)
        _module(module).add_arguments(command)
    return parser


def one_line(message: str) -> str:
    """An error message on one line: line breaks a value held are written as \\n."""
    return str(message).replace("\r", "\\r").replace("\n", "\\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for arg in argv:  # argparse drops '--' given as `--option=--` (CPython gh-109475)
        if arg.startswith("--") and arg.endswith("=--"):
            print(f"opdash: error: argument {arg[:-3]}: '--' is not a value", file=sys.stderr)
            return EXIT_USAGE
    args = build_parser().parse_args(argv)
    module = _module(dict((n, m) for n, m, _ in COMMANDS)[args.command])
    try:
        return module.run(args) or 0
    except (UsageError, FileExistsError) as exc:
        print(f"opdash {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # a resource limit (memory, disk, an interrupted query) is one line too, saying what
        # to change; anything else is a bug and keeps its traceback
        message = _resource_message(exc)
        if message is None:
            raise
        print(f"opdash {args.command}: error: {one_line(message)}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `opdash … | head`: the reader left; that is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _resource_message(exc: BaseException) -> str | None:
    if isinstance(exc, MemoryError):
        return "not enough memory: close other programs or ask about fewer events"
    if "duckdb" not in sys.modules:
        return None
    from opdash.catalog.memory import ResourceError, resource_message

    return str(exc) if isinstance(exc, ResourceError) else resource_message(exc)


def _module(name: str):
    return importlib.import_module(f"opdash.commands.{name}")


def _version() -> str:
    from opdash import __version__

    return f"opdash {__version__}"


def entry() -> None:
    """The ``opdash`` command: :func:`main`, then exit. A command that started Spark ends
    its process at once: the Spark Connect client's and the local server's threads would
    otherwise keep it alive after the answer was printed (the server's Java child exits with
    its parent)."""
    code = main()
    if "opdash.catalog.spark.session" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
