"""Search backends of the gallery beyond exact search, each registered (task "index") in its own
module: hnswlib and usearch (approximate, in-process) and Milvus (a separate engine).

`resolve_index` turns what a user writes (`--index auto|exact|hnsw|usearch|milvus://host:19530|
milvus:///path/lite.db`) into a registered backend and its options.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from ...errors import ModelError
from ...models import registry
from . import hnswlib_index, milvus_index, usearch_index  # noqa: F401  (they register themselves)

# Exact search stays the default below this many templates: up to here one matrix product costs
# about as much as an ANN query and is exact (bench/ann.py measures both).
ANN_FROM = 200_000
ANN_DEFAULT = "hnsw"  # chosen by bench/ann.py on our vectors; see docs/benchmarks.md


def ann_available(name: str = ANN_DEFAULT) -> bool:
    return importlib.util.find_spec(registry.get(name, "index").options.get("module", name)) is not None


def resolve_index(index: str, store: Any, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """(registered backend name, its options) for `index` on this store."""
    options = dict(options or {})
    if index == "milvus" or index.startswith(("milvus:", "http://", "https://")):
        return "milvus", {**options, "uri": milvus_index.uri_of(index, store.path)}
    if index == "auto":
        big = store.query("SELECT COUNT(*) FROM faces")[0][0] >= ANN_FROM
        return (ANN_DEFAULT if big and ann_available() else "exact"), options
    spec = registry.get(index, "index")
    needed = spec.options.get("module")
    if needed and importlib.util.find_spec(needed) is None:
        raise ModelError(f"index {index!r} needs the {needed} package: {spec.install}")
    return index, options
