"""The dashboard spec's JSON Schema, generated from the components' parameters.

A tile's keys are its component's parameters: their types, choices, integer bounds and docs
say what a spec may write, and each component adds the few keywords a parameter cannot say
(``CatalogView.spec_extras``) and its one-line ``summary``. The schema is generated here and
shipped as ``opdash/schemas/dashboard.schema.json`` (checking a spec must not import Panel, so
the check reads the shipped file); a test keeps the file equal to what this module generates.

    python -m opdash.spec.schema      # rewrite the shipped file after changing a component
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from opdash.spec.tiles import TILE_TYPES

SHIPPED = Path(__file__).resolve().parents[1] / "schemas" / "dashboard.schema.json"

#: Keys of every tile (besides ``type``).
COMMON_KEYS: dict[str, dict[str, Any]] = {
    "title": {
        "type": "string",
        "maxLength": 200,
        "description": "Heading above the tile ('' for none).",
    },
    "controls": {
        "type": "boolean",
        "description": "Show the tile's own choices above it; they also go into the page's URL.",
    },
}

ROOT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://opdash.dev/schemas/dashboard.schema.json",
    "title": "opdash dashboard spec (dashboard.yaml in the artifact folder, or --spec FILE)",
    "description": "Pages of tiles over the artifact folder. See docs/dashboard-spec.md. Plain "
    "YAML only: anchors and aliases are refused.",
    "type": "object",
    "required": ["version", "pages"],
    "properties": {
        "version": {"type": "integer", "description": "The spec format's version: 1."},
        "title": {
            "type": "string",
            "maxLength": 200,
            "description": "The dashboard's name in its header and the browser tab.",
        },
        "pages": {
            "type": "array",
            "minItems": 1,
            "maxItems": 30,
            "items": {"$ref": "#/$defs/page"},
        },
    },
    "additionalProperties": False,
}

PAGE: dict[str, Any] = {
    "type": "object",
    "required": ["title", "tiles"],
    "properties": {
        "title": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100,
            "description": "The page's name in the navigation.",
        },
        "name": {
            "type": "string",
            "pattern": "^[a-z0-9][a-z0-9-]{0,39}$",
            "description": "The page's name in the URL (default: the title, lower case, words "
            "joined by -).",
        },
        "layout": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "columns": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 4,
                    "description": "Tiles side by side (default 1).",
                },
                "width": {
                    "type": "integer",
                    "minimum": 320,
                    "maximum": 10000,
                    "description": "Largest width of the page's content in pixels (default: the "
                    "window).",
                },
                "height": {
                    "type": "integer",
                    "minimum": 80,
                    "maximum": 5000,
                    "description": "Smallest height of each tile in pixels.",
                },
            },
        },
        "tiles": {
            "type": "array",
            "minItems": 1,
            "maxItems": 50,
            "items": {"$ref": "#/$defs/tile"},
        },
    },
    "additionalProperties": False,
}


def key_schema(parameter: Any, extras: dict[str, Any]) -> dict[str, Any]:
    """One spec key's schema: what its parameter says, then the component's extras."""
    import param

    if isinstance(parameter, param.Selector):
        out: dict[str, Any] = {"enum": list(parameter.objects)}
    elif isinstance(parameter, param.Boolean):
        out = {"type": "boolean"}
    elif isinstance(parameter, param.Integer):
        out = {"type": "integer"}
        low, high = parameter.bounds or (None, None)
        if low is not None:
            out["minimum"] = low
        if high is not None:
            out["maximum"] = high
    elif isinstance(parameter, param.List):
        out = {"type": "array", "items": {"type": "string", "minLength": 1}}
    else:
        out = {"type": "string"}
    out.update(extras)
    if parameter.doc:
        out["description"] = " ".join(parameter.doc.split())
    return out


def tile_schema(name: str) -> dict[str, Any]:
    """The schema of one tile type: ``type``, the common keys and its component's keys."""
    cls = TILE_TYPES[name].component_class()
    properties: dict[str, Any] = {"type": {"const": name}, **COMMON_KEYS}
    for key in cls.spec_keys():
        properties[key] = key_schema(cls.param[key], cls.spec_extras.get(key, {}))
    return {
        "type": "object",
        "description": cls.summary,
        "required": ["type", *cls.spec_required],
        "properties": properties,
        "additionalProperties": False,
    }


def generated_schema() -> dict[str, Any]:
    """The whole spec's schema: the root, a page, a tile (one branch per type) and each type."""
    tile = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": list(TILE_TYPES), "description": "The tile type."}},
        "allOf": [
            {
                "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                "then": {"$ref": f"#/$defs/tile-{name}"},
            }
            for name in TILE_TYPES
        ],
    }
    defs = {f"tile-{name}": tile_schema(name) for name in TILE_TYPES}
    return {**ROOT, "$defs": {**defs, "tile": tile, "page": PAGE}}


def schema_text() -> str:
    """The shipped file's text."""
    return json.dumps(generated_schema(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    SHIPPED.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {SHIPPED}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
