"""``opdash check``: every problem of a folder's dashboard spec, goals and data, in one run.

Each problem names the file, the line, the tile and what to do. The spec is checked against
the JSON Schema shipped in the package (``opdash/schemas/dashboard.schema.json``), then each
tile's values are checked the way its component will read them (metrics, windows, paths,
sources, SQL). Event types a spec names that never occur in the data are warnings; everything
else is an error. ``opdash serve`` runs the same check at start.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from opdash.errors import UsageError, did_you_mean, json_kind
from opdash.spec.model import (
    ERROR_TILE,
    SPEC_FILE,
    SUPPORTED_VERSION,
    DashboardSpec,
    PageSpec,
    TileSpec,
    slug,
)
from opdash.spec.tiles import TILE_TYPES
from opdash.spec.values import ValueProblem, value_problems
from opdash.yamltext import YamlDocument, YamlProblem, parse_yaml, read_text

ERROR, WARNING = "error", "warning"
#: What a problem is about: serve stops for spec and goals errors; broken data never stops it,
#: nor does a tile the engine does not run (a SQL tile on Spark: drawn as its error card).
SPEC, GOALS, DATA, ENGINE = "spec", "goals", "data", "engine"


@dataclass(frozen=True)
class Problem:
    """One problem: where (file, line, tile), what, and what to do."""

    file: str
    message: str
    line: int | None = None
    tile: str | None = None  # "page 'Overview', tile 2 (funnel)"
    hint: str = ""
    severity: str = ERROR
    area: str = SPEC
    page_index: int | None = None  # where an error card takes the tile's place (--lenient)
    tile_index: int | None = None

    def text(self) -> str:
        """``dashboard.yaml:12: error: page 'Overview', tile 2 (funnel): … (hint)``."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        what = f"{self.tile}: {self.message}" if self.tile else self.message
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}: {self.severity}: {what}{hint}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CheckReport:
    """What ``opdash check`` found. ``spec`` is the spec to draw: the one checked when it has no
    errors, else the valid part with a broken tile in place of each bad one (see
    :func:`lenient_spec`)."""

    folder: str
    spec_file: str | None  # None: the built-in default spec
    spec: DashboardSpec
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def blocking(self) -> list[Problem]:
        """Errors that stop ``opdash serve`` (the spec's and the goals'; never the data's)."""
        return [p for p in self.errors if p.area in (SPEC, GOALS)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "spec_file": self.spec_file,
            "ok": not self.errors,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [p.to_dict() for p in self.problems],
        }


@cache
def dashboard_schema() -> dict:
    """The JSON Schema of a dashboard spec (``opdash/schemas/dashboard.schema.json``)."""
    text = resources.files("opdash.schemas").joinpath("dashboard.schema.json").read_text("utf-8")
    return json.loads(text)


# -- the folder ---------------------------------------------------------------------------------


def check_folder(root: str | Path, spec_path: str | Path | None = None, *, catalog=None):
    """Check the folder's spec (``spec_path``, else ``root/dashboard.yaml``, else the built-in
    one), its goals.yaml and its data; ``catalog`` (opened when not given) holds the data."""
    from opdash.catalog import open_catalog
    from opdash.metrics.goals import GOALS_FILE

    root = Path(root)
    path = Path(spec_path) if spec_path else root / SPEC_FILE
    problems: list[Problem] = []
    if spec_path or path.is_file():
        label = str(spec_path) if spec_path else SPEC_FILE
        try:
            text = read_text(path, what=f"spec file {label}")
        except YamlProblem as exc:
            text = None
            problems.append(Problem(label, exc.message, exc.line))
        spec_file: str | None = label
    else:
        from opdash.spec.model import default_spec_text

        text, label, spec_file = default_spec_text(), "(built-in spec)", None
    spec = data = None
    if text is not None:
        spec, more, data = check_spec_text(text, source=label, root=root)
        problems += more
    catalog = catalog if catalog is not None else open_catalog(root)
    problems += _event_type_warnings(spec, catalog, label)
    problems += _engine_problems(spec, catalog, label)
    problems += _goals(root / GOALS_FILE, catalog)
    problems += data_problems(catalog)
    usable = spec if spec is not None else lenient_spec(problems, data)
    return CheckReport(str(root), spec_file, usable, problems)


