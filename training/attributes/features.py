"""Cache what training and the bench read many times: each sample's detected face (box, 5 landmarks),
its ArcFace-aligned 112x112 crop, and the frozen SFace trunk's activations on the crop and on its
mirror image (the only augmentation training uses, as features are cached).

`python -m training.attributes.features [SOURCE...]` (two worker processes, one thread each, niced
by the Makefile) writes `bench/results/attributes/<source>/` (git-ignored) for each source not yet
cached (mirrored views only for the training sources, utkface and lfw):
  faces.npz        box (N,4), landmarks (N,5,2) in image pixels, points (N,5,2) in crop pixels,
                   detected (N,) False where YuNet found no face and the image's layout was assumed
  crops.npy        (N,112,112,3) uint8
  <layer>.npy      (N,512,14,14) float16 for each of config.FEATURE_LAYERS, and <layer>_flip.npy
  fc1.npy          (N,128) float32 SFace embeddings (the linear-probe baseline), and fc1_flip.npy
Rows follow `data.SOURCES[source]()`; a cache is complete once its faces.npz exists.
"""

from __future__ import annotations

import io
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from vultus.align import ARCFACE_112, align, similarity_transform
from vultus.io import load_image

from .config import CACHE, EMBEDDING, FEATURE_LAYERS
from .data import SOURCES

FLIPPED = ("utkface", "lfw")  # sources with training rows: their mirrored views are cached too
MIRROR = [1, 0, 2, 4, 3]  # landmark order after a horizontal flip (left and right swap)
_WORKER: dict = {}


def trunk_outputs() -> tuple[str, ...]:
    return (*FEATURE_LAYERS, EMBEDDING)


def open_trunk(outputs: tuple[str, ...]):
    """SFace (dequantized, as the runtime loads it) with the given intermediate tensors as outputs."""
    import onnx
    import openvino as ov

    from vultus.models import registry
    from vultus.runtime.graph import load_for_runtime

    model = onnx.load_from_string(load_for_runtime(registry.get("sface").weights_path(), dynamic_batch=True))
    model = onnx.utils.Extractor(model).extract_model(["data"], list(outputs))
    core = ov.Core()
    return core.compile_model(core.read_model(io.BytesIO(model.SerializeToString())), "CPU",
                              {"INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32"})


def mirror_points(points: np.ndarray, size: int = 112) -> np.ndarray:
    p = np.asarray(points, np.float32).copy()
    p[..., 0] = size - 1 - p[..., 0]
    return p[..., MIRROR, :]


def locate(image: np.ndarray, detector, pick: str):
    """(box, landmarks, detected): the centre face (or the largest), or the fallback layout."""
    faces = detector.detect(image)
    if faces:
        if pick == "center":
            c = np.array([image.shape[1], image.shape[0]]) / 2
            f = min(faces, key=lambda f: float(np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - c)))
        else:
            f = max(faces, key=lambda f: f.width * f.height)
        return f.box, f.landmarks, True
    # No face found: these are face chips, so take the whole image with the ArcFace layout scaled to it.
    h, w = image.shape[:2]
    s = min(h, w) / 112
    lm = ARCFACE_112 * s + np.array([(w - 112 * s) / 2, (h - 112 * s) / 2])
    return np.array([0, 0, w, h], np.float32), lm.astype(np.float32), False


def _init() -> None:
    import cv2

    from vultus.models import registry
    from vultus.runtime import configure

    cv2.setNumThreads(1)
    configure(threads=1)
    _WORKER["detector"] = registry.load("yunet")
    _WORKER["trunk"] = open_trunk(trunk_outputs())


def _run(job: tuple[list[str], str, bool]):
    paths, pick, flipped = job
    det, trunk = _WORKER["detector"], _WORKER["trunk"]
    rows = []
    for path in paths:
        img = load_image(path)
        box, lm, found = locate(img, det, pick)
        crop = align(img, lm, ARCFACE_112, 112)
        m = similarity_transform(lm, ARCFACE_112)
        points = lm @ m[:, :2].T + m[:, 2]
        rows.append((box, lm, points, found, crop))
    crops = np.stack([r[4] for r in rows])
    outs = []
    for batch in (crops, crops[:, :, ::-1])[:1 + flipped]:
        blob = np.ascontiguousarray(batch.transpose(0, 3, 1, 2).astype(np.float32))
        res = trunk.create_infer_request().infer({0: blob})
        outs.append([res[trunk.output(name)] for name in trunk_outputs()])
    return rows, outs


def build(source: str) -> None:
    samples = SOURCES[source]()
    n = len(samples)
    folder = CACHE / source
    folder.mkdir(parents=True, exist_ok=True)
    names = trunk_outputs()
    views = ("", "_flip") if source in FLIPPED else ("",)
    arrays = {}
    for name in names:
        shape = (n, 128) if name == EMBEDDING else (n, 512, 14, 14)
        dtype = np.float32 if name == EMBEDDING else np.float16
        for suffix in views:
            arrays[name + suffix] = np.lib.format.open_memmap(folder / f"{name}{suffix}.npy.part", "w+", dtype, shape)
    crops = np.lib.format.open_memmap(folder / "crops.npy.part", "w+", np.uint8, (n, 112, 112, 3))
    box, lm, points, found = (np.zeros((n, 4), np.float32), np.zeros((n, 5, 2), np.float32),
                              np.zeros((n, 5, 2), np.float32), np.zeros(n, bool))
    pick = "largest" if source == "fgnet" else "center"
    chunk = 16
    starts = list(range(0, n, chunk))
    jobs = [([str(s.path) for s in samples[i:i + chunk]], pick, len(views) == 2) for i in starts]
    t0 = time.time()
    with ProcessPoolExecutor(int(os.environ.get("WORKERS", "2")), initializer=_init) as ex:
        for k, (i, (rows, outs)) in enumerate(zip(starts, ex.map(_run, jobs))):
            j = i + len(rows)
            box[i:j], lm[i:j], points[i:j] = (np.stack([r[q] for r in rows]) for q in range(3))
            found[i:j] = [r[3] for r in rows]
            crops[i:j] = np.stack([r[4] for r in rows])
            for suffix, out in zip(views, outs):
                for name, a in zip(names, out):
                    arrays[name + suffix][i:j] = a.reshape(arrays[name + suffix][i:j].shape)
            if k % 10 == 0:
                print(f"{source}: {j}/{n} ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    for key, a in [*arrays.items(), ("crops", crops)]:
        a.flush()
        del a
        (folder / f"{key}.npy.part").rename(folder / f"{key}.npy")
    np.savez(folder / "faces.npz", box=box, landmarks=lm, points=points, detected=found,
             paths=np.array([str(s.path) for s in samples]))
    print(f"{source}: {n} faces cached in {folder}; YuNet found no face in {int((~found).sum())}", file=sys.stderr)


if __name__ == "__main__":
    for source in sys.argv[1:] or list(SOURCES):
        if not (CACHE / source / "faces.npz").exists():
            build(source)
