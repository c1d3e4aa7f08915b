"""SFace (OpenCV Zoo, Apache-2.0): a 128-d face embedding from a 112x112 ArcFace-aligned crop.

Run through cv2.dnn rather than cv2.FaceRecognizerSF: the int8 file declares unused weight tensors
as graph inputs, which FaceRecognizerSF in OpenCV 5 rejects; naming the input works in 4.x and 5.x.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from ...align import ARCFACE_112
from ..base import l2_normalize


class SFace:
    dim = 128
    crop_size = 112
    template = ARCFACE_112

    def __init__(self, spec):
        self.spec = spec
        self.name = spec.name
        self._net = cv2.dnn.readNetFromONNX(str(spec.weights_path()))
        self._lock = threading.Lock()

    def embed(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        blob = cv2.dnn.blobFromImages(list(crops))  # RGB 0..255, NCHW
        with self._lock:
            self._net.setInput(blob, "data")
            out = self._net.forward()
        return l2_normalize(out.reshape(len(crops), -1))
