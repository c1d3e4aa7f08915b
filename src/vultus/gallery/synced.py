"""A search index kept in step with the store: built once, persisted, caught up incrementally.

SQLite is the source of truth; an index is derived from it. Each index records the store's
change-log position (`Store.head()`) it reflects and the gallery's id. At open it is loaded if that
record fits this gallery and the log still reaches back to it (then only the faces added or removed
since are applied), and rebuilt from the store otherwise: after a crash that left no record, an old
or foreign copy, a log compacted past it, or another index format. Another process committing a
few templates costs a catch-up of those few, never a reload.

Local indexes (exact, ANN) are saved beside the gallery in `<gallery>.index/`, readable by the owner
only. A deletion removes the saved files at once (they hold the deleted templates) and the index is
written again at the next save (`Gallery.close`). Remote indexes (Milvus) keep their own data and
store the record with it.

Every vector is checked before it enters an index (finite, unit norm, its stored checksum); one that
fails is left out of searches and reported (`quarantined`), so one damaged row cannot win every search.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GalleryError
from ..models import registry
from . import integrity
from .store import Store

log = logging.getLogger("vultus.gallery")

FORMAT = 1  # bump when the saved layout changes: older saves are rebuilt
# Smaller local indexes are rebuilt from SQLite at open (well under a second) rather than saved.
PERSIST_MIN = 20_000


class SyncedIndex:
    def __init__(self, store: Store, model: str, backend: str, dim: int, options: dict[str, Any] | None = None,
                 folder: Path | None = None):
        self.store, self.model, self.backend, self.dim = store, model, backend, dim
        self.options = dict(options or {})
        self.spec = registry.get(backend, "index")
        self.folder = folder  # where a local index is saved; None: not saved
        self.quarantined: dict[int, str] = {}
        self.head = 0
        self.dirty = False
        self.rebuilt = False
        self.lagging = False  # a remote engine missed changes that SQLite has; caught up at the next sync
        self.index: Any = None
        self._open()

    # -- opening -----------------------------------------------------------------------------------
    def _impl(self) -> type:
        module, _, cls = self.spec.impl.partition(":")
        return getattr(importlib.import_module(module, package="vultus"), cls)

    def _new(self) -> Any:
        return registry.create(self.backend, "index", dim=self.dim, **self._instance_options())

    def _instance_options(self) -> dict[str, Any]:
        opts = dict(self.options)
        if self.remote:  # one collection per gallery and model in a shared engine
            opts.setdefault("collection", f"vultus_{self.store.get_meta('gallery_id')}_{self.model}")
        return opts

    @property
    def _manifest_path(self) -> Path | None:
        return self.folder / f"{self.model}.{self.backend}.json" if self.folder else None

    @property
    def _data_path(self) -> Path | None:
        return self.folder / f"{self.model}.{self.backend}" if self.folder else None

    def _expected(self) -> dict[str, Any]:
        return {"format": FORMAT, "gallery_id": self.store.get_meta("gallery_id"), "model": self.model,
                "backend": self.backend, "dim": self.dim,
                "options": {k: v for k, v in self._instance_options().items() if k != "uri"}}

    def _open(self) -> None:
        self.remote = bool(getattr(self._impl(), "remote", False))
        if self.remote:
            self.index = self._new()  # the engine holds the data: open it once
        record = self._saved_record()
        if record is not None:
            try:
                if not self.remote:
                    self.index = self._impl().restore(self._data_path, spec=self.spec, dim=self.dim,
                                                      **{**self.spec.options, **self.options})
                self.head = int(record["head"])
                if self.catch_up():
                    return
            except Exception as e:  # a damaged save: rebuild from the store
                log.warning("%s: the saved %s index of %s is unusable (%s); rebuilding", self.store.path,
                            self.backend, self.model, e)
        self.rebuild()

    def _saved_record(self) -> dict[str, Any] | None:
        """The record of a saved index, if it fits this gallery, backend and format."""
        try:
            if self.remote:
                record = self.index.manifest()
            elif self._manifest_path and self._manifest_path.is_file() and self._data_path.exists():
                record = json.loads(self._manifest_path.read_text())
            else:
                return None
        except (OSError, ValueError) as e:
            log.warning("%s: cannot read the saved index record (%s); rebuilding", self.store.path, e)
            return None
        if not record or any(record.get(k) != v for k, v in self._expected().items()):
            return None
        if int(record.get("head", -1)) > self.store.head():
            return None  # the index is newer than this database: an old copy of the gallery
        return record

    # -- keeping up --------------------------------------------------------------------------------
    def rebuild(self) -> None:
        t = time.perf_counter()
        if self.remote:
            self.index.clear()
        else:
            self.index = self._new()
        self.quarantined = {}
        head = self.store.head()
        for ids, vecs, sums in self.store.vectors(self.model):
            self._add_checked(ids, vecs, sums)
        self.head = head
        self.rebuilt = True
        self.dirty = True
        if len(self.index) > 10_000:
            log.info("%s: built the %s index of %d %s templates in %.1f s", self.store.path, self.backend,
                     len(self.index), self.model, time.perf_counter() - t)
        if self.remote or len(self.index) >= 5 * PERSIST_MIN:  # worth keeping: a rebuild takes a while
            self.save()

    def catch_up(self) -> bool:
        """Apply the faces added and removed since `head`; False if the log cannot say (rebuild)."""
        delta = self.store.changes_since(self.head)
        if delta is None:
            return False
        added, removed, head = delta
        try:
            if removed:
                self.index.remove(np.array(removed, np.int64))
                for f in removed:
                    self.quarantined.pop(f, None)
                self._forget_saved()  # the saved copy holds the deleted templates
            for ids, vecs, sums in self.store.vectors(self.model, sorted(added)):
                self._add_checked(ids, vecs, sums)
            if self.remote and (added or removed):
                self.index.set_manifest({**self._expected(), "head": head})
        except GalleryError:
            raise
        except Exception as e:  # the engine failed: SQLite has the change; retry from the same head
            if not self.remote:
                raise
            self.lagging = True
            log.warning("%s: the %s index could not apply %d change(s) (%s); it lags the gallery and is "
                        "retried at the next search", self.store.path, self.backend, len(added) + len(removed), e)
            return True
        self.lagging = False
        if added or removed:
            self.dirty = True
        self.head = head
        return True

    def _add_checked(self, ids: np.ndarray, vecs: np.ndarray, sums: np.ndarray) -> None:
        if vecs.shape[1] != self.dim:
            raise GalleryError(f"{self.store.path}: {self.model} templates have {vecs.shape[1]} values, "
                               f"the model gives {self.dim}")
        bad = integrity.problems(ids, vecs, sums)
        if bad:
            keep = np.array([i not in bad for i in ids.tolist()])
            ids, vecs = ids[keep], vecs[keep]
            self.quarantined.update(bad)
            owners = self.store.owners(list(bad))
            for fid, why in bad.items():
                log.warning("%s: template of face %d (%r, %s) failed its integrity check (%s); it is left out "
                            "of searches. Remove it (`vultus gallery remove-face %d`) and enroll again.",
                            self.store.path, fid, owners.get(fid), self.model, why, fid)
        if len(ids):
            self.index.add(ids, vecs)

    # -- saving ------------------------------------------------------------------------------------
    def save(self) -> None:
        if self.remote:
            self.index.set_manifest({**self._expected(), "head": self.head})
            self.dirty = False
            return
        if not self.folder or not hasattr(self.index, "save"):
            return
        if len(self.index) < PERSIST_MIN:
            self._forget_saved()
            self.dirty = False
            return
        self.folder.mkdir(mode=0o700, exist_ok=True)
        tmp = self._data_path.with_name(self._data_path.name + ".tmp")
        old_umask = os.umask(0o077)  # the saved index holds biometric templates
        try:
            _remove(tmp)
            self.index.save(tmp)
            self._manifest_path.unlink(missing_ok=True)  # no record while the data is swapped
            _remove(self._data_path)
            os.replace(tmp, self._data_path)
            record = {**self._expected(), "head": self.head, "count": len(self.index), "saved_at": time.time()}
            self._manifest_path.with_suffix(".tmp").write_text(json.dumps(record))
            os.replace(self._manifest_path.with_suffix(".tmp"), self._manifest_path)
        finally:
            os.umask(old_umask)
        self.dirty = False

    def _forget_saved(self) -> None:
        if self._manifest_path is None:
            return
        for p in (self._manifest_path, self._data_path):
            _remove(p)

    def close(self) -> None:
        if self.dirty:
            try:
                self.save()
            except OSError as e:
                log.warning("%s: could not save the %s index (%s); it is rebuilt at the next open",
                            self.store.path, self.backend, e)
        if hasattr(self.index, "close"):
            self.index.close()


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
