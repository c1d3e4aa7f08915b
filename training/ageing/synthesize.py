"""Synthetic ageing of every FG-NET image (the growth model of vultus.ageing.synth), detected,
quality-checked and embedded once; the identity part of the filter is applied per split in train.py
(it may only look at training identities).

Targets: each image at age a is rendered at a + 5 and, from age 2, at a - 5 (not below 0).
Output (git-ignored): bench/results/ageing_synth/*.jpg and synth.npz.
Run: .venv/bin/python -m training.ageing.synthesize   (train.py runs it when its output is missing)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

from vultus.ageing.data import read_fgnet
from vultus.ageing.synth import age_face, read_landmarks
from vultus.io import load_image
from vultus.pipeline import Pipeline
from vultus.quality import QualityPolicy

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from _common import DATA, RESULTS  # noqa: E402

OUT = RESULTS / "ageing_synth"
MODELS = ("sface", "dlib")


def targets(age: float) -> list[float]:
    return [age + 5] + ([max(age - 5, 0.0)] if age >= 2 else [])


def main() -> None:
    t0 = time.time()
    OUT.mkdir(parents=True, exist_ok=True)
    samples = read_fgnet(DATA / "fgnet")
    landmarks = read_landmarks(DATA / "fgnet" / "landmarks68.csv")
    pipe = Pipeline("yunet", "+".join(MODELS))
    policy = QualityPolicy()
    rows = {"source": [], "person": [], "age_from": [], "age_to": [], "found": [], "problems": []}
    vectors = {m: [] for m in MODELS}
    for n, s in enumerate(samples):
        img = load_image(s.path)
        for to in targets(s.age):
            out, _ = age_face(img, landmarks[s.path.name], s.age, to)
            cv2.imwrite(str(OUT / f"{s.path.stem}_to{to:02.0f}.jpg"), cv2.cvtColor(out, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            faces = pipe.detect(out)
            face = pipe.embed(out, [max(faces, key=lambda f: f.width * f.height)])[0] if faces else None
            rows["source"].append(s.path.name)
            rows["person"].append(s.person)
            rows["age_from"].append(s.age)
            rows["age_to"].append(to)
            rows["found"].append(face is not None)
            rows["problems"].append("; ".join(policy.problems(face.quality)) if face else "no face detected")
            for m in MODELS:
                vectors[m].append(face.embeddings[m] if face else np.zeros(128, np.float32))
        if n % 100 == 0:
            print(f"{n}/{len(samples)} images, {time.time() - t0:.0f} s", flush=True)
    np.savez(OUT / "synth.npz", **{k: np.array(v) for k, v in rows.items()},
             **{m: np.stack(v).astype(np.float32) for m, v in vectors.items()})
    found = np.array(rows["found"])
    ok = np.array([p == "" for p in rows["problems"]])
    print(f"{len(found)} synthetic images: {found.sum()} with a face, {ok.sum()} of enrollment quality; "
          f"{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