def _goals(path: Path, catalog) -> list[Problem]:
    """goals.yaml's problems, and warnings for event types its valid goals name that never
    occur in the data."""
    from opdash.metrics.goals import check_goals

    if not path.is_file():
        return []
    try:
        goals, found = check_goals(read_text(path, what="goals file"), source=path.name)
    except YamlProblem as exc:
        return [Problem(path.name, exc.message, exc.line, area=GOALS)]
    out = []
    for line, message in found:
        message = message.removeprefix(f"{path.name}: ")
        label, _, rest = message.partition(": ")
        if label.startswith("goal ") and rest:
            out.append(Problem(path.name, rest, line, tile=label.split(" (line")[0], area=GOALS))
        else:
            out.append(Problem(path.name, message, line, area=GOALS))
    present = set(catalog.event_types())
    for goal in goals:
        for event_type in [goal.event, *goal.steps]:
            if event_type and event_type not in present:
                out.append(
                    _unseen(
                        path.name,
                        event_type,
                        "",
                        present,
                        goal.line,
                        "its progress stays 0 until such events arrive",
                        tile=f"goal '{goal.id}'",
                        area=GOALS,
                    )
                )
    return out


def data_problems(catalog) -> list[Problem]:
    """Files that could not be read and quarantined records: one problem per (file, reason),
    at the first such record, with its detail."""
    from opdash.contract import QUARANTINE_REASONS
    from opdash.masking import mask_text

    rows = catalog.fetchall(
        'SELECT source_file, reason, count(*), arg_min(line, coalesce(line, "row", 0)), '
        'min("row"), arg_min(detail, coalesce(line, "row", 0)) '
        'FROM quarantine GROUP BY 1, 2 ORDER BY 1, min(coalesce(line, "row", 0)), 2'
    )
    out = []
    for source_file, reason, n, line, row, detail in rows:
        detail = mask_text(detail) or QUARANTINE_REASONS.get(reason, reason)
        if reason == "unreadable_file":
            message = f"the file could not be read: {detail}"
        else:
            records = f"{n:,} record{'s' if n != 1 else ''}"
            first = "" if n == 1 else ", the first"
            at_row = f" at row {row}" if line is None and row is not None else ""
            message = f"{records} quarantined ({reason}){first}{at_row}: {detail}"
        out.append(
            Problem(
                source_file,
                message,
                line,
                hint="fix what writes it; every valid record is loaded",
                area=DATA,
            )
        )
    return out


def _event_type_warnings(spec: DashboardSpec | None, catalog, label: str) -> list[Problem]:
    """Warnings for a spec's tiles: event types that never occur, controls that do nothing."""
    if spec is None:
        return []
    present = set(catalog.event_types())
    out = []
    for p, page in enumerate(spec.pages):
        for t, tile in enumerate(page.tiles):
            where = {
                "tile": tile_label(f"page '{page.title}'", t, tile.type),
                "page_index": p,
                "tile_index": t,
            }
            if tile.controls and not tile.kind.has_controls:
                message = f"controls: a {tile.type} tile has no choices of its own to show"
                out.append(
                    Problem(
                        label,
                        message,
                        tile.line,
                        hint="remove controls: true",
                        severity=WARNING,
                        **where,
                    )
                )
            for key in tile.kind.event_keys:
                named = tile.options.get(key) or []
                for event_type in [named] if isinstance(named, str) else named:
                    if event_type not in present:
                        out.append(
                            _unseen(
                                label,
                                event_type,
                                f" in {key}",
                                present,
                                tile.line,
                                "its counts stay 0 until such events arrive",
                                **where,
                            )
                        )
    return out


