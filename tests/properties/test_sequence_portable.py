"""The sequence engine is portable: its expressions compile for Spark, and the DuckDB-only
speed-ups (``epoch_us``, unordered row numbers, SQL compiled once per shape) give exactly what
the portable forms give, on random data."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import opdash
from opdash.catalog import Catalog
from opdash.metrics import funnel_parts, sequence
from opdash.metrics.funnel import aggregates
from opdash.metrics.sqlfuncs import SPARK
from tests.fixtures import T0, write_lines

EVENTS_SCHEMA = {
    "event_id": "string",
    "event_type": "string",
    "occurred_at": "timestamp('UTC')",
    "actor_id": "string",
    "workflow_id": "string",
    "payload": "string",
}


BY = "correlation.workflow_id"


class SparkEvents:
    """A catalog on Spark, as far as the funnel's parts ask: its events and its dialect."""

    dialect = "spark"

    def __init__(self, events: ibis.Table) -> None:
        self._events = events

    def table(self, name: str = "events") -> ibis.Table:
        return self._events


class SparkBuilder:
    """Numbers rows the way Spark does."""

    def number(self, expr: ibis.Table, name: str) -> ibis.Table:
        return expr.mutate(**{name: _monotonic_id()})


@ibis.udf.scalar.builtin(name="monotonically_increasing_id")
def _monotonic_id() -> int:
    """Spark's distinct number per row."""


CASES = [
    ("ordered", ("a", "b", "c"), False),
    ("ordered", ("a", "a", "b", "a"), True),  # repeated types: ids and text keys
    ("strict", ("a", "b", "c"), True),
    ("unordered", ("a", "b", "c"), False),
]


@pytest.mark.parametrize(("order", "steps", "ids"), CASES)
def test_every_chain_and_question_compiles_for_spark(order, steps, ids) -> None:
    events = ibis.table(EVENTS_SCHEMA, name="events")
    spec = sequence.ChainSpec(steps, order, ids=ids)
    seq = sequence.relevant(
        events, SPARK.field(events, BY), SPARK.epoch_us(events.occurred_at), spec
    )
    build = sequence.chain_table(SparkBuilder(), seq, spec)
    built = ibis.to_sql(build, dialect="pyspark")
    if order == "ordered":  # light entities by join rounds, heavy ones by position
        assert "MONOTONICALLY_INCREASING_ID" in built.upper() and "ROW_NUMBER" in built.upper()
    chains = ibis.table(build.schema(), name="chains")
    values = sequence.question_values(3600 * 10**6, 0, 10**15, 10**15)
    chosen = sequence.levels_of(chains, spec, values)
    questions = [
        chosen.aggregate(**aggregates(chosen, spec.n, timed=order != "unordered")),
        funnel_parts.start_values(
            SparkEvents(events), funnel_parts.start_types(spec), "payload.plan"
        ),
    ]
    if ids or order == "unordered":  # exclusions: every attempt checked, then the choice
        whole = [funnel_parts.Exclusion("x", 1, spec.n)]
        ranged = [] if order == "unordered" else [funnel_parts.Exclusion("a", 1, 2)]

        def checked(part):
            rows = sequence.levels(part, spec, window_us=3600 * 10**6)
            return funnel_parts.with_clean(
                rows, SparkEvents(events), spec, BY, whole + ranged, lambda r: r.u1 + 3600 * 10**6
            )

        questions.append(sequence.chosen(chains, checked))
    bounds = ibis.memtable({"b_key": [0], "b_start": [0], "b_end": [10**15]})
    questions.append(chosen.join(bounds, [chosen.u1 >= bounds.b_start, chosen.u1 < bounds.b_end]))
    for sql in [built, *(ibis.to_sql(q, dialect="pyspark") for q in questions)]:
        assert "ASOF" not in sql.upper() and "EPOCH_US" not in sql.upper()


TYPES = ["a", "b", "c", "x"]
TIMES = [0, 0, 1, 2, 3, 5, 8, 60, 3600, 7200]


@st.composite
def folders(draw):
    n = draw(st.integers(4, 24))
    events = []
    for i in range(n):
        events.append(
            {
                "event_id": f"e{draw(st.integers(0, 99)):02d}-{i}",
                "event_type": draw(st.sampled_from(TYPES)),
                "occurred_at": (T0 + timedelta(seconds=draw(st.sampled_from(TIMES))))
                .isoformat()
                .replace("+00:00", "Z"),
                "correlation": {"workflow_id": draw(st.sampled_from(["w1", "w1", "w2", None]))},
                "payload": {"plan": draw(st.sampled_from(["p", "q", None]))},
            }
        )
    steps = draw(st.lists(st.sampled_from(TYPES[:3]), min_size=2, max_size=4))
    return events, steps, draw(st.sampled_from([0, 1, sequence.HEAVY_STARTS]))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(folders())
def test_duckdb_forms_answer_like_the_portable_forms(case) -> None:
    """Every order and option answers alike with DuckDB's speed-ups and with the portable
    forms, and a plain funnel computed within its question (one command) like one read off
    kept chains."""
    events, steps, heavy = case
    old = sequence.HEAVY_STARTS
    sequence.HEAVY_STARTS = heavy  # 0: every entity takes the sorted path
    try:
        with tempfile.TemporaryDirectory() as tmp:
            write_lines(Path(tmp) / "events" / "a.jsonl", events)
            fast = opdash.open(tmp)
            portable = Catalog(tmp, portable=True)
            # one command's catalog: a plain funnel computes its chains within its question
            one_shot = Catalog(tmp, keep_shared=False)
            distinct = list(dict.fromkeys(steps))
            for order, chosen_steps, extra in (
                ("ordered", steps, {"exclude": ["x"], "time_to_convert": f"1:{len(steps)}"}),
                ("ordered", steps, {"breakdown": "payload.plan", "dropped_at": 1}),
                ("strict", steps, {"exclude": ["x"]}),
                ("unordered", distinct if len(distinct) > 1 else ["a", "b"], {}),
            ):
                for window in ("1m",) if extra else ("1m", "2h"):
                    kwargs = {"order": order, "window": window, **extra}
                    a = opdash.funnel(fast, chosen_steps, **kwargs).to_dict()
                    b = opdash.funnel(portable, chosen_steps, **kwargs).to_dict()
                    assert a == b, (order, chosen_steps, kwargs)
                    if not extra:
                        c = opdash.funnel(one_shot, chosen_steps, **kwargs).to_dict()
                        assert c == a, ("one shot", order, chosen_steps, kwargs)
    finally:
        sequence.HEAVY_STARTS = old
