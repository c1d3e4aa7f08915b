"""Embed many image files, in several processes when asked (each process loads its own models)."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import VultusError
from ..pipeline import Pipeline

_WORKER: dict[str, object] = {}


def _pick(faces, shape, how: str):
    if how == "center":  # LFW-style crops are centred on the subject
        c = np.array([shape[1], shape[0]]) / 2
        return min(faces, key=lambda f: float(np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - c)))
    return max(faces, key=lambda f: f.width * f.height)


def embed_file(pipeline: Pipeline, path: Path, pick: str = "largest") -> dict[str, np.ndarray] | None:
    """The chosen face's embeddings, or None if the image has no face or cannot be read."""
    from ..io import load_image

    try:
        img = load_image(path)
    except VultusError:
        return None
    faces = pipeline.detect(img)
    if not faces:
        return None
    face = pipeline.embed(img, [_pick(faces, img.shape, pick)])[0]
    return dict(face.embeddings)


def _init(detector: str, recognizer: str) -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core beats threads fighting inside each process
    _WORKER["pipeline"] = Pipeline(detector, recognizer)


def _run(args: tuple[list[Path], str]) -> list[dict[str, np.ndarray] | None]:
    paths, pick = args
    return [embed_file(_WORKER["pipeline"], p, pick) for p in paths]  # type: ignore[arg-type]


def embed_files(paths: list[Path], detector: str, recognizer: str, workers: int = 1, pick: str = "largest",
                progress: Callable[[int], None] | None = None,
                cache: Path | None = None) -> dict[Path, dict[str, np.ndarray] | None]:
    """Embeddings of the chosen face of each file (None: no face). With `cache` (a folder), results
    are kept in an .npz per detector/recognizer/pick and only new files are embedded."""
    paths = list(dict.fromkeys(paths))
    cache_file = None
    if cache is not None:
        cache_file = Path(cache) / f"{detector}_{recognizer.replace(':', '-').replace('+', '_')}_{pick}.npz"
        known = load_cache(cache_file)
        todo = [p for p in paths if str(p) not in known]
        if progress:
            progress(len(paths) - len(todo))
        new = embed_files(todo, detector, recognizer, workers, pick, progress) if todo else {}
        known.update({str(p): v for p, v in new.items()})
        if todo:
            save_cache(cache_file, known)
        return {p: known[str(p)] for p in paths}
    out: dict[Path, dict[str, np.ndarray] | None] = {}
    if workers <= 1:
        pipe = Pipeline(detector, recognizer)
        for p in paths:
            out[p] = embed_file(pipe, p, pick)
            if progress:
                progress(1)
        return out
    chunks = [paths[i:i + 32] for i in range(0, len(paths), 32)]
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(detector, recognizer)) as ex:
        for chunk, res in zip(chunks, ex.map(_run, [(c, pick) for c in chunks])):
            out.update(zip(chunk, res))
            if progress:
                progress(len(chunk))
    return out


def load_cache(path: Path) -> dict[str, dict[str, np.ndarray] | None]:
    if not path.is_file():
        return {}
    z = np.load(path, allow_pickle=False)
    models = [k for k in z.files if k not in ("paths", "found")]
    return {p: ({m: z[m][i] for m in models} if z["found"][i] else None) for i, p in enumerate(z["paths"].tolist())}


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
