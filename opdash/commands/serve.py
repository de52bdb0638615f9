"""opdash serve DIR: the dashboard, bound to 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import argparse

from opdash.commands.common import (
    add_folder,
    add_spec,
    add_stale_after,
    count,
    local_folder,
    port,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_folder(parser)
    add_server_arguments(parser)
    parser.add_argument("--show", action="store_true", help="open a browser")
    parser.add_argument(
        "--refresh", type=count, default=10, help="seconds between refreshes (0 = off)"
    )
    parser.add_argument(
        "--num-procs",
        type=count,
        default=1,
        metavar="N",
        help="serving processes, each with its own read-only catalog (0 = one per CPU core; "
        "default 1)",
    )
    add_stale_after(parser)
    add_spec(parser)
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="serve despite spec problems: valid tiles drawn, an error card for each broken one",
    )


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the server listens and who may log in (``serve``, and ``audit`` reporting it)."""
    parser.add_argument("--port", type=port, default=5006)
    parser.add_argument("--address", default="127.0.0.1", help="bind address (default local only)")
    login = parser.add_argument_group("login (off by default: bind to 127.0.0.1 instead)")
    login.add_argument(
        "--basic-auth",
        metavar="PASSWORD_OR_FILE",
        help="require a login: one password, or a JSON file of {user: password}",
    )
    login.add_argument(
        "--cookie-secret", help="signs login cookies (default: a new random one per start)"
    )
    for name, text in OAUTH_OPTIONS.items():
        login.add_argument(f"--{name.replace('_', '-')}", dest=name, help=text)


#: Panel's OAuth options, passed on as they are (see Panel's "Configuring OAuth").
OAUTH_OPTIONS = {
    "oauth_provider": "OAuth provider (e.g. github, google, azure, generic)",
    "oauth_key": "OAuth client id",
    "oauth_secret": "OAuth client secret",
    "oauth_redirect_uri": "OAuth redirect URI",
    "oauth_encryption_key": "key that encrypts OAuth tokens in cookies",
    "oauth_extra_params": "extra provider parameters, as a JSON object",
}


def access(args: argparse.Namespace):
    """The login settings, checked: one clear line for a bad combination or value."""
    import json

    from opdash.errors import UsageError
    from opdash.server import Access

    oauth = {name: getattr(args, name) for name in OAUTH_OPTIONS if getattr(args, name)}
    if args.basic_auth and oauth.get("oauth_provider"):
        raise UsageError("give --basic-auth or --oauth-provider, not both")
    if oauth and not oauth.get("oauth_provider"):
        raise UsageError(f"--{next(iter(oauth)).replace('_', '-')} needs --oauth-provider")
    if "oauth_extra_params" in oauth:
        try:
            extra = json.loads(oauth["oauth_extra_params"])
        except ValueError:
            extra = None
        if not isinstance(extra, dict):
            raise UsageError(
                f"bad --oauth-extra-params '{oauth['oauth_extra_params']}': give a JSON object"
            )
        oauth["oauth_extra_params"] = extra
    if args.basic_auth == "":
        raise UsageError("--basic-auth needs a password or a file")
    return Access(basic_auth=args.basic_auth, cookie_secret=args.cookie_secret, oauth=oauth)


def run(args: argparse.Namespace) -> int:
    from opdash.server import serve

    local_folder(args)
    return serve(
        args.dir,
        port=args.port,
        address=args.address,
        show=args.show,
        refresh=args.refresh,
        stale_after=args.stale_after,
        access=access(args),
        spec_path=args.spec,
        lenient=args.lenient,
        num_procs=args.num_procs,
        engine=args.engine,
        remote=args.spark_remote,
    )
