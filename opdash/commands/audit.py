"""opdash audit DIR --out-json F --out-markdown F: a read-only proof of what serving DIR exposes.

Takes the same --address, --port and login options as ``opdash serve`` and reports the routes
and methods, the bind address, the login setting and the data's counts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from opdash.commands.common import add_folder, local_duckdb_only, open_folder
from opdash.commands.serve import access, add_server_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_folder(parser)
    parser.add_argument("--out-json", type=Path, required=True, metavar="FILE")
    parser.add_argument("--out-markdown", type=Path, required=True, metavar="FILE")
    add_server_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from opdash.audit import audit, markdown
    from opdash.contract import outside_artifacts, writable_file
    from opdash.errors import UsageError
    from opdash.jsontext import dumps

    local_duckdb_only(args, "audit")
    login = access(args).setting
    root = Path(args.dir).resolve()
    for path, option in ((args.out_json, "--out-json"), (args.out_markdown, "--out-markdown")):
        outside_artifacts(root, path, option)
        writable_file(path, option)
    result = audit(
        lambda: open_folder(args), root, address=args.address, port=args.port, login=login
    )
    try:
        args.out_json.write_text(dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
        args.out_markdown.write_text(markdown(result), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {exc.filename}: {exc.strerror or exc}") from None
    print(f"wrote {args.out_json} and {args.out_markdown}")
    return 0 if result.artifact_folder_unchanged else 1
