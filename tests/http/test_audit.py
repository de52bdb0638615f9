"""``opdash audit``: the proof must describe the server ``opdash serve`` really builds.

Why: an audit that merely restates what we meant to expose proves nothing; here its routes and
methods are compared with the routes and handler methods of a server built exactly as
``serve`` builds it, and its "wrote nothing" claim is a measured fingerprint.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import DEMO, copy_demo


def run_audit(folder: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "opdash.cli", "audit", str(folder),
           "--out-json", str(out / "audit.json"), "--out-markdown", str(out / "audit.md"), *extra]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_audit_reports_binding_login_methods_and_counts(tmp_path: Path) -> None:
    done = run_audit(DEMO, tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "audit.json").read_text())
    assert report["bind_address"] == "127.0.0.1" and report["local_only"] is True
    assert report["login"] == "none" and report["api_methods"] == ["GET", "HEAD"]
    assert report["artifact_folder_unchanged"] is True
    assert report["data"]["events"] == 1073 and report["data"]["runs"] == 4
    assert "/login" not in {r["path"] for r in report["routes"]}
    page = (tmp_path / "audit.md").read_text()
    assert "GET, HEAD; any other: 405" in page and "| `/api/runs/{run_id}/tail` |" in page

    done = run_audit(DEMO, tmp_path, "--address", "0.0.0.0", "--basic-auth", "pw")
    report = json.loads((tmp_path / "audit.json").read_text())
    assert (report["local_only"], report["login"]) == (False, "basic")
    assert {"/login", "/logout"} <= {r["path"] for r in report["routes"]}


def served_routes() -> dict[str, set[str]]:
    """Path -> methods of a server built as ``opdash serve --basic-auth`` builds it."""
    code = """
import json, sys, panel as pn
from opdash.api import Api, handlers, implemented_methods
from opdash.app import build_app
from opdash.catalog import shared_catalog
catalog = shared_catalog(sys.argv[1])
server = pn.serve({"/": lambda: build_app(catalog)}, port=0, start=False, show=False,
                  extra_patterns=handlers(Api(lambda: catalog)), basic_auth="x", cookie_secret="y")
rules = [(r.matcher.regex.pattern, implemented_methods(r.target))
         for r in server._tornado.wildcard_router.rules]
print(json.dumps(rules))
"""
    cmd = [sys.executable, "-c", code, str(DEMO)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    routes: dict[str, set[str]] = {}
    for pattern, methods in json.loads(done.stdout.strip().splitlines()[-1]):
        if pattern == "^/api/.*$":
            continue  # the catch-all 404 for unknown API paths
        path = pattern.lstrip("^").rstrip("$").replace("\\", "")
        path = re.sub(r"\(\?!extensions/\)\(\.\*\)|\(\.\*\)", "*", path)
        path = path.replace("([^/]+)", "{run_id}").replace("/?", "/")
        if path == "/static/extensions/*":
            path = "/static/*"  # the audit names one static tree
        routes.setdefault(path, set()).update(methods)
    return routes


def test_audited_routes_are_the_routes_the_server_has(tmp_path: Path) -> None:
    assert run_audit(DEMO, tmp_path, "--basic-auth", "pw").returncode == 0
    report = json.loads((tmp_path / "audit.json").read_text())
    audited = {r["path"]: set(r["methods"].split(", ")) for r in report["routes"]}
    assert audited == served_routes()
    writing = {p: m for p, m in audited.items() if m - {"GET", "HEAD", "OPTIONS"}}
    assert writing == {"/login": {"GET", "POST"}}  # the only non-read: the login form


def test_audit_never_writes_into_the_artifacts(tmp_path: Path) -> None:
    folder = copy_demo(tmp_path / "artifacts")
    done = run_audit(folder, folder)
    assert done.returncode == 2 and "inside the artifact folder" in done.stderr
    assert not (folder / "audit.json").exists()


@pytest.mark.parametrize("extra", [["--port", "99999"], ["--oauth-key", "k"]])
def test_bad_audit_options_are_one_line_and_exit_2(tmp_path: Path, extra: list[str]) -> None:
    done = run_audit(DEMO, tmp_path, *extra)
    assert done.returncode == 2 and "Traceback" not in done.stderr
