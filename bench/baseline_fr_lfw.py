"""face_recognition's default pipeline on LFW pairs.txt, 10-fold, for comparison with vultus.

HOG detector (upsample 1), the face nearest the centre, dlib ResNet encoding; score = -distance.
Prints one JSON line. Run: .venv/bin/python bench/baseline_fr_lfw.py  (~6 min on 2 cores)
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from _common import LFW, RESULTS
from vultus.decide import Recognizer
from vultus.eval.pairs import PairScores, read_pairs, ten_fold


def encode(path: str):
    import face_recognition

    img = face_recognition.load_image_file(path)
    boxes = face_recognition.face_locations(img)  # HOG, upsample 1: the library default
    if not boxes:
        return None
    c = np.array(img.shape[:2]) / 2
    top, right, bottom, left = min(boxes, key=lambda b: np.hypot((b[0] + b[2]) / 2 - c[0], (b[1] + b[3]) / 2 - c[1]))
    enc = face_recognition.face_encodings(img, [(top, right, bottom, left)])
    return enc[0] if enc else None


def main() -> None:
    cache = RESULTS / "cache" / "face_recognition_lfw.npz"
    pairs = read_pairs(LFW / "pairs.txt", LFW / "lfw")
    images = sorted({str(p.a) for p in pairs} | {str(p.b) for p in pairs})
    if cache.exists():
        z = np.load(cache)
        enc = {p: (v if ok else None) for p, v, ok in zip(z["paths"].tolist(), z["enc"], z["found"])}
    else:
        with ProcessPoolExecutor(2) as ex:
            enc = dict(zip(images, ex.map(encode, images, chunksize=32)))
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, paths=np.array(images), found=np.array([enc[p] is not None for p in images]),
                 enc=np.stack([enc[p] if enc[p] is not None else np.zeros(128) for p in images]))
    s = np.full(len(pairs), -10.0)
    missing = np.zeros(len(pairs), bool)
    for k, p in enumerate(pairs):
        a, b = enc[str(p.a)], enc[str(p.b)]
        if a is None or b is None:
            missing[k] = True
        else:
            s[k] = -float(np.linalg.norm(a - b))
    scores = PairScores(np.array([p.same for p in pairs]), np.array([p.fold for p in pairs]), {"fr": s}, missing)
    rep = ten_fold(scores, Recognizer(("fr",)))
    print(json.dumps(rep.to_dict()))


if __name__ == "__main__":
    main()
