"""Real data sets: locating them in the data directory, extracting archives once, validating and caching.

The data directory is the config's ``data_dir`` (default ``$PLASTICBENCH_DATA``, else ``./data``). A task whose
data is missing raises ``DataUnavailable``; the harness then writes a record with status "skipped".
"""
from benchmarks.data.archive import DataCorrupt, DataUnavailable, resolve_data_dir

__all__ = ["DataCorrupt", "DataUnavailable", "resolve_data_dir"]
