"""The catalog: everything an artifact folder says, in one in-process DuckDB database.

- :mod:`~opdash.catalog.catalog` — :class:`Catalog`, the thin front metrics and views use;
- :mod:`~opdash.catalog.loader` — reading the folder: discovery, change tracking, validation;
- :mod:`~opdash.catalog.versions` — data versions and what each refresh changed;
- :mod:`~opdash.catalog.answers` — answers kept per version, bounded by bytes;
- :mod:`~opdash.catalog.store` — tables shared between questions, bounded by bytes;
- :mod:`~opdash.catalog.database` — the DuckDB database, its settings and cursors;
- :mod:`~opdash.catalog.memory` — the memory cap and resource errors in one sentence;
- :mod:`~opdash.catalog.protocol` — what metrics may ask of a catalog (for a second engine).
"""

from opdash.catalog.answers import ResultCache
from opdash.catalog.catalog import Catalog, CatalogStats, open_catalog, shared_catalog
from opdash.catalog.loader import RefreshReport
from opdash.catalog.versions import Change, Reads
from opdash.catalog.views import CatalogAsOf

__all__ = [
    "Catalog",
    "CatalogAsOf",
    "CatalogStats",
    "Change",
    "Reads",
    "RefreshReport",
    "ResultCache",
    "open_catalog",
    "shared_catalog",
]
