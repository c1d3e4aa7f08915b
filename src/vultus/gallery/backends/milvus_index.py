"""The gallery's templates in Milvus: Milvus Lite (a file beside the gallery) or a Milvus server.

Consistency: SQLite stays the source of truth. A write goes to SQLite first (one transaction), then
to Milvus from the store's change log; the change-log position Milvus reflects is kept with the
collection (a collection property). If the Milvus write fails, SQLite has the change and Milvus
catches up from its recorded position at the next sync or open; meanwhile a face deleted in SQLite
but still in Milvus is never reported (search results are checked against SQLite), and a face
added to SQLite but not yet to Milvus is simply not found until the catch-up. So a failure of
either side never leaves a wrong answer, only, for a moment, a missing one.

`--index milvus` uses Milvus Lite in `<gallery>.milvus.db`; `--index milvus:///path/lite.db` another
Lite file; `--index milvus://host:19530` (or `http://host:19530`) a Milvus standalone server or
cluster. See docs/scale.md.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import GalleryError
from ...models.registry import Modality, ModelSpec, Task, register
from ..index import as_batch

register(ModelSpec(
    name="milvus", task=Task.INDEX, impl=__name__ + ":MilvusIndex", modality=Modality.VECTORS,
    summary="Milvus through pymilvus: Milvus Lite beside the gallery, or a server by URI (milvus://host:19530)",
    licence="Apache-2.0 (Milvus)", install="pip install 'vultus[milvus]'",
    options={"module": "pymilvus"},
))

MANIFEST_KEY = "vultus.manifest"
BATCH = 5000


def uri_of(index: str, gallery: Path) -> str:
    """A pymilvus URI from what a user wrote after --index."""
    if index in ("milvus", "milvus:", "milvus://"):
        return f"{gallery}.milvus.db"
    if index.startswith("milvus:///"):
        return index.removeprefix("milvus://")
    if index.startswith("milvus://"):
        return "http://" + index.removeprefix("milvus://")
    return index  # http(s)://host:port


class MilvusIndex:
    """The `Index` protocol over one Milvus collection (primary key: the face id; metric: inner product)."""

    remote = True  # the engine keeps the data; the gallery records its position with it

    def __init__(self, spec=None, dim: int = 128, uri: str = "", collection: str = "vultus", token: str = "",
                 module: str = "pymilvus", ef: int = 64):
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise GalleryError("the milvus index needs pymilvus: pip install 'vultus[milvus]'") from None
        self.dim, self.uri, self.collection, self.ef = dim, uri, collection, ef
        self._lock = threading.RLock()
        try:
            self._client = MilvusClient(uri, token=token) if token else MilvusClient(uri)
        except Exception as e:
            raise GalleryError(f"cannot reach Milvus at {uri}: {e}") from None
        self._n: int | None = None
        if not self._client.has_collection(collection):
            self._create()

    def _create(self) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        params = self._client.prepare_index_params()
        params.add_index(field_name="vector", index_type="AUTOINDEX", metric_type="IP")
        self._client.create_collection(self.collection, schema=schema, index_params=params,
                                       consistency_level="Strong")

    def __len__(self) -> int:
        with self._lock:
            if self._n is None:
                rows = self._client.query(self.collection, filter="", output_fields=["count(*)"])
                self._n = int(rows[0]["count(*)"])
            return self._n

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, vectors = as_batch(ids, vectors, self.dim)
        with self._lock:
            for k in range(0, len(ids), BATCH):
                rows = [{"id": int(i), "vector": v} for i, v in zip(ids[k:k + BATCH], vectors[k:k + BATCH])]
                self._client.upsert(self.collection, rows)
            self._n = None

    def remove(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids, np.int64).reshape(-1).tolist()
        with self._lock:
            for k in range(0, len(ids), BATCH):
                self._client.delete(self.collection, ids=ids[k:k + BATCH])
            self._n = None

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.asarray(queries, np.float32).reshape(-1, self.dim)
        with self._lock:
            hits = self._client.search(self.collection, data=list(q), limit=max(k, 1), output_fields=[],
                                       search_params={"metric_type": "IP", "params": {"ef": max(self.ef, k)}})
        width = min(k, min((len(h) for h in hits), default=0))
        scores = np.array([[h["distance"] for h in hit[:width]] for hit in hits], np.float32).reshape(len(q), width)
        ids = np.array([[h["id"] for h in hit[:width]] for hit in hits], np.int64).reshape(len(q), width)
        return scores, ids

    def get(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64).reshape(-1)
        out = np.zeros((len(ids), self.dim), np.float32)
        row = {int(i): k for k, i in enumerate(ids.tolist())}
        with self._lock:
            for k in range(0, len(ids), BATCH):
                for r in self._client.get(self.collection, ids=ids[k:k + BATCH].tolist(), output_fields=["vector"]):
                    out[row[int(r["id"])]] = r["vector"]
        return out

    # -- what the gallery keeps with the collection ------------------------------------------------
    def manifest(self) -> dict[str, Any] | None:
        with self._lock:
            props = self._client.describe_collection(self.collection).get("properties") or {}
        text = props.get(MANIFEST_KEY)
        return json.loads(text) if text else None

    def set_manifest(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._client.alter_collection_properties(self.collection, properties={MANIFEST_KEY: json.dumps(record)})

    def clear(self) -> None:
        with self._lock:
            self._client.drop_collection(self.collection)
            self._create()
            self._n = 0

    def close(self) -> None:
        with self._lock:
            self._client.close()
