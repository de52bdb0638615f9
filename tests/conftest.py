"""Fixtures every test gets (a private validation cache, the demo folder's guard) and the
small ones tests ask for by name. Shared helpers are in ``fixtures.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures import DEMO, fingerprint
from tests.servers import CHROMIUM_ARGS, chromium_path


@pytest.fixture(scope="session", autouse=True)
def private_validation_cache(tmp_path_factory):
    """Parquet checks are kept per file digest in a cache folder: the tests keep theirs in a
    folder of the session (servers they start inherit it), never in the user's."""
    import os

    folder = tmp_path_factory.mktemp("opdash-cache")
    old = os.environ.get("OPDASH_CACHE_DIR")
    os.environ["OPDASH_CACHE_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("OPDASH_CACHE_DIR", None)
    else:
        os.environ["OPDASH_CACHE_DIR"] = old


@pytest.fixture(scope="session", autouse=True)
def demo_folder_is_never_written():
    """Every test reads data/demo (CI makes it read-only with chmod -R a-w; as root that is not
    enforced, so the whole tree's sizes, times and modes are compared after the session)."""
    before = fingerprint(DEMO)
    yield
    assert fingerprint(DEMO) == before, "something wrote into data/demo"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty artifact folder with an ``events/`` directory."""
    (tmp_path / "events").mkdir()
    return tmp_path


@pytest.fixture(scope="session")
def browser_type_launch_args():
    """pytest-playwright's browser, but Debian's chromium (nothing can be downloaded here)."""
    return {"executable_path": chromium_path(), "args": CHROMIUM_ARGS}


@pytest.fixture
def console(page) -> list[str]:
    """Errors the browser reports (console errors and uncaught exceptions) while the test runs."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors
