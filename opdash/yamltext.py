"""Plain YAML for opdash's own files (goals.yaml, dashboard.yaml): parsed with line numbers,
refusing what plain settings never need and a hostile file would use.

Anchors and aliases (the "billion laughs" bomb), deep nesting, repeated keys and files larger
than a settings file could be are refused with the line they occur on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opdash.display import first_line

MAX_BYTES = 256 * 1024  # a settings file is a few KB
MAX_DEPTH = 20


class YamlProblem(Exception):
    """Why a text is not plain YAML; ``line`` is 1-based (None when not known)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line = message, line

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True)
class YamlDocument:
    """A parsed document and its node tree (for the line of any value)."""

    data: Any
    node: Any  # yaml.Node, or None for an empty document

    def _walk(self, path) -> tuple[Any, int | None]:
        """The node at ``path`` (None when some part is missing) and the line of the deepest
        part of it that exists."""
        import yaml

        node, line = self.node, (self.node.start_mark.line + 1 if self.node else None)
        for part in path:
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if k.value == part), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                node = node.value[part] if 0 <= part < len(node.value) else None
            else:
                node = None
            if node is None:
                return None, line
            line = node.start_mark.line + 1
        return node, line

    def line(self, path: list[str | int] | tuple[str | int, ...] = ()) -> int | None:
        """The 1-based line of the value at ``path`` (keys and list indexes), or of the deepest
        part of it that exists."""
        return self._walk(path)[1]

    def key_line(self, path: list[str | int] | tuple[str | int, ...], key: str) -> int | None:
        """The line of ``key`` in the mapping at ``path`` (where an unknown key is written)."""
        import yaml

        node, line = self._walk(path)
        if isinstance(node, yaml.MappingNode):
            for k, _ in node.value:
                if k.value == key:
                    return k.start_mark.line + 1
        return line


class _Refused(Exception):
    def __init__(self, problem: str, mark) -> None:
        super().__init__(problem)
        self.problem, self.mark = problem, mark


def _loader_class():
    import yaml

    class PlainLoader(yaml.SafeLoader):
        """SafeLoader that refuses anchors, aliases, deep nesting and repeated keys."""

        depth = 0

        def compose_node(self, parent, index):
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent):
                raise _Refused("YAML aliases (*name) are not allowed", event.start_mark)
            if getattr(event, "anchor", None) is not None:
                raise _Refused("YAML anchors (&name) are not allowed", event.start_mark)
            self.depth += 1
            try:
                if self.depth > MAX_DEPTH:
                    raise _Refused(f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def construct_mapping(self, node, deep=False):
            if not isinstance(node, yaml.MappingNode):  # `!!map x`, `!!set [a]`
                raise yaml.constructor.ConstructorError(
                    None, None, f"expected a mapping, found a {node.id}", node.start_mark
                )
            seen: set[str] = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    if key_node.value in seen:
                        raise _Refused(f"key '{key_node.value}' appears twice", key_node.start_mark)
                    seen.add(key_node.value)
            return super().construct_mapping(node, deep=deep)

    return PlainLoader


def parse_yaml(text: str, *, what: str = "the file") -> YamlDocument:
    """``text`` parsed as plain YAML, or a :class:`YamlProblem` with its line."""
    import yaml

    if len(text) > MAX_BYTES:
        raise YamlProblem(f"{what} is larger than {MAX_BYTES:,} characters")
    loader = None
    try:
        loader = _loader_class()(text)
        node = loader.get_single_node()
        data = _constructed(loader, node) if node is not None else None
    except _Refused as exc:
        raise YamlProblem(
            f"{exc.problem} ({what} must be plain YAML; this also stops a 'YAML bomb')",
            exc.mark.line + 1,
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        text = f"not valid YAML: {exc.problem or exc.context or 'bad YAML'}"
        if mark:
            text = f"column {mark.column + 1}: {text}"
        if exc.context and exc.context_mark and exc.problem_mark:
            text += f" ({exc.context} started at line {exc.context_mark.line + 1})"
        raise YamlProblem(text, mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, U+FFFE…)
        raise YamlProblem(
            f"not valid YAML: the character U+{exc.character:04X} is not allowed",
            text.count("\n", 0, exc.position) + 1,
        ) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"not valid YAML: {first_line(exc)}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return YamlDocument(data, node)


def _constructed(loader, node) -> Any:
    """The document's data. A scalar YAML reads as a date or a number that is none (a date like
    2026-13-45, ``!!int x``) is a problem on its own line, not a crash."""
    import yaml

    try:
        return loader.construct_document(node)
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        bad = _first_unreadable_scalar(loader, node)
        line = bad.start_mark.line + 1 if bad is not None else None
        shown = f" '{bad.value[:40]}'" if bad is not None else ""
        raise YamlProblem(
            f"not valid YAML: the value{shown} cannot be read as a {_kind(bad)} "
            "(quote it to keep it as text)",
            line,
        ) from exc
    except RecursionError:
        raise yaml.YAMLError("nested too deeply") from None


def _first_unreadable_scalar(loader, node):
    import yaml

    stack = [node]
    while stack:
        item = stack.pop(0)
        if isinstance(item, yaml.ScalarNode):
            try:
                loader.construct_object(item, deep=True)
            except Exception:  # noqa: BLE001  (finding which scalar fails, whatever it raises)
                return item
        elif isinstance(item, yaml.SequenceNode):
            stack.extend(item.value)
        elif isinstance(item, yaml.MappingNode):
            for key, value in item.value:
                stack.extend([key, value])
    return None


def _kind(node) -> str:
    tag = (getattr(node, "tag", "") or "").rsplit(":", 1)[-1]
    return {"timestamp": "date", "int": "number", "float": "number", "bool": "yes/no"}.get(
        tag, "value"
    )


def read_text(path, *, what: str) -> str:
    """A settings file's text: at most MAX_BYTES, UTF-8; a YamlProblem says why not."""
    from pathlib import Path

    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise YamlProblem(f"{what} is {size:,} bytes; opdash reads at most {MAX_BYTES:,}")
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise YamlProblem(f"no such {what}") from None
    except OSError as exc:
        raise YamlProblem(f"cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise YamlProblem(f"{what} is larger than {MAX_BYTES:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlProblem(f"{what} is not UTF-8 text (byte {exc.start})") from None
