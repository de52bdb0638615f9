"""The catalog on Apache Spark, reached through Spark Connect (the ``spark`` extra).

- :mod:`~opdash.catalog.spark.session` — the Spark Connect session: a cluster's, or a local
  server opdash starts; what is missing, said in one line;
- :mod:`~opdash.catalog.spark.reader` — the folder read on Spark's workers by the DuckDB
  loader's own rules;
- :mod:`~opdash.catalog.spark.loader` — listing, whole re-reads, the cross-task id rule;
- :mod:`~opdash.catalog.spark.translate` — opdash's own SQL texts as Spark SQL;
- :mod:`~opdash.catalog.spark.catalog` — :class:`SparkCatalog`, the metrics' catalog.
"""

from opdash.catalog.spark.catalog import SparkCatalog
from opdash.catalog.spark.session import REMOTE_ENV, remote_url, require_pyspark

__all__ = ["REMOTE_ENV", "SparkCatalog", "remote_url", "require_pyspark"]