def _engine_problems(spec: DashboardSpec | None, catalog, label: str) -> list[Problem]:
    """An error for each SQL tile when the catalog's engine refuses SQL tiles (Spark): the
    engine's own sentence, so ``check`` and the tile's card say the same thing."""
    tiles = [
        (p, t, page, tile)
        for p, page in enumerate(spec.pages if spec else ())
        for t, tile in enumerate(page.tiles)
        if tile.type == "sql" and not tile.broken
    ]
    if not tiles:
        return []
    try:
        catalog.user_cursor().close()
    except UsageError as refused:
        return [
            Problem(
                label,
                str(refused),
                tile.line,
                tile=tile_label(f"page '{page.title}'", t, tile.type),
                area=ENGINE,
                page_index=p,
                tile_index=t,
            )
            for p, t, page, tile in tiles
        ]
    return []


def _unseen(
    file: str, event_type: str, where: str, present: set[str], line, hint: str, **place: Any
) -> Problem:
    """The warning for an event type a spec or goal names that never occurs in the data."""
    return Problem(
        file,
        f"event type '{event_type}'{where} never occurs in the data"
        f"{did_you_mean(event_type, present)}",
        line,
        hint=hint,
        severity=WARNING,
        **place,
    )


# -- the spec -----------------------------------------------------------------------------------


def check_spec_text(
    text: str, *, source: str = SPEC_FILE, root: str | Path | None = None
) -> tuple[DashboardSpec | None, list[Problem], Any]:
    """The spec of ``text`` (None when it has errors), its problems, and the parsed document's
    data (None when it does not parse). ``root``, when given, is the folder ``source:`` paths
    are checked in."""
    try:
        document = parse_yaml(text, what=source)
    except YamlProblem as exc:
        return None, [Problem(source, exc.message, exc.line, hint="fix the YAML syntax")], None
    data = document.data
    if data is None:
        return (
            None,
            [Problem(source, "the spec is empty", 1, hint="give version: 1 and pages: [...]")],
            None,
        )
    if isinstance(data, dict) and "version" in data and data["version"] != SUPPORTED_VERSION:
        problem = Problem(
            source,
            f"{source} has version {data['version']!r}; this opdash supports version "
            f"{SUPPORTED_VERSION}",
            document.line(("version",)),
            hint=f"write version: {SUPPORTED_VERSION} and check the keys in docs/dashboard-spec.md",
        )
        return None, [problem], data
    problems = _schema_problems(document, source)
    broken = {(p.page_index, p.tile_index) for p in problems}
    if isinstance(data, dict) and isinstance(data.get("pages"), list):
        problems += _page_problems(document, source)
        problems += _tile_problems(document, source, root, broken)
    problems.sort(key=lambda p: (p.line or 0, p.message))
    if any(p.severity == ERROR for p in problems):
        return None, problems, data
    return DashboardSpec.from_dict(data, source=source, document=document), problems, data


def _schema_problems(document: YamlDocument, source: str) -> list[Problem]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(dashboard_schema())
    out: list[Problem] = []
    seen: set[tuple] = set()
    for error in validator.iter_errors(document.data):
        for problem in _translate(error, document, source):
            key = (problem.line, problem.tile, problem.message)
            if key not in seen:
                seen.add(key)
                out.append(problem)
    return out


