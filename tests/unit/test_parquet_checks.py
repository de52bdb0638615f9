"""Parquet read in place is checked from its statistics when they prove every row valid, and a
file's checks are kept by its digest, so a second open of an unchanged folder checks nothing
again — while any change to a file is checked afresh."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import opdash
from opdash.catalog.loader import Loader
from opdash.parquet import ParquetSource
from tests.fixtures import T0


def _write(path: Path, ids, types, times, *, statistics: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "event_id": pa.array(ids, pa.string()),
            "event_type": pa.array(types, pa.string()),
            "occurred_at": pa.array(times, pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(table, path, write_statistics=statistics, row_group_size=2)
    return path


def _proved(path: Path) -> bool:
    return ParquetSource.inspect(path, path.name, 0, None).valid_by_statistics


@pytest.mark.parametrize(
    ("ids", "types", "times", "proved"),
    [
        (["a", "b", "c"], ["t", "t", "u"], [T0, T0, T0], True),
        (["a", "", "c"], ["t", "t", "u"], [T0, T0, T0], False),  # an empty id
        (["a", None, "c"], ["t", "t", "u"], [T0, T0, T0], False),  # a missing id
        (["a", "b", "c"], ["t", None, "u"], [T0, T0, T0], False),  # a missing type
        (["a", "b", "c"], ["t", "t", "u"], [T0, None, T0], False),  # a missing time
        (["a", "b"], ["t", "t"], [T0, datetime(9999, 12, 31, 12)], False),  # past the years
    ],
)
def test_statistics_spare_the_row_check_only_when_they_prove_it(
    tmp_path: Path, ids, types, times, proved
) -> None:
    path = _write(tmp_path / "events/e.parquet", ids, types, times)
    assert _proved(path) is proved
    cat = opdash.open(tmp_path)
    good = sum(
        1 for i, t, w in zip(ids, types, times, strict=True) if i and t and w and w.year < 9999
    )
    assert cat.stats().events == good
    assert cat.stats().quarantined == len(ids) - good


def test_without_statistics_every_row_is_checked(tmp_path: Path) -> None:
    path = _write(tmp_path / "events/e.parquet", ["a", "", "c"], ["t"] * 3, [T0] * 3,
                  statistics=False)  # fmt: skip
    assert not _proved(path)
    cat = opdash.open(tmp_path)
    assert (cat.stats().events, cat.stats().quarantined) == (2, 1)


def test_a_second_open_checks_nothing_again_and_a_changed_file_is_checked(
    tmp_path: Path, monkeypatch
) -> None:
    root = tmp_path / "artifacts"
    _write(root / "events/a.parquet", ["x1", "x2", "", "x3"], ["t"] * 4, [T0] * 4)
    _write(root / "events/b.parquet", ["x2", "y1"], ["t", "u"], [T0, T0])
    first = opdash.open(root)
    answer = (
        first.fetchall("SELECT event_id FROM events ORDER BY 1"),
        first.fetchall('SELECT source_file, "row", reason FROM quarantine'),
        first.fetchall('SELECT event_id, source_file, "row" FROM duplicates'),
    )
    assert answer[2] == [("x2", "events/b.parquet", 1)]  # the first copy in path order wins

    def never(*args, **kwargs):
        raise AssertionError("checked again")

    monkeypatch.setattr(Loader, "_find_duplicate_rows", never)
    monkeypatch.setattr(ParquetSource, "quarantine_sql", never)
    again = opdash.open(root)
    assert (
        again.fetchall("SELECT event_id FROM events ORDER BY 1"),
        again.fetchall('SELECT source_file, "row", reason FROM quarantine'),
        again.fetchall('SELECT event_id, source_file, "row" FROM duplicates'),
    ) == answer

    # b.parquet rewritten: now x1 is repeated too; its digest changed, so it is checked
    _write(root / "events/b.parquet", ["x1", "y1"], ["t", "u"], [T0, T0])
    st = (root / "events/b.parquet").stat()
    os.utime(root / "events/b.parquet", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="checked again"):
        opdash.open(root)
    monkeypatch.undo()
    changed = opdash.open(root)
    assert changed.fetchall("SELECT event_id FROM duplicates") == [("x1",)]
    assert changed.stats().events == 4  # x1, x2, x3 from a; y1 from b


def test_the_kept_checks_never_go_inside_the_artifact_folder(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "artifacts"
    _write(root / "events/a.parquet", ["x1"], ["t"], [T0])
    monkeypatch.setenv("OPDASH_CACHE_DIR", str(root / "cache"))
    opdash.open(root)
    assert not (root / "cache").exists()
    monkeypatch.setenv("OPDASH_CACHE_DIR", "")  # keep nothing
    assert opdash.open(root).stats().events == 1
