"""State surfaces: a JSON file as a readable card, a Markdown file rendered — both read-only.

Both redraw with the data version (the app asks the catalog to watch their files, so an edit
is a new version like new events). A file that cannot be shown is an error card naming it.
"""

from __future__ import annotations

import html
from functools import cache
from typing import Any

import panel as pn
import param

from opdash.components.base import CatalogView
from opdash.display import utc_time
from opdash.metrics.state import StateFile, state_file

#: Rows drawn per object or list (the rest are counted), and nesting drawn.
MAX_ROWS = 500
MAX_DEPTH = 12

CSS = """
.opdash-state { background: #fff; border: 1px solid var(--opdash-line); border-radius: 10px;
  padding: 10px 14px; font-size: 14px; }
.opdash-state-meta { color: var(--opdash-muted); font-size: 12px; margin-bottom: 6px; }
.opdash-state table { border-collapse: collapse; width: 100%; }
.opdash-state th { text-align: left; vertical-align: top; font-weight: 600; padding: 3px 12px 3px 0;
  white-space: nowrap; color: #374151; width: 1%; }
.opdash-state td { padding: 3px 0; vertical-align: top; word-break: break-word; }
.opdash-state tr + tr > * { border-top: 1px solid #f3f4f6; }
.opdash-state summary { cursor: pointer; color: #1d4ed8; }
.opdash-state .opdash-json-null { color: var(--opdash-muted); font-style: italic; }
.opdash-markdown table { border-collapse: collapse; }
.opdash-markdown th, .opdash-markdown td { border: 1px solid var(--opdash-line); padding: 4px 8px; }
"""


class StateView(CatalogView):
    """A file of the artifact folder (``source``, relative to it) shown as it is now."""

    source = param.String(default="", doc="The file, relative to the artifact folder.")

    kind = "json"
    uses_filters = ()
    spec_extras = {"source": {"minLength": 1}}
    spec_required = ("source",)

    @property
    def title(self) -> str:  # type: ignore[override]
        return self.source or "State"

    def data(self) -> StateFile:
        return state_file(self.catalog.root, self.source, self.kind)

    def draw(self, state: StateFile) -> Any:
        raise NotImplementedError


class JsonState(StateView):
    """A JSON file as a key/value card; nested objects and lists fold open on a click."""

    source = param.String(default="", doc="A JSON file, relative to the artifact folder.")

    kind = "json"
    summary = "A JSON file as a key/value card; nested objects collapsible."

    def draw(self, state: StateFile) -> Any:
        body = json_html(state.content)
        return pn.pane.HTML(
            f'<div class="opdash-state">{_meta(state)}{body}</div>', sizing_mode="stretch_width"
        )


class MarkdownState(StateView):
    """A Markdown file, rendered; raw HTML in it is shown as text, never run."""

    source = param.String(default="", doc="A Markdown file, relative to the artifact folder.")

    kind = "markdown"
    summary = "A Markdown file, rendered (raw HTML is shown as text)."

    def draw(self, state: StateFile) -> Any:
        body = _markdown().render(state.content)
        return pn.pane.HTML(
            f'<div class="opdash-state opdash-markdown">{_meta(state)}{body}</div>',
            sizing_mode="stretch_width",
        )


def _meta(state: StateFile) -> str:
    when = utc_time(state.modified_at, seconds=False)
    return (
        f'<div class="opdash-state-meta">{html.escape(state.source)} · {state.size:,} bytes · '
        f"changed {when}</div>"
    )


@cache
def _markdown():
    """CommonMark with tables; ``html: False`` escapes raw HTML, and markdown-it refuses
    ``javascript:`` and similar link targets."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


def json_html(value: Any, depth: int = 0) -> str:
    """A JSON value as nested HTML tables; every key and value escaped."""
    if isinstance(value, dict):
        return _rows(list(value.items()), depth, "keys")
    if isinstance(value, list):
        return _rows(list(enumerate(value)), depth, "items")
    if value is None:
        return '<span class="opdash-json-null">null</span>'
    if isinstance(value, bool):
        return "true" if value else "false"
    return html.escape(str(value))


def _rows(items: list[tuple[Any, Any]], depth: int, noun: str) -> str:
    if not items:
        return '<span class="opdash-json-null">{}</span>' if noun == "keys" else "[]"
    if depth >= MAX_DEPTH:
        return html.escape(f"{len(items)} {noun} (nested too deep to show)")
    rows = []
    for key, item in items[:MAX_ROWS]:
        if isinstance(item, dict | list) and item:
            word = "key" if isinstance(item, dict) else "item"
            count = f"{len(item)} {word}{'s' if len(item) != 1 else ''}"
            open_ = " open" if depth == 0 and len(item) <= 8 else ""
            cell = (
                f"<details{open_}><summary>{count}</summary>{json_html(item, depth + 1)}</details>"
            )
        else:
            cell = json_html(item, depth + 1)
        rows.append(f"<tr><th>{html.escape(str(key))}</th><td>{cell}</td></tr>")
    if len(items) > MAX_ROWS:
        rows.append(f"<tr><th>…</th><td>{len(items) - MAX_ROWS:,} more {noun}</td></tr>")
    return f"<table>{''.join(rows)}</table>"
