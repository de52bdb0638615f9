"""A dashboard spec as typed values: pages of tiles, each tile a component and its parameters.

``from_dict`` takes a document that passed :mod:`opdash.spec.check`; ``to_dict`` gives it back
(``from_dict(to_dict(spec)) == spec``), so a spec can be written out, edited and read again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from opdash.spec.tiles import TILE_TYPES, TileType

SPEC_FILE = "dashboard.yaml"
#: The type of a tile drawn as an error card in place of a broken one (``serve --lenient``).
ERROR_TILE = "error"
SUPPORTED_VERSION = 1


def slug(title: str) -> str:
    """A page's URL name from its title: lower case, words joined by '-' ('Trends & Goals' →
    'trends-goals')."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40] or "page"


@dataclass(frozen=True)
class TileSpec:
    """One tile: its type, its component's parameters, and how it is shown."""

    type: str
    options: dict[str, Any] = field(default_factory=dict)  # the component's parameters
    title: str | None = None  # None: headed by the component's own title ('' : no heading)
    controls: bool = False  # show its choices above it (they go into the page's URL)
    line: int | None = field(default=None, compare=False)

    @property
    def kind(self) -> TileType:
        return TILE_TYPES[self.type]

    @property
    def broken(self) -> bool:
        """A tile whose problems are drawn in its place (``options['problems']``)."""
        return self.type == ERROR_TILE

    @classmethod
    def from_dict(cls, data: dict[str, Any], line: int | None = None) -> TileSpec:
        options = {k: v for k, v in data.items() if k not in ("type", "title", "controls")}
        return cls(data["type"], options, data.get("title"), bool(data.get("controls")), line)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.title is not None:
            out["title"] = self.title
        if self.controls:
            out["controls"] = True
        return {**out, **self.options}


@dataclass(frozen=True)
class PageSpec:
    title: str
    tiles: tuple[TileSpec, ...]
    name: str = ""  # in the URL; '' : from the title
    layout: dict[str, int] = field(default_factory=dict)  # columns, width, height
    line: int | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        """The page's name in the URL."""
        return self.name or slug(self.title)

    @classmethod
    def from_dict(cls, data: dict[str, Any], lines=None) -> PageSpec:
        lines = lines or (lambda *path: None)
        tiles = tuple(TileSpec.from_dict(t, lines("tiles", i)) for i, t in enumerate(data["tiles"]))
        return cls(
            data["title"], tiles, data.get("name", ""), dict(data.get("layout", {})), lines()
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"title": self.title}
        if self.name:
            out["name"] = self.name
        if self.layout:
            out["layout"] = dict(self.layout)
        out["tiles"] = [t.to_dict() for t in self.tiles]
        return out


@dataclass(frozen=True)
class DashboardSpec:
    """The whole dashboard: its title and pages. ``source`` is the file it came from (None for
    the built-in default)."""

    pages: tuple[PageSpec, ...]
    title: str | None = None
    version: int = SUPPORTED_VERSION
    source: str | None = field(default=None, compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None, document=None):
        """The spec of a checked document (``document``, a YamlDocument, gives line numbers)."""

        def lines_of(index: int):
            def line(*path):
                return document.line(("pages", index, *path)) if document else None

            return line

        pages = tuple(PageSpec.from_dict(p, lines_of(i)) for i, p in enumerate(data["pages"]))
        return cls(pages, data.get("title"), data["version"], source)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version}
        if self.title is not None:
            out["title"] = self.title
        out["pages"] = [p.to_dict() for p in self.pages]
        return out

    def to_yaml(self) -> str:
        import yaml

        class Dumper(yaml.SafeDumper):
            def increase_indent(self, flow=False, indentless=False):  # lists indented too
                return super().increase_indent(flow, False)

        return yaml.dump(
            self.to_dict(), Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100
        )

    def sources(self) -> list[str]:
        """The files its state tiles show (relative to the folder), for the catalog to watch."""
        return [
            t.options["source"]
            for p in self.pages
            for t in p.tiles
            if not t.broken and t.kind.source_kind and isinstance(t.options.get("source"), str)
        ]

    def page(self, key: str) -> PageSpec:
        return next(p for p in self.pages if p.key == key)


def default_spec_text() -> str:
    """The built-in spec's YAML (``opdash/spec/default.yaml``)."""
    return resources.files("opdash.spec").joinpath("default.yaml").read_text("utf-8")
