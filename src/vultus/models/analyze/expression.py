"""Facial expression (7 classes) from pretrained face features and a light head trained here.

MotivNet's recipe on what ships offline: SFace, a face network pretrained on far more faces than
any expression data set, stays frozen; it is cut in memory after an inner layer (its identity
embedding is trained to ignore expressions, its inner feature maps are not) and light heads trained
on FER2013 read two of its maps; which parts ship and how they are weighted is chosen on FER2013
PublicTest (training/expression/, model card docs/models/expression.md). The probabilities are
calibrated (temperature fitted on PublicTest). A second output gives the eye region's own
probabilities, for the `emotion` fusion.

Every face is first aligned to a FER2013-like 48x48 grey crop (`_fer_crops`), so photos look to the
networks as the training images did.
"""

from __future__ import annotations

import numpy as np

from ...runtime import open_session
from ...types import Face
from ..registry import ModelSpec, Task, get, register
from ._fer_crops import cnn_input, expression_crop, sface_input, to_label

SPEC = register(ModelSpec(
    name="expression", task=Task.ANALYZER, impl=__name__ + ":Expression",
    summary="7 facial expressions: light heads trained here on two frozen SFace maps, calibrated (+ eye region)",
    package=None, file="weights/expression.onnx",
    sha256="c9dfb7df041c8a9607171669af39e0bc1a196edf0982fd9a6545452557f2484e",
    licence="Apache-2.0 (trained here; FER2013 is for non-commercial research, SFace backbone Apache-2.0)",
    commercial_use=False, input_size="48x48 grey crop aligned to 5 landmarks (SFace part: 112x112 from it)",
    outputs=("expression",), card="expression.md", training="training/expression/",
    options={"sface_size": 64},  # SFace's input side: the features the head was trained on
))

#: the model's input names -> the SFace tensor each needs (the others are the 48 px crop)
SFACE_TENSORS = {"sface_embedding": "fc1", "sface_conv12": "conv_12_relu", "sface_conv14": "conv_14_relu"}


class Expression:
    outputs = SPEC.outputs

    def __init__(self, spec, sface_size: int = 112):
        self.spec, self.name, self.sface_size = spec, spec.name, sface_size
        self._head = open_session(spec.weights_path(), dynamic_batch=True)
        wanted = tuple(SFACE_TENSORS[n] for n in self._head.input_names if n in SFACE_TENSORS)
        self._sface = (open_session(get("sface", Task.EMBEDDER).weights_path(), dynamic_batch=True,
                                    dynamic_size=True, outputs=wanted)
                       if wanted else None)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """(N, 48, 48) uint8 aligned grey crops -> (N, 7) calibrated probabilities (EXPRESSIONS order)."""
        return self.predict_all(crops)[0]

    def predict_all(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The whole face's probabilities and, if the model has that output, the eye region's alone."""
        crops = np.asarray(crops, np.uint8)
        n = len(crops)
        feeds: dict[str, np.ndarray] = {}
        if self._sface is not None:
            feeds.update(zip(self._sface.output_names, self._sface.run([sface_input(crops, self.sface_size)])))
        inputs = {name: feeds[SFACE_TENSORS[name]].reshape(n, -1) if name == "sface_embedding"
                  else feeds[SFACE_TENSORS[name]] if name in SFACE_TENSORS else cnn_input(crops)
                  for name in self._head.input_names}
        out = self._head.run(inputs)
        return out[0], (out[1] if len(out) > 1 else None)

    def analyze(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        if not faces:
            return faces
        probs = self.predict(np.stack([expression_crop(image, f.landmarks) for f in faces]))
        return [f.with_attributes(expression=to_label(p)) for f, p in zip(faces, probs)]

