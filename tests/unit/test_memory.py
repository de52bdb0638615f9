"""Memory: many different questions under a small cap all get their answers (what passes the
cap spills, what is kept is bounded by bytes), and a cap too small for a question is one line
naming OPDASH_MEMORY_LIMIT with exit code 2 — in the CLI, the API and a dashboard tile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

from synthetic import STEPS, write_folder  # noqa: E402

import opdash  # noqa: E402
from opdash.catalog import Catalog  # noqa: E402
from opdash.catalog.memory import memory_limit, parse_bytes  # noqa: E402

EVENTS = 300_000


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """Synthetic envelope events (benchmarks/synthetic.py), parquet read in place."""
    return write_folder(tmp_path_factory.mktemp("generated") / "events-300k", EVENTS)


QUESTIONS = [
    {"order": "ordered"},
    {"order": "ordered", "window": "1d"},
    {"order": "ordered", "window": "30d"},
    {"order": "strict"},
    {"order": "strict", "window": "2d"},
    {"order": "unordered"},
    {"order": "unordered", "window": "6h"},
    {"order": "ordered", "breakdown": "actor.type"},
    {"order": "ordered", "breakdown": "actor.id", "breakdown_limit": 5},
    {"order": "strict", "breakdown": "actor.type"},
    {"order": "unordered", "breakdown": "actor.id"},
    {"order": "ordered", "exclude": ["alert.raised"]},
    {"order": "strict", "exclude": ["trade.updated"]},
    {"order": "ordered", "time_to_convert": "1:4", "bins": 5},
    {"order": "ordered", "trend": "week", "tz": "Europe/Berlin", "as_of": "2026-12-31T00:00Z"},
    {"order": "ordered", "dropped_at": 2, "dropped_limit": 5},
    {"order": "ordered", "since": "2026-10-10", "until": "2026-11-01"},
    {"order": "strict", "since": "2026-10-20"},
    {"order": "ordered", "by": "actor.id"},  # 50 entities of thousands of events each
    {"order": "unordered", "by": "actor.id", "window": "1h"},
    {"order": "strict", "by": "actor.id", "window": "1h"},
]
ACTOR_SETS = [("agent-00",), ("agent-01", "agent-02"), ("agent-03", "agent-04", "agent-05")]


def _answers(catalog: Catalog) -> list[dict]:
    from opdash.metrics.scope import Scope, ScopedCatalog

    out = [opdash.funnel(catalog, list(STEPS), **q).to_dict() for q in QUESTIONS]
    for actors in ACTOR_SETS:
        view = ScopedCatalog(catalog, Scope(actors=actors))
        for order in ("ordered", "strict", "unordered"):
            out.append(opdash.funnel(view, list(STEPS), order=order).to_dict())
    return out


def test_thirty_questions_under_a_small_cap_all_get_the_same_answers(
    generated: Path, monkeypatch
) -> None:
    roomy = _answers(opdash.open(generated))
    assert len(roomy) >= 30 and roomy[0]["steps"][0]["count"] > 10_000
    monkeypatch.setenv("OPDASH_MEMORY_LIMIT", "256MB")
    monkeypatch.setenv("OPDASH_SHARED_MB", "8")  # kept tables evicted between questions
    capped = opdash.open(generated)
    assert abs(parse_bytes(memory_limit()) - 256 * 10**6) < 2**20
    assert _answers(capped) == roomy
    assert capped._shared.bytes <= capped._shared.budget


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "opdash.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


def test_a_cap_too_small_is_one_line_naming_the_setting_and_exit_2(generated: Path) -> None:
    steps = ",".join(STEPS)
    done = _cli(
        "funnel", str(generated), "--steps", steps, "--order", "strict",
        env={"OPDASH_MEMORY_LIMIT": "4MB"},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "OPDASH_MEMORY_LIMIT" in lines[0] and "4MB" in lines[0]
    assert lines[0].startswith("opdash funnel: error: not enough memory")
    done = _cli("funnel", str(generated), "--steps", steps, env={"OPDASH_MEMORY_LIMIT": "lots"})
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "opdash funnel: error: bad OPDASH_MEMORY_LIMIT 'lots': give a size of at least 1MB, "
        "e.g. 512MB or 4GB"
    )


def test_a_tile_says_the_same_sentence(generated: Path, monkeypatch) -> None:
    from opdash.components.base import error_card
    from opdash.components.filters import Filters
    from opdash.components.funnel import FunnelView

    opdash.open(generated)  # the files' checks are kept: opening again under the cap reads them
    monkeypatch.setenv("OPDASH_MEMORY_LIMIT", "4MB")
    view = FunnelView(opdash.open(generated), filters=Filters(), steps=list(STEPS), order="strict")
    with pytest.raises(Exception) as failed:
        view.data()
    card = error_card("Funnel", failed.value).object
    assert "not enough memory for this question" in card and "OPDASH_MEMORY_LIMIT" in card
    assert "Out of Memory Error" not in card
