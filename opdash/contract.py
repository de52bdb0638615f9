"""The folder contract: where artifacts live, what an event envelope is, and how to name a field.

Everything that knows the *shape* of the data lives here, so the catalog, the metrics and the docs
agree on one definition (also shipped as JSON Schema in ``opdash/schemas/``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath

from opdash.errors import UsageError, did_you_mean

#: Top-level envelope keys; any other top-level key is kept in the ``extra`` JSON column.
ENVELOPE_KEYS = (
    "event_id",
    "event_type",
    "event_version",
    "occurred_at",
    "actor",
    "context",
    "entity",
    "correlation",
    "payload",
    "run_id",
)

#: Dotted envelope paths that are flat columns of the ``events`` relation.
FLAT_COLUMNS = {
    "event_id": "event_id",
    "event_type": "event_type",
    "event_version": "event_version",
    "occurred_at": "occurred_at",
    "actor.type": "actor_type",
    "actor.id": "actor_id",
    "entity.type": "entity_type",
    "entity.id": "entity_id",
    "correlation.workflow_id": "workflow_id",
    "correlation.parent_event_id": "parent_event_id",
    "run_id": "run_id",
    "source_file": "source_file",
}
#: Objects kept as JSON; a path below them (``payload.symbol``) is read from the JSON.
JSON_COLUMNS = ("context", "payload", "extra")

#: Why a record was quarantined. The codes are stable; the detail text explains each case.
QUARANTINE_REASONS = {
    "invalid_utf8": "the line is not valid UTF-8",
    "malformed_json": "the text is not valid JSON",
    "not_an_object": "an event must be a JSON object",
    "missing_field": "a required field (event_id, event_type, occurred_at) is missing or empty",
    "wrong_type": "a field has the wrong JSON type",
    "bad_timestamp": "occurred_at is not an RFC 3339 timestamp",
    "bad_event_version": "event_version must be an integer ≥ 1",
    "unreadable_file": "the file could not be read as a whole",
}

RAW_LIMIT = 2048  # quarantined raw text is cut to this many characters

_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


class FileKind(Enum):
    """How a file in the artifact folder is read."""

    JSON_LINES = "jsonl"
    JSON = "json"
    PARQUET = "parquet"
    RUN_META = "run.json"
    RUN_EVENTS = "run-events"
    RUN_ALERTS = "run-alerts"


@dataclass(frozen=True)
class ArtifactFile:
    """One file the catalog reads, with the run it belongs to (if under ``runs/<run_id>/``)."""

    relpath: str
    kind: FileKind
    run_id: str | None = None

    @property
    def holds_events(self) -> bool:
        return self.kind in (
            FileKind.JSON_LINES,
            FileKind.JSON,
            FileKind.PARQUET,
            FileKind.RUN_EVENTS,
        )


RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


#: Files at the folder's top that change what views show without being data (goals.yaml): an
#: edit to one is a new data version, so open pages redraw.
SETTINGS_FILES = ("goals.yaml",)


def classify(relpath: str) -> ArtifactFile | None:
    """Which kind of artifact a folder-relative path is, or None when opdash does not read it."""
    parts = PurePosixPath(relpath).parts
    if not parts or any(p.startswith(".") for p in parts):
        return None
    name = parts[-1]
    if parts[0] == "events" and len(parts) >= 2:
        if name.endswith((".jsonl", ".ndjson")):
            return ArtifactFile(relpath, FileKind.JSON_LINES)
        if name.endswith(".json"):
            return ArtifactFile(relpath, FileKind.JSON)
        if name.endswith(".parquet"):
            return ArtifactFile(relpath, FileKind.PARQUET)
        return None
    if parts[0] == "runs" and len(parts) == 3 and RUN_ID.match(parts[1]) and parts[1] != "..":
        kind = {
            "run.json": FileKind.RUN_META,
            "events.jsonl": FileKind.RUN_EVENTS,
            "alerts.jsonl": FileKind.RUN_ALERTS,
        }.get(name)
        return ArtifactFile(relpath, kind, run_id=parts[1]) if kind else None
    return None


@dataclass(frozen=True)
class FieldPath:
    """A dotted path into the envelope resolved to a column (and a JSON path below it, if any)."""

    path: str
    column: str
    json_path: str | None = None

    @property
    def sql(self) -> str:
        """A DuckDB expression giving the value as VARCHAR (NULL when absent)."""
        if self.json_path is None:
            return f'CAST("{self.column}" AS VARCHAR)'
        return f"json_extract_string(\"{self.column}\", '{self.json_path}')"


def field_path(path: str) -> FieldPath:
    """Resolve ``actor.id``, ``payload.symbol``, ``context.market`` … or raise a UsageError."""
    path = path.strip()
    if path in FLAT_COLUMNS:
        return FieldPath(path, FLAT_COLUMNS[path])
    if path in FLAT_COLUMNS.values():
        return FieldPath(path, path)
    root, _, rest = path.partition(".")
    segments = rest.split(".") if rest else []
    if root in JSON_COLUMNS and segments and all(_SEGMENT.match(s) for s in segments):
        return FieldPath(path, root, "$." + ".".join(segments))
    known = [*FLAT_COLUMNS, *(f"{c}.<key>" for c in JSON_COLUMNS)]
    return _raise_bad_path(path, known)


def _raise_bad_path(path: str, known: list[str]) -> FieldPath:
    hint = did_you_mean(path, known)
    raise UsageError(
        f"unknown field path '{path}'{hint} (use one of {', '.join(FLAT_COLUMNS)}, "
        "or context.<key>, payload.<key>)"
    )


@cache
def schema(name: str = "envelope") -> dict:
    """A JSON Schema shipped in the package (``envelope``, ``run``, ``alert``)."""
    text = resources.files("opdash.schemas").joinpath(f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


def outside_artifacts(root: str | Path, path: str | Path, option: str) -> Path:
    """``path`` resolved, or a UsageError naming ``option`` when it lies in the artifact folder
    ``root``: opdash never writes there."""
    folder, target = Path(root).resolve(), Path(path).resolve()
    if target == folder or folder in target.parents:
        raise UsageError(
            f"{option} {path} is inside the artifact folder {folder}; opdash never writes there"
        )
    return target


def writable_file(path: str | Path, option: str) -> Path:
    """``path`` when a file can be written there (checked before any work is done), else a
    UsageError naming ``option``: a folder, a parent that is missing or not a folder, a name
    too long."""
    target = Path(path)
    try:
        if target.is_dir():
            raise UsageError(f"{option} {path} is a folder; give a file name")
        if not target.parent.is_dir():
            raise UsageError(f"{option} {path}: the folder {target.parent} does not exist")
        target.exists()
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror or exc}") from None
    return target


def inside_folder(root: str | Path, source: str) -> Path:
    """The file ``source`` names relative to the artifact folder ``root``, symlinks resolved;
    a UsageError when it is absolute or leads out of the folder."""
    folder = Path(root).resolve()
    if not source or Path(source).is_absolute() or PurePosixPath(source).is_absolute():
        raise UsageError(f"source '{source}' must be a path relative to the artifact folder")
    target = (folder / source).resolve()
    if folder not in target.parents:
        raise UsageError(f"source '{source}' leads out of the artifact folder {folder}")
    return target
