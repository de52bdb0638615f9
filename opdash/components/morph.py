"""Update a drawn view in place so it looks like a newly drawn one.

Replacing a view's layout makes Panel and Bokeh build, ship and render every model again (and
BokehJS never frees the removed ones, so an all-day tab grows). A filter change usually changes
text and table rows only: ``morph`` walks the old and new layouts side by side and copies just
the parameters that differ, so the browser receives a few small patches. Where the shapes
differ it replaces the smallest part that does.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
from panel.layout.base import ListLike
from panel.pane.base import PaneBase

#: Parameters never copied: a component's identity.
_SKIP = frozenset({"name"})


def morph(old: Any, new: Any) -> bool:
    """Make ``old`` look like ``new`` by updating it; False when only a replacement can.

    Layouts are matched child by child; panes and tables copy their differing parameters.
    Other widgets (buttons with callbacks bound to the new answer) are never morphed.
    """
    if type(old) is not type(new):
        return False
    if isinstance(old, ListLike):
        return _morph_layout(old, new)
    if isinstance(old, PaneBase | pn.widgets.Tabulator):
        _copy_changed(old, new)
        return True
    return False


def _morph_layout(old: ListLike, new: ListLike) -> bool:
    if _changed(old, new, exclude={"objects"}):
        return False
    if len(old.objects) != len(new.objects):
        old.objects = list(new.objects)
        return True
    for index, (was, now) in enumerate(zip(old.objects, new.objects, strict=True)):
        if not morph(was, now):
            old[index] = now
    return True


def _copy_changed(old: Any, new: Any) -> None:
    changed = _changed(old, new)
    if changed:
        old.param.update(**changed)


def _changed(old: Any, new: Any, exclude: frozenset[str] | set[str] = frozenset()) -> dict:
    """The parameters of ``new`` whose values differ from ``old``'s."""
    out = {}
    for name, value in new.param.values().items():
        if name in _SKIP or name in exclude or not _settable(new, name):
            continue
        if not _same(getattr(old, name), value):
            out[name] = value
    return out


def _settable(obj: Any, name: str) -> bool:
    parameter = obj.param[name]
    return not (parameter.constant or parameter.readonly)


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if isinstance(a, pd.DataFrame | pd.Series) or isinstance(b, pd.DataFrame | pd.Series):
        return type(a) is type(b) and a.equals(b)
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False