def _translate(error, document: YamlDocument, source: str) -> list[Problem]:
    """A JSON Schema error in the spec's words: where, what, and what to do."""
    path = list(error.absolute_path)
    data = document.data
    page_i = path[1] if len(path) > 1 and path[0] == "pages" and isinstance(path[1], int) else None
    tile_i = path[3] if len(path) > 3 and path[2] == "tiles" and isinstance(path[3], int) else None
    container = path if isinstance(error.instance, dict) else path[:-1]
    label, kind = _where(data, page_i, tile_i)
    if container and container[-1] == "layout":
        kind = "a page's layout"
    line = document.line(path)
    common = {"tile": label, "page_index": page_i, "tile_index": tile_i}
    key = path[-1] if path and isinstance(path[-1], str) else None
    validator = error.validator
    if validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        return [
            Problem(
                source,
                f"unknown key '{k}'{did_you_mean(str(k), allowed)}",
                document.key_line(container, str(k)),
                hint=f"keys of {kind}: {', '.join(allowed)}",
                **common,
            )
            for k in extra
        ]
    if validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        return [
            Problem(source, f"missing '{k}'", line, hint=_missing_hint(k, kind), **common)
            for k in missing
        ]
    if validator == "enum" and key == "type" and tile_i is not None:
        value = str(error.instance)
        return [
            Problem(
                source,
                f"unknown tile type '{value}'{did_you_mean(value, TILE_TYPES)}",
                line,
                hint=f"tile types: {', '.join(TILE_TYPES)}",
                **common,
            )
        ]
    if validator == "enum":
        allowed = [str(v) for v in error.validator_value]
        value = str(error.instance)
        return [
            Problem(
                source,
                f"bad {key} '{value}'{did_you_mean(value, allowed)}",
                line,
                hint=f"use one of {', '.join(allowed)}",
                **common,
            )
        ]
    if validator == "type":
        what = key or (
            "a tile" if tile_i is not None else "a page" if page_i is not None else "the spec"
        )
        return [
            Problem(
                source,
                f"{what} must be {json_kind(error.validator_value)}, not {_shown(error.instance)}",
                line,
                **common,
            )
        ]
    if validator == "minItems" and key == "tiles":
        return [Problem(source, "a page needs at least one tile", line, **common)]
    if validator == "minItems" and key == "pages":
        return [Problem(source, "a spec needs at least one page", line, **common)]
    if validator == "pattern" and key == "name":
        return [
            Problem(
                source,
                f"bad page name {_shown(error.instance)}",
                line,
                hint="use lower-case letters, digits and '-' (up to 40)",
                **common,
            )
        ]
    what = f"{key}: " if key else ""
    return [Problem(source, f"{what}{error.message}"[:300], line, **common)]


def _where(data: Any, page_i: int | None, tile_i: int | None) -> tuple[str | None, str]:
    """("page 'Overview', tile 2 (funnel)", "a funnel tile") for a place in the document."""
    if page_i is None:
        return None, "the spec"
    page = data["pages"][page_i] if isinstance(data, dict) else None
    title = page.get("title") if isinstance(page, dict) else None
    page_label = f"page '{title}'" if isinstance(title, str) and title else f"page {page_i + 1}"
    if tile_i is None:
        return page_label, "a page"
    tile = page["tiles"][tile_i]
    kind = tile.get("type") if isinstance(tile, dict) else None
    kind = kind if isinstance(kind, str) else None
    return tile_label(page_label, tile_i, kind), f"a {kind} tile" if kind else "a tile"


def tile_label(page_label: str, index: int, kind: str | None) -> str:
    """ "page 'Overview', tile 2 (funnel)": where a tile is, as every problem names it."""
    return f"{page_label}, tile {index + 1}" + (f" ({kind})" if kind else "")


def _missing_hint(key: str, kind: str) -> str:
    return {
        "version": f"the first line of a spec is version: {SUPPORTED_VERSION}",
        "pages": "a spec lists its pages under pages:",
        "title": "every page has a title:",
        "tiles": "a page lists its tiles under tiles:",
        "type": f"a tile starts with type: (one of {', '.join(TILE_TYPES)})",
        "source": f"{kind} shows the file named by source: (relative to the folder)",
        "sql": f"{kind} runs the query in sql: (one SELECT statement)",
    }.get(key, "")


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "…"


def _page_problems(document: YamlDocument, source: str) -> list[Problem]:
    """Two pages with one URL name."""
    seen: dict[str, int] = {}
    out = []
    for p, page in enumerate(document.data["pages"]):
        if not isinstance(page, dict) or not isinstance(page.get("title"), str):
            continue
        name = page.get("name") or slug(page["title"])
        if name in seen:
            out.append(
                Problem(
                    source,
                    f"page name '{name}' is used by page {seen[name] + 1} too",
                    document.line(("pages", p)),
                    tile=f"page '{page['title']}'",
                    hint="give one of them another title or a name:",
                    page_index=p,
                )
            )
        seen.setdefault(name, p)
    return out


