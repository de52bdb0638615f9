"""Functions the metrics need that ibis has no portable (or no fast) name for, per engine.

Declared as ibis builtins, not written: DuckDB's ``epoch_us`` and ``json_extract_string``,
Spark's ``unix_micros`` and ``get_json_object``. A catalog says which engine it runs on
(``catalog.dialect``); :func:`functions` gives that engine's set, so the same metric code
compiles for both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.datatypes as dt


@ibis.udf.scalar.builtin
def json_extract_string(value: dt.JSON, path: str) -> str:
    """The value at a JSON path as text (numbers as their literal), NULL when absent."""


@ibis.udf.scalar.builtin
def epoch_us(value: dt.Timestamp(timezone="UTC")) -> dt.int64:
    """Microseconds since the epoch: exact integer time for ordering and window arithmetic."""


@ibis.udf.scalar.builtin
def unix_micros(value: dt.Timestamp(timezone="UTC")) -> dt.int64:
    """Spark's microseconds since the epoch."""


@ibis.udf.scalar.builtin
def get_json_object(value: str, path: str) -> str:
    """Spark's value at a JSON path as text."""


@ibis.udf.scalar.builtin
def json_type(value: dt.JSON, path: str) -> str:
    """DuckDB's JSON type name of the value at a path (BIGINT, DOUBLE, VARCHAR, …), NULL if absent."""


@ibis.udf.scalar.builtin
def try_parse_json(value: str) -> dt.binary:
    """Spark's VARIANT of a JSON text (NULL when it is not JSON); typed here only to compose."""


@ibis.udf.scalar.builtin(name="variant_get")
def variant_at(value: dt.binary, path: str) -> dt.binary:
    """Spark's VARIANT at a path of a VARIANT."""


@ibis.udf.scalar.builtin
def schema_of_variant(value: dt.binary) -> str:
    """Spark's type name of a VARIANT (BIGINT, DECIMAL(p,s), DOUBLE, STRING, OBJECT<…>, …)."""


@ibis.udf.scalar.builtin
def try_variant_get(value: dt.binary, path: str, kind: str) -> dt.float64:
    """Spark's value at a path of a VARIANT as a type, NULL when it does not convert."""


#: DuckDB's JSON type names of numbers.
_NUMERIC_JSON = ("BIGINT", "UBIGINT", "HUGEINT", "DOUBLE")


def _duckdb_number(value: Any, path: str) -> Any:
    numeric = json_type(value, path).isin(_NUMERIC_JSON)
    return ibis.ifelse(
        numeric, json_extract_string(value, path).try_cast("float64"), ibis.null("float64")
    )


def _spark_number(value: Any, path: str) -> Any:
    variant = try_parse_json(value.cast("string"))
    kind = schema_of_variant(variant_at(variant, path))
    numeric = kind.isin(
        ("TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE")
    ) | kind.startswith("DECIMAL")
    return ibis.ifelse(numeric, try_variant_get(variant, path, "double"), ibis.null("float64"))


#: Numbers are summed as DECIMAL(38, 10): each value is the decimal its text says, rounded to
#: 10 places (half away from zero), and the sum of those is exact — so the same data always
#: gives the same sum, whatever order parallel threads add in (a float sum's last digits do
#: not, and snapshots must be byte-identical).
EXACT_TYPE = "decimal(38, 10)"
#: Values this large or larger are not summed (too_large counts them): 10^8 of them stay
#: below DECIMAL(38, 10)'s 10^28.
EXACT_LIMIT = 1e20


#: Below this, a text is read as DECIMAL(18, 10) first: DuckDB rounds extra digits there 20x
#: faster than in DECIMAL(38, 10) (the same rule: half away from zero).
_SMALL = 1e7


def exact(text: Any, number: Any) -> Any:
    """A number to sum exactly: its ``text`` as a decimal, where ``number`` (the same value as
    a float, NULL when it is not one) is a number below :data:`EXACT_LIMIT` in magnitude."""
    small = text.try_cast("decimal(18, 10)").cast(EXACT_TYPE)
    return ibis.cases(
        (number.isnull() | (number.abs() >= EXACT_LIMIT), ibis.null(EXACT_TYPE)),
        (number.abs() < _SMALL, small),
        else_=text.try_cast(EXACT_TYPE),
    )


def too_large(number: Any) -> Any:
    """How many values are too large to sum exactly (see :func:`refuse_too_large`)."""
    return number.count(where=number.abs() >= EXACT_LIMIT)


def refuse_too_large(count: Any, path: str | None) -> None:
    """A UsageError when a summed path held values too large to sum exactly."""
    from opdash.errors import UsageError

    if count and int(count):
        raise UsageError(
            f"{path} holds {int(count)} number(s) of 1e20 or more in magnitude, which opdash "
            "does not sum (sums are exact to 10 decimal places below that)"
        )


#: Joins the two paths of :func:`per_value` (and the two values of such an entity).
PER_VALUE = "\x1f"


def per_value(by: str, value_path: str) -> str:
    """An entity path whose entities are (``by``, ``value_path``) pairs: an entity's events
    that carry one value of ``value_path`` apart from those that carry another (the funnel's
    ``all`` breakdown attribution). Events without either value belong to no such entity."""
    return f"{by}{PER_VALUE}{value_path}"


@dataclass(frozen=True)
class Functions:
    """One engine's spelling of what the metrics need."""

    epoch_us: Callable[[Any], Any]
    json_text: Callable[[Any, str], Any]
    #: the value at a JSON path as a float when it is a JSON number, else NULL
    json_number: Callable[[Any, str], Any]

    def field(self, table: ibis.Table, path: str) -> ibis.Value:
        """The string value of a dotted envelope path (``actor.id``, ``payload.symbol``), or
        of a :func:`per_value` pair of paths (NULL unless both have a value)."""
        from opdash.contract import field_path

        if PER_VALUE in path:
            entity, value = (self.field(table, p) for p in path.split(PER_VALUE, 1))
            both = entity.notnull() & value.notnull()
            return ibis.ifelse(both, entity.concat(PER_VALUE, value), ibis.null("string"))
        resolved = field_path(path)
        if resolved.json_path is None:
            return table[resolved.column].cast("string")
        return self.json_text(table[resolved.column], resolved.json_path)


DUCKDB = Functions(epoch_us=epoch_us, json_text=json_extract_string, json_number=_duckdb_number)
SPARK = Functions(
    epoch_us=unix_micros,
    json_text=lambda value, path: get_json_object(value.cast("string"), path),
    json_number=_spark_number,
)


_EPOCH = ibis.timestamp("1970-01-01T00:00:00+00:00")
#: DuckDB with only the portable forms: epoch microseconds as a date difference (what Spark
#: compiles too; 20x slower on DuckDB than its own ``epoch_us``).
PORTABLE = Functions(
    epoch_us=lambda value: value.delta(_EPOCH, unit="microsecond"),
    json_text=json_extract_string,
    json_number=_duckdb_number,
)


def functions(catalog: Any) -> Functions:
    """The functions of the engine ``catalog`` runs on (DuckDB unless it says otherwise)."""
    if getattr(catalog, "dialect", "duckdb") == "spark":
        return SPARK
    return PORTABLE if getattr(catalog, "portable", False) else DUCKDB


def field(table: ibis.Table, path: str) -> ibis.Value:
    """DuckDB's :meth:`Functions.field` (metrics that run on DuckDB only)."""
    return DUCKDB.field(table, path)
