"""Head pose (yaw, pitch, roll in degrees) from the dense mesh: no network of its own.

The face's mesh points (x, y in pixels, z relative depth on the same scale) are fitted to the
canonical face (`vultus.mesh.canonical_face`) by a rotation, a scale and a shift (least squares,
Umeyama), on the vertices that expressions barely move: above the subnasale, without the eyelids
and brows. The rotation gives the angles, in the image's terms:

- yaw > 0: the face turns towards the image's right (the subject's left); the nose moves right;
- pitch > 0: the face tilts up (chin up); the nose moves up;
- roll > 0: the head tilts so that the image-right eye is lower (clockwise in the image), the
  same sign as `Quality.roll`.

With R = Ry(-yaw) Rx(-pitch) Rz(roll) (camera axes: x right, y down, z away from the camera).
0 pitch is the canonical face's pose: the average of LFW's mostly eye-level news photographs.
The mesh comes from the pipeline's landmarker (the spec requires one); a face without a mesh gets
one from the default landmarker.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ... import mesh as M
from ...types import Estimate, Face
from ..registry import ModelSpec, Task, register

SPEC = register(ModelSpec(
    name="headpose", task=Task.ANALYZER, impl=__name__ + ":HeadPose",
    summary="Head pose (yaw, pitch, roll in degrees) fitted from the dense face mesh to a canonical face",
    licence="Apache-2.0 (vultus)", outputs=("yaw", "pitch", "roll"), requires=(Task.LANDMARKER,),
))


def rigid_vertices(canonical: np.ndarray) -> np.ndarray:
    """Vertices above the subnasale, without eyelids and brows: the ones expressions barely move."""
    moving = set(M.RIGHT_EYE + M.LEFT_EYE + M.RIGHT_BROW_UPPER + M.RIGHT_BROW_LOWER
                 + M.LEFT_BROW_UPPER + M.LEFT_BROW_LOWER) - set(M.RIGHT_EYE_CORNERS + M.LEFT_EYE_CORNERS)
    above = np.nonzero(canonical[:, 1] <= canonical[M.NOSE_BASE[2], 1])[0]
    return np.array([i for i in above if i not in moving])


def fit_rotation(model: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """The rotation R (det +1) of the least-squares similarity observed ~ s R model + t."""
    a, b = model - model.mean(0), observed - observed.mean(0)
    u, _, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def angles(r: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of R = Ry(-yaw) Rx(-pitch) Rz(roll)."""
    pitch = np.arcsin(np.clip(r[1, 2], -1.0, 1.0))
    yaw = -np.arctan2(r[0, 2], r[2, 2])
    roll = np.arctan2(r[1, 0], r[1, 1])
    return tuple(float(np.degrees(v)) for v in (yaw, pitch, roll))


class HeadPose:
    outputs = SPEC.outputs

    def __init__(self, spec: ModelSpec):
        self.spec, self.name = spec, spec.name
        self._canonical = M.canonical_face().astype(np.float64)
        self._rigid = rigid_vertices(self._canonical)

    @cached_property
    def _landmarker(self):
        from ...pipeline import DEFAULT_LANDMARKER
        from .. import registry

        return registry.load(DEFAULT_LANDMARKER, Task.LANDMARKER)

    def pose(self, points: np.ndarray) -> tuple[float, float, float]:
        """(yaw, pitch, roll) in degrees of one face's (468, 3) mesh points."""
        r = fit_rotation(self._canonical[self._rigid], np.asarray(points, np.float64)[self._rigid])
        return angles(r)

    def analyze(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        if any(f.mesh is None for f in faces):
            faces = self._landmarker.landmark(image, faces)
        out = []
        for f in faces:
            yaw, pitch, roll = self.pose(f.mesh.points)
            out.append(f.with_attributes(yaw=Estimate(yaw, "degrees"), pitch=Estimate(pitch, "degrees"),
                                         roll=Estimate(roll, "degrees")))
        return out
