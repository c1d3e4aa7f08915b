"""Embed many image files, in several processes when asked (each process loads its own models)."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np

from .. import runtime
from ..decide import Recognizer
from ..errors import VultusError
from ..io import load_image
from ..models import registry
from ..models.base import l2_normalize
from ..pipeline import Pipeline

_WORKER: dict[str, object] = {}


def _pick(faces, shape, how: str):
    if how == "center":  # LFW-style crops are centred on the subject
        c = np.array([shape[1], shape[0]]) / 2
        return min(faces, key=lambda f: float(np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - c)))
    return max(faces, key=lambda f: f.width * f.height)


def embed_file(pipeline: Pipeline, path: Path, pick: str = "largest",
               both: bool = False) -> dict[str, np.ndarray] | None:
    """The chosen face's embeddings, or None if the image has no face or cannot be read.

    With `both`, the keys are "model" (no flip) and "model:flip" (flip TTA), from one pass."""
    try:
        img = load_image(path)
    except VultusError:
        return None
    faces = pipeline.detect(img)
    if not faces:
        return None
    face = _pick(faces, img.shape, pick)
    if not both:
        return dict(pipeline.embed(img, [face])[0].embeddings)
    out = {}
    for m, (plain, mirrored) in pipeline.embed_views(img, [face], True).items():
        out[m] = plain[0]
        out[m + ":flip"] = l2_normalize(plain[0] + mirrored[0])
    return out


def _init(detector: str, recognizer: str) -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core beats threads fighting inside each process
    _WORKER["pipeline"] = Pipeline(detector, recognizer)


def _run(args: tuple[list[Path], str, bool]) -> list[dict[str, np.ndarray] | None]:
    paths, pick, both = args
    return [embed_file(_WORKER["pipeline"], p, pick, both) for p in paths]  # type: ignore[arg-type]


def _embed(paths: list[Path], detector: str, recognizer: str, workers: int, pick: str, both: bool,
           progress: Callable[[int], None] | None) -> dict[Path, dict[str, np.ndarray] | None]:
    out: dict[Path, dict[str, np.ndarray] | None] = {}
    if workers <= 1:
        pipe = Pipeline(detector, recognizer)
        for p in paths:
            out[p] = embed_file(pipe, p, pick, both)
            if progress:
                progress(1)
        return out
    chunks = [paths[i:i + 32] for i in range(0, len(paths), 32)]
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(detector, recognizer)) as ex:
        for chunk, res in zip(chunks, ex.map(_run, [(c, pick, both) for c in chunks])):
            out.update(zip(chunk, res))
            if progress:
                progress(len(chunk))
    return out


def embed_files(paths: list[Path], detector: str, recognizer: str, workers: int = 1, pick: str = "largest",
                progress: Callable[[int], None] | None = None,
                cache: Path | None = None) -> dict[Path, dict[str, np.ndarray] | None]:
    """Embeddings of the chosen face of each file (None: no face), keyed by model name.

    With `cache` (a folder), the plain and the flip embeddings of every model are computed in one
    pass and kept in an .npz named after the detector (and its options), the models and `pick`;
    later calls, with or without flip, embed only files not seen before."""
    paths = list(dict.fromkeys(paths))
    rec = Recognizer.parse(recognizer)
    if cache is None:
        return _embed(paths, detector, rec.key, workers, pick, False, progress)
    cache_file = cache_path(cache, detector, rec.models, pick)
    known = load_cache(cache_file)
    todo = [p for p in paths if str(p) not in known]
    if progress:
        progress(len(paths) - len(todo))
    if todo:
        new = _embed(todo, detector, "+".join(rec.models), workers, pick, True, progress)
        known.update({str(p): v for p, v in new.items()})
        save_cache(cache_file, known)
    suffix = ":flip" if rec.flip else ""
    return {p: None if known[str(p)] is None else {m: known[str(p)][m + suffix] for m in rec.models}
            for p in paths}


def cache_path(cache: Path, detector: str, models: tuple[str, ...], pick: str) -> Path:
    """The .npz that `embed_files` keeps these models' embeddings in (named after the detector and
    its options, the runtime's precision, the models and `pick`)."""
    options = json.dumps(registry.get(detector, "detector").options, sort_keys=True)
    if runtime.config().precision != "f32":  # other arithmetic, other vectors (f32 keeps the old names)
        options += runtime.config().precision
    tag = hashlib.sha256(options.encode()).hexdigest()[:8]
    return Path(cache) / f"{detector}-{tag}_{'_'.join(models)}_{pick}.npz"


def load_cache(path: Path) -> dict[str, dict[str, np.ndarray] | None]:
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as z:  # read each array once: z[key] decompresses anew
        arrays = {k: z[k] for k in z.files}
    found, paths = arrays.pop("found"), arrays.pop("paths").tolist()
    return {p: ({m: a[i].copy() for m, a in arrays.items()} if found[i] else None) for i, p in enumerate(paths)}


def save_cache(path: Path, data: dict[str, dict[str, np.ndarray] | None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = sorted(data)
    models = sorted({m for v in data.values() if v for m in v})
    arrays = {}
    for m in models:
        dim = next(len(v[m]) for v in data.values() if v)
        arrays[m] = np.stack([data[k][m] if data[k] else np.zeros(dim, np.float32) for k in keys])
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, paths=np.array(keys), found=np.array([data[k] is not None for k in keys]), **arrays)
    tmp.replace(path)
