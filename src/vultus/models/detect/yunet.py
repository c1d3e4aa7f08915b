"""YuNet (OpenCV Zoo, MIT): a 122 KB int8 CNN detector with 5 landmarks, via cv2.FaceDetectorYN."""

from __future__ import annotations

import cv2
import numpy as np

from ._common import BaseDetector


class YuNet(BaseDetector):
    def __init__(self, spec, **options):
        super().__init__(spec, **options)
        # YuNet runs its own NMS; we let it keep everything above our threshold
        self._net = cv2.FaceDetectorYN.create(str(spec.weights_path()), "", (320, 320),
                                              self.score_threshold, self.nms_threshold, 5000)
        self._size = (320, 320)

    def _forward(self, image):
        h, w = image.shape[:2]
        if (w, h) != self._size:
            self._net.setInputSize((w, h))
            self._size = (w, h)
        _, out = self._net.detect(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if out is None or len(out) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 10), np.float32)
        boxes = np.column_stack([out[:, 0:2], out[:, 0:2] + out[:, 2:4]]).astype(np.float32)
        return boxes, out[:, 14].astype(np.float32), out[:, 4:14].astype(np.float32)
