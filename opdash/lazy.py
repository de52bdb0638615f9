"""A module imported on first use, so a command whose answer is already compiled skips it.

ibis costs about half a second to import, as much as a small question costs to answer; a
command whose SQL was kept from an earlier process (opdash.templates) never builds an
expression, so the modules on its path hold ``ibis = lazy_module("ibis")`` instead of
``import ibis``. Attribute access goes through :func:`importlib.import_module` (thread-safe,
a dictionary lookup once the module is loaded); ``sys.modules`` is left alone.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module ``name``; imports it when an attribute is first read."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.load(), attr)

    def load(self) -> ModuleType:
        return importlib.import_module(self._name)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_module(name: str) -> Any:
    """``name`` as a :class:`LazyModule` (typed ``Any``: it is used as the module itself)."""
    return LazyModule(name)
