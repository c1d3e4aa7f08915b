"""The `Index` protocol: vectors of one embedding model keyed by template id, searched by cosine.

The gallery talks only to this protocol, so ANN or distributed backends (registered by name in
`vultus.models.registry` with task "index") replace `ExactIndex` without touching callers.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..models.registry import Modality, ModelSpec, Task, register

register(ModelSpec(
    name="exact", task=Task.INDEX, impl=__name__ + ":ExactIndex", modality=Modality.VECTORS,
    summary="exact cosine search in NumPy (brute force; fine to a few 100k templates)",
    licence="Apache-2.0 (vultus)",
))


@runtime_checkable
class Index(Protocol):
    dim: int

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (Q, k') with k' = min(k, len(self)), best first."""
        ...

    def get(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of `ids` (rows of zeros for unknown ids)."""
        ...

    def __len__(self) -> int: ...


def as_batch(ids: np.ndarray, vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids as int64, vectors as float32 rows of `dim`): what every backend's `add` takes."""
    ids = np.asarray(ids, np.int64).reshape(-1)
    return ids, np.asarray(vectors, np.float32).reshape(len(ids), dim)


def no_hits(queries: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((queries, 0), np.float32), np.zeros((queries, 0), np.int64)


class ExactIndex:
    """Brute-force cosine search with one matrix product; amortized O(1) appends, compacting deletes."""

    def __init__(self, spec=None, dim: int = 128, capacity: int = 0):
        self.dim = dim
        self._vecs = np.zeros((capacity, dim), np.float32)
        self._ids = np.zeros(capacity, np.int64)
        self._n = 0
        self._row: dict[int, int] = {}
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return self._n

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, vectors = as_batch(ids, vectors, self.dim)
        with self._lock:
            fresh = [i for i in ids.tolist() if i not in self._row]
            if len(fresh) != len(ids):
                self.remove(np.array([i for i in ids.tolist() if i in self._row]))
            need = self._n + len(ids)
            if need > len(self._vecs):  # grow geometrically
                cap = max(need, 2 * len(self._vecs), 1024)
                self._vecs = np.resize(self._vecs, (cap, self.dim))
                self._ids = np.resize(self._ids, cap)
            self._vecs[self._n:need] = vectors
            self._ids[self._n:need] = ids
            for k, i in enumerate(ids.tolist()):
                self._row[i] = self._n + k
            self._n = need

    def remove(self, ids: np.ndarray) -> None:
        with self._lock:
            rows = [self._row.pop(i) for i in np.asarray(ids, np.int64).reshape(-1).tolist() if i in self._row]
            if not rows:
                return
            keep = np.ones(self._n, bool)
            keep[rows] = False
            n = int(keep.sum())
            self._vecs[:n] = self._vecs[:self._n][keep]
            self._ids[:n] = self._ids[:self._n][keep]
            self._n = n
            self._row = {i: r for r, i in enumerate(self._ids[:n].tolist())}

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.asarray(queries, np.float32).reshape(-1, self.dim)
        with self._lock:
            n = self._n
            if n == 0 or k <= 0:
                return no_hits(len(q))
            sims = q @ self._vecs[:n].T
            ids = self._ids[:n]
        k = min(k, n)
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (len(q), 1))
        s = np.take_along_axis(sims, top, 1)
        order = np.argsort(-s, axis=1)
        top = np.take_along_axis(top, order, 1)
        return np.take_along_axis(s, order, 1), ids[top]

    def get(self, ids: np.ndarray) -> np.ndarray:
        with self._lock:
            out = np.zeros((len(ids), self.dim), np.float32)
            for k, i in enumerate(np.asarray(ids, np.int64).tolist()):
                r = self._row.get(i)
                if r is not None:
                    out[k] = self._vecs[r]
            return out

    def save(self, path: Path) -> None:
        path = Path(path)
        path.mkdir(mode=0o700, exist_ok=True)
        with self._lock:
            np.save(path / "ids.npy", self._ids[:self._n])
            np.save(path / "vectors.npy", self._vecs[:self._n])

    @classmethod
    def restore(cls, path: Path, spec=None, dim: int = 128, **options) -> "ExactIndex":
        index = cls(spec, dim)
        index.add(np.load(Path(path) / "ids.npy"), np.load(Path(path) / "vectors.npy"))
        return index