def _tile_problems(document: YamlDocument, source: str, root, broken: set) -> list[Problem]:
    """Each well-formed tile's values, checked the way its component reads them."""
    out = []
    for p, page in enumerate(document.data["pages"]):
        tiles = page.get("tiles") if isinstance(page, dict) else None
        if not isinstance(tiles, list):
            continue
        for t, tile in enumerate(tiles):
            if (p, t) in broken or not isinstance(tile, dict) or tile.get("type") not in TILE_TYPES:
                continue
            label, _ = _where(document.data, p, t)
            for key, message, hint in tile_value_problems(tile, root):
                line = document.line(("pages", p, "tiles", t, key)) if key else None
                out.append(
                    Problem(
                        source,
                        message,
                        line or document.line(("pages", p, "tiles", t)),
                        tile=label,
                        hint=hint,
                        page_index=p,
                        tile_index=t,
                    )
                )
    return out


def tile_value_problems(tile: dict[str, Any], root) -> list[ValueProblem]:
    """(key, problem, what to do) for each value of a schema-valid tile its component would
    refuse: the checks of its keys and of its type (``opdash/spec/values.py``)."""
    return value_problems(tile, root)


# -- drawing what is valid ----------------------------------------------------------------------


def lenient_spec(problems: list[Problem], data: Any = None) -> DashboardSpec:
    """A spec of what can be drawn despite ``problems``: broken tiles become error tiles. A spec
    that cannot be read at all becomes one page of its problems."""
    errors = [p for p in problems if p.severity == ERROR and p.area == SPEC]
    if not _has_pages(data):
        return DashboardSpec((PageSpec("Dashboard spec", (broken_tile(errors),), "spec"),))
    pages = []
    for p, page in enumerate(data["pages"]):
        mine = [e for e in errors if e.page_index == p]
        page = page if isinstance(page, dict) else {}
        title = page.get("title") if isinstance(page.get("title"), str) else ""
        tiles: list[TileSpec] = []
        page_level = [e for e in mine if e.tile_index is None]
        # the spec's own problems (an unknown top-level key …) lead the first page
        top = [e for e in errors if e.page_index is None] if p == 0 else []
        if top or page_level:
            tiles.append(broken_tile(top + page_level))
        tiles_data = page.get("tiles") if isinstance(page.get("tiles"), list) else []
        for t, tile in enumerate(tiles_data):
            theirs = [e for e in mine if e.tile_index == t]
            tiles.append(broken_tile(theirs) if theirs else TileSpec.from_dict(tile))
        name = page.get("name") if isinstance(page.get("name"), str) else ""
        layout = (
            page.get("layout") if isinstance(page.get("layout"), dict) and not page_level else {}
        )
        if any(e.message.startswith(("bad page name", "page name")) for e in page_level):
            name = ""
        pages.append(PageSpec(title or f"Page {p + 1}", tuple(tiles), name, dict(layout)))
    keys = [page.key for page in pages]
    if len(set(keys)) != len(keys):  # two pages with one name: number them
        pages = [
            PageSpec(pg.title, pg.tiles, f"page-{i + 1}", pg.layout) for i, pg in enumerate(pages)
        ]
    title = data.get("title") if isinstance(data.get("title"), str) else None
    return DashboardSpec(tuple(pages), title)


def _has_pages(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and data.get("version") == SUPPORTED_VERSION
        and isinstance(data.get("pages"), list)
        and bool(data["pages"])
    )


def broken_tile(problems: list[Problem]) -> TileSpec:
    """A tile drawn as an error card listing ``problems``."""
    return TileSpec(ERROR_TILE, {"problems": [p.text() for p in problems]}, title="")
