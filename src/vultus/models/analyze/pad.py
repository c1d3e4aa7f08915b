"""Presentation attack detection (PAD): is the face in front of the camera, or a photo of one?

Trained here (`training/pad/`, `make train-pad`) on the NUAA Photograph Imposter database, genuine
faces against printed-photo attacks, on a subject-disjoint split, choosing on the validation
subjects between texture features with a linear classifier and a small CNN. The shipped model's
`pad.json` says which won: `texture` (colour LBP + frequency spectrum of the crop, computed here,
then the ONNX classifier) or `cnn` (the crop's pixels into the ONNX network). Either way it sees a
square crop around the detector's box and gives the probability that the face is live; the
threshold is the equal-error point on the validation subjects (model card: docs/models/pad.md).
In video the per-frame scores of a track are averaged (`Liveness.combine`).

What it has not seen: screen replays, masks, other cameras and lighting than NUAA's webcams.
"""

from __future__ import annotations

import json

import cv2
import numpy as np

from ...runtime import open_session
from ...types import Face, Liveness
from ..registry import ModelSpec, Task, register

SPEC = register(ModelSpec(
    name="pad", task=Task.ANALYZER, impl=__name__ + ":PresentationAttackDetector",
    summary="Presentation attack detection (printed photos), trained here on NUAA",
    file="weights/pad.onnx",
    sha256="c00d88cf743472a6e14764be0814f88984c415d459789e3fe146bc26c5e5e0e8",
    extra_files={"config": ("weights/pad.json", "b315e16f078e110cfb62db48c3fd9e89efb43de1f22b22672127c2ae6df2fdf7")},
    licence="Apache-2.0 (code and weights); trained on NUAA, a research-only data set",
    commercial_use=False, input_size="square face crop, 64x64 RGB (texture features or pixels)",
    outputs=("liveness",), card="pad.md", training="training/pad/",
))


def face_crop(image: np.ndarray, face: Face, size: int, scale: float) -> np.ndarray:
    """A (size, size, 3) square crop centred on the face box, `scale` times its longer side, edges
    replicated where it leaves the image; downscaled with area averaging (texture survives)."""
    x1, y1, x2, y2 = (float(v) for v in face.box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = max(x2 - x1, y2 - y1, 1.0) * scale / 2
    a, b, c, d = (int(round(v)) for v in (cx - half, cy - half, cx + half, cy + half))
    h, w = image.shape[:2]
    pad = max(0, -a, -b, c - w, d - h)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        a, b, c, d = a + pad, b + pad, c + pad, d + pad
    crop = image[b:d, a:c]
    interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


class PresentationAttackDetector:
    outputs = SPEC.outputs

    def __init__(self, spec: ModelSpec = SPEC, threshold: float | None = None):
        self.spec, self.name = spec, spec.name
        config = json.loads(spec.weights_path("config").read_text())
        self.size, self.scale = int(config["size"]), float(config["scale"])
        self.kind, self.features = config["kind"], config.get("features", "")
        self.threshold = float(config["threshold"] if threshold is None else threshold)
        self._session = open_session(spec.weights_path(), dynamic_batch=True)

    def scores(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Probability that each face is live (before the threshold)."""
        crops = np.stack([face_crop(image, f, self.size, self.scale) for f in faces])
        if self.kind == "texture":
            from ._texture import features

            x = features(crops, self.features).astype(np.float32)
        else:
            x = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)
        return self._session.run([x])[0].reshape(-1)

    def analyze(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        if not faces:
            return faces
        return [f.with_attributes(liveness=Liveness(float(s) >= self.threshold, float(s), self.threshold, self.name))
                for f, s in zip(faces, self.scores(image, faces))]
