"""The URL mirror of a page's state: every view is a permalink, and back/forward work.

A :class:`Binding` ties one query-string key to one parameter. ``query_string`` writes the
parameters that differ from their defaults; ``apply_query`` sets every bound parameter from a
query string (absent keys go back to their default, so a permalink restores exactly). Lists are
repeated keys (``?actor=a&actor=b``), so any value survives the round trip.

:class:`UrlSync` is the browser half: it pushes a history entry when the state changes and
sends the URL back when the operator goes back or forward. Panel's ``pn.state.location`` gives
the first URL of the session; its own ``sync`` pushes an entry for every parameter as it is
restored and does not follow back/forward, hence this small component.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlencode

import panel as pn
import param
from panel.custom import JSComponent

from opdash.display import first_line
from opdash.errors import UsageError, did_you_mean

_PARAM_DEFAULT = object()


@dataclass(frozen=True)
class Binding:
    """``key`` in the URL is ``owner.name``. A value equal to ``default`` (the parameter's own
    default unless given, e.g. steps a view chose from the data) is left out of the URL."""

    key: str
    owner: param.Parameterized
    name: str
    initial: Any = _PARAM_DEFAULT

    @property
    def parameter(self) -> param.Parameter:
        return self.owner.param[self.name]

    @property
    def default(self) -> Any:
        return self.parameter.default if self.initial is _PARAM_DEFAULT else self.initial

    def encode(self) -> list[str]:
        """The query values of the parameter's current value ([] when it is the default)."""
        value = getattr(self.owner, self.name)
        if value is None or value == self.default:
            return []
        if isinstance(value, list | tuple):
            return [str(v) for v in value]
        if isinstance(value, bool):
            return ["true" if value else "false"]
        if isinstance(value, date):
            return [value.isoformat()]
        return [str(value)]

    def decode(self, values: list[str]) -> Any:
        """The parameter value for query ``values``; UsageError naming a bad one."""
        p = self.parameter
        if isinstance(p, param.List):
            return list(values)
        text = values[-1]
        if isinstance(p, param.CalendarDate):
            try:
                return date.fromisoformat(text)
            except ValueError:
                raise UsageError(
                    f"bad {self.key} '{text}' in the URL: use a day like 2026-11-20"
                ) from None
        if isinstance(p, param.Boolean):
            if text not in ("true", "false"):
                raise UsageError(f"bad {self.key} '{text}' in the URL: use true or false")
            return text == "true"
        if isinstance(p, param.Integer):
            try:
                return int(text)
            except ValueError:
                raise UsageError(
                    f"bad {self.key} '{text}' in the URL: use a whole number"
                ) from None
        if isinstance(p, param.Selector) and p.objects and text not in p.objects:
            names = [str(o) for o in p.objects]
            raise UsageError(f"bad {self.key} '{text}' in the URL{did_you_mean(text, names)}")
        return text


def query_string(bindings: list[Binding]) -> str:
    """``?key=value&…`` for the bound parameters that differ from their defaults ('' if none)."""
    pairs = [(b.key, v) for b in bindings for v in b.encode()]
    return "?" + urlencode(pairs) if pairs else ""


def apply_query(bindings: list[Binding], query: str) -> list[str]:
    """Set every bound parameter from ``query``; returns one line per value it could not use.

    A value that cannot be used leaves its parameter at the default; the others still apply.
    """
    values = parse_qs(query.lstrip("?"), keep_blank_values=False)
    updates: dict[int, tuple[param.Parameterized, dict[str, Any], dict[str, Any]]] = {}
    problems: list[str] = []
    for b in bindings:
        try:
            value = b.decode(values[b.key]) if b.key in values else b.default
        except UsageError as exc:
            problems.append(str(exc))
            value = b.default
        owner, changes, defaults = updates.setdefault(id(b.owner), (b.owner, {}, {}))
        changes[b.name], defaults[b.name] = value, b.default
    for owner, changes, defaults in updates.values():
        try:
            owner.param.update(**changes)
        except Exception as exc:  # noqa: BLE001  (a value a parameter refuses, e.g. a bad zone)
            problems.append(first_line(exc))
            for name, value in changes.items():  # one by one: the good ones still apply
                try:
                    owner.param.update(**{name: value})
                except Exception:  # noqa: BLE001
                    owner.param.update(**{name: defaults[name]})
    return problems


class UrlSync(JSComponent):
    """Keeps ``window.location.search`` and the bound parameters in step, both ways."""

    query = param.String(default="", doc="The query string the page's state maps to.")
    problems = param.List(default=[], doc="URL values that could not be used, one line each.")

    _esm = """
    export function render({ model }) {
      const here = () => window.location.search
      const write = (push) => {
        const want = model.query || ""
        if (want === here()) return
        const url = window.location.pathname + want + window.location.hash
        if (push) window.history.pushState(null, "", url)
        else window.history.replaceState(null, "", url)
      }
      write(false)
      model.on("query", () => write(true))
      const back = () => { model.query = here() }
      window.addEventListener("popstate", back)
      model.on("remove", () => window.removeEventListener("popstate", back))
      const node = document.createElement("span")
      node.className = "opdash-urlsync"
      return node
    }
    """

    def __init__(self, **params: Any) -> None:
        super().__init__(height=0, width=0, margin=0, **params)
        self._bindings: list[Binding] = []
        self._watchers: list[tuple[param.Parameterized, Any]] = []
        self._applying = False
        self._incoming: str | None = None
        self.param.watch(self._from_browser, "query")

    def bind(self, bindings: list[Binding], *, query: str | None = None) -> list[str]:
        """Mirror ``bindings`` from now on; apply ``query`` to them first when given.

        Rebinding while a URL is being applied (going back to another page) applies that URL
        to the new bindings as well.
        """
        query = self._incoming if query is None else query
        for owner, watcher in self._watchers:
            owner.param.unwatch(watcher)
        self._bindings = list(bindings)
        owners: dict[int, tuple[param.Parameterized, list[str]]] = {}
        for b in self._bindings:
            owners.setdefault(id(b.owner), (b.owner, []))[1].append(b.name)
        self._watchers = [
            (owner, owner.param.watch(self._from_state, names)) for owner, names in owners.values()
        ]
        problems = self._apply(query) if query is not None else []
        self._write()
        return problems

    def _apply(self, query: str) -> list[str]:
        outer = self._incoming
        self._applying, self._incoming = True, query
        try:
            problems = apply_query(self._bindings, query)
        finally:
            self._applying, self._incoming = outer is not None, outer
        self.problems = problems
        return problems

    def _write(self) -> None:
        if self._incoming is not None:
            return  # the outer apply writes once it is done
        self._applying = True
        try:
            self.query = query_string(self._bindings)
        finally:
            self._applying = False

    def _from_state(self, *_events: Any) -> None:
        if not self._applying:
            self._write()

    def _from_browser(self, event: param.parameterized.Event) -> None:
        if not self._applying:
            self._apply(event.new)
            self._write()


def first_query() -> str:
    """The query string this session was opened with ('' outside a server session)."""
    location = pn.state.location
    return location.search if location is not None and location.search else ""
