"""Where ``opdash funnel``'s time goes: import, ``opdash.open`` and ``opdash.funnel``, in one process.

    python benchmarks/phases_funnel.py /work/bench-data/parquet-10000000

Prints one JSON line: seconds to import opdash (and ibis, which the funnel imports), to open the
catalog, to run the 6-step funnel twice (the second run shows what a warm catalog costs), and the
peak RSS of the process.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import STEPS  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    out: dict[str, object] = {}
    t0 = time.perf_counter()
    import ibis  # noqa: F401

    import opdash

    out["import_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    catalog = opdash.open(args.folder)
    out["open_s"] = round(time.perf_counter() - t0, 2)
    out["rss_after_open_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    for run in (1, 2):
        t0 = time.perf_counter()
        result = opdash.funnel(catalog, list(STEPS), window="14d")
        out[f"funnel_{run}_s"] = round(time.perf_counter() - t0, 2)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out["counts"] = [s.count for s in result.steps]
    out["opdash_file"] = opdash.__file__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
