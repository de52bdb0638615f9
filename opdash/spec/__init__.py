"""The dashboard spec (``dashboard.yaml``): which pages, which tiles, bound to which data.

``model`` holds the typed spec, ``tiles`` the tile types and their components, ``check`` the
problems of a spec and its folder. Nothing here imports Panel: ``opdash check`` does not draw.
"""

from opdash.spec.check import CheckReport, Problem, check_folder, check_spec_text
from opdash.spec.model import (
    SPEC_FILE,
    SUPPORTED_VERSION,
    DashboardSpec,
    PageSpec,
    TileSpec,
    default_spec_text,
)
from opdash.spec.tiles import TILE_TYPES, TileType


def default_spec() -> DashboardSpec:
    """The built-in spec: exactly the default app's pages and tiles."""
    spec, problems, _ = check_spec_text(default_spec_text(), source="(built-in spec)")
    assert spec is not None, problems  # the package's own spec is checked by the tests
    return spec


__all__ = [
    "SPEC_FILE",
    "SUPPORTED_VERSION",
    "TILE_TYPES",
    "CheckReport",
    "DashboardSpec",
    "PageSpec",
    "Problem",
    "TileSpec",
    "TileType",
    "check_folder",
    "check_spec_text",
    "default_spec",
]
