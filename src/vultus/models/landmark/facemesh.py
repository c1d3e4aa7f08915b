"""MediaPipe Face Mesh (Apache-2.0): 468 3-D points per face, and optionally the iris model.

The two TFLite files ship in the `mediapipe==0.10.21` wheel; we read them from there and run them on
the model runtime (OpenVINO reads TFLite), never importing mediapipe (it needs numpy<2). What
MediaPipe's graphs do around the networks is redone here:

- region of interest: a square around the detector's box, rotated so the eyes are level (from the
  detector's eye landmarks), `scale` times the box's long side (MediaPipe takes 1.5x its BlazeFace
  box; YuNet's box is taller, and 1.3x gave the lowest error on FG-NET's validation people);
- the crop is resized to 192x192, RGB scaled to 0..1 (as MediaPipe's graph does; -1..1 gave a 7%
  higher error on FG-NET); the network gives 468 (x, y, z) in crop pixels and a face-presence logit
  (sigmoid = `Mesh.score`);
- points go back to image pixels through the crop's rotation and scale; z is scaled like x
  (relative depth, smaller = closer to the camera);
- `passes=2` re-derives the region from the first pass's points (outer eye corners for the angle,
  1.5x their extent for the centre and size, as MediaPipe's tracking does) and runs the network
  again: on FG-NET's validation people it lowered the 68-point error by about 1% of itself for
  twice the cost, so one pass is the default (bench/landmarks.py);
- iris: a 64x64 crop around each eye (2.3x the eye-corner distance, rotated level, the image-right
  eye mirrored because the network was trained on the other one: mirroring neither eye, or the
  other one, put the iris centres further from FG-NET's annotated pupils) gives the iris centre
  and four contour points per eye.

The attention mesh (`face_landmark_with_attention.tflite`, 478 points with iris) does not load:
it uses MediaPipe's custom operators (Landmarks2TransformMatrix, TransformLandmarks,
TransformTensorBilinear), which neither OpenVINO nor any ONNX converter implements.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from ...mesh import LEFT_EYE_CORNERS, RIGHT_EYE_CORNERS
from ...runtime import open_session
from ...types import Face, Mesh
from ..registry import ModelSpec, Task, register

SPEC = register(ModelSpec(
    name="facemesh", task=Task.LANDMARKER, impl=__name__ + ":FaceMesh",
    summary="MediaPipe Face Mesh: 468 3-D landmarks per face (68-point iBUG mapping in vultus.mesh)",
    package="mediapipe", file="modules/face_landmark/face_landmark.tflite",
    sha256="1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
    extra_files={"iris": ("modules/iris_landmark/iris_landmark.tflite",
                          "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f")},
    install="pip install --no-deps mediapipe==0.10.21",
    licence="Apache-2.0", input_size="192x192 face crop (iris: 64x64 eye crops)",
    options={"passes": 1, "iris": False, "scale": 1.3},
))
register(dataclasses.replace(
    SPEC, name="facemesh_iris", options={**SPEC.options, "iris": True},
    summary="Face Mesh plus MediaPipe's iris model: Mesh.iris holds each eye's iris centre and contour",
))

SIZE = 192  # the mesh network's input side
IRIS_SIZE = 64
TRACK_SCALE = 1.5  # ROI side / the points' extent, for a second pass (MediaPipe's tracking)
IRIS_SCALE = 2.3  # eye crop side / eye-corner distance (MediaPipe's iris graph)
# the eyes' corners, each from its image-left corner, and whether the iris network sees the eye
# mirrored: it was trained on the subject's right eye (image-left), as MediaPipe's graph feeds it
IRIS_EYES = ((RIGHT_EYE_CORNERS, False), (LEFT_EYE_CORNERS, True))


@dataclasses.dataclass(frozen=True)
class Roi:
    """A rotated square in the image: centre (pixel-centre coordinates), side in pixels, angle in
    radians (the crop's x axis points along (cos, sin) in the image, whose y axis points down)."""

    cx: float
    cy: float
    side: float
    angle: float

    def to_image(self, size: int) -> np.ndarray:
        """(2, 3) affine from crop pixel-centre coordinates of a size x size crop to the image."""
        k = self.side / size
        c, s = np.cos(self.angle) * k, np.sin(self.angle) * k
        a = np.array([[c, -s], [s, c]])
        t = np.array([self.cx, self.cy]) - a @ np.full(2, (size - 1) / 2)
        return np.hstack([a, t[:, None]])

    def crop(self, image: np.ndarray, size: int, mirror: bool = False) -> np.ndarray:
        m = self.to_image(size)
        if mirror:  # crop column u shows image column size-1-u
            m = m @ np.array([[-1, 0, size - 1], [0, 1, 0], [0, 0, 1]], np.float64)
        return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)

    def project(self, points: np.ndarray, size: int, mirror: bool = False) -> np.ndarray:
        """Network outputs (x, y, z) in continuous crop coordinates (0..size) -> image pixels;
        z is scaled like x."""
        p = np.asarray(points, np.float64).copy()
        if mirror:
            p[:, 0] = size - p[:, 0]
        m = self.to_image(size)
        xy = (p[:, :2] - 0.5) @ m[:, :2].T + m[:, 2]
        return np.column_stack([xy, p[:, 2] * self.side / size]).astype(np.float32)


def roi_from_detection(face: Face, scale: float) -> Roi:
    """MediaPipe's face ROI from a detection: the box centre, the eye line's angle, `scale` x the
    box's long side."""
    x1, y1, x2, y2 = (float(v) for v in face.box)
    (lx, ly), (rx, ry) = face.landmarks[0], face.landmarks[1]  # image-left eye, image-right eye
    angle = float(np.arctan2(ry - ly, rx - lx))
    return Roi((x1 + x2) / 2, (y1 + y2) / 2, scale * max(x2 - x1, y2 - y1, 1.0), angle)


def roi_from_points(points: np.ndarray, scale: float) -> Roi:
    """The ROI MediaPipe tracks with: the outer eye corners give the angle, the points' extent in
    that rotated frame gives the centre and the side (`scale` x its long side)."""
    (lx, ly), (rx, ry) = points[RIGHT_EYE_CORNERS[0], :2], points[LEFT_EYE_CORNERS[1], :2]
    angle = float(np.arctan2(ry - ly, rx - lx))
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, s], [-s, c]])  # image -> level frame
    level = points[:, :2] @ rot.T
    lo, hi = level.min(0), level.max(0)
    cx, cy = ((lo + hi) / 2) @ rot  # back to the image
    return Roi(float(cx), float(cy), scale * float(max(hi - lo)), angle)


def eye_roi(points: np.ndarray, corners: tuple[int, int]) -> Roi:
    a, b = points[corners[0], :2], points[corners[1], :2]
    d = b - a
    return Roi(float((a[0] + b[0]) / 2), float((a[1] + b[1]) / 2),
               IRIS_SCALE * max(float(np.hypot(*d)), 1.0), float(np.arctan2(d[1], d[0])))


class FaceMesh:
    """Landmarker: `landmark(image, faces)` fills each face's `mesh` (468 points, score, iris)."""

    def __init__(self, spec: ModelSpec, passes: int = 1, iris: bool = False, scale: float = 1.3):
        if passes not in (1, 2):
            raise ValueError(f"passes must be 1 or 2, not {passes!r}")
        self.spec, self.name = spec, spec.name
        self.passes, self.scale = passes, float(scale)
        self._mesh = open_session(spec.weights_path(), dynamic_batch=True)
        self._iris = open_session(spec.weights_path("iris"), dynamic_batch=True) if iris else None

    def landmark(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        if not faces:
            return []
        image = np.ascontiguousarray(image)
        rois = [roi_from_detection(f, self.scale) for f in faces]
        points, scores = self._run(image, rois)
        if self.passes == 2:
            rois = [roi_from_points(p, TRACK_SCALE) for p in points]
            points, scores = self._run(image, rois)
        irises = self._irises(image, points) if self._iris is not None else [None] * len(points)
        return [dataclasses.replace(f, mesh=Mesh(points=p, score=s, iris=i, model=self.name))
                for f, p, s, i in zip(faces, points, scores, irises)]

    def _run(self, image: np.ndarray, rois: list[Roi]) -> tuple[list[np.ndarray], list[float]]:
        batch = np.stack([r.crop(image, SIZE) for r in rois]).astype(np.float32) / np.float32(255.0)
        raw, logits = self._mesh.run([batch])
        raw = raw.reshape(len(rois), -1, 3)
        scores = 1.0 / (1.0 + np.exp(-logits.reshape(-1).astype(np.float64)))
        return [r.project(p, SIZE) for r, p in zip(rois, raw)], [float(s) for s in scores]

    def _irises(self, image: np.ndarray, points: list[np.ndarray]) -> list[np.ndarray]:
        """Per face (10, 3): per eye (image-left first) the iris centre then 4 contour points."""
        eyes = [(p, corners, mirror) for p in points for corners, mirror in IRIS_EYES]
        rois = [eye_roi(p, corners) for p, corners, _ in eyes]
        batch = np.stack([roi.crop(image, IRIS_SIZE, mirror) for roi, (_, _, mirror) in zip(rois, eyes)])
        _, raw = self._iris.run([batch.astype(np.float32) / np.float32(255.0)])
        out = []  # (the file flattens a batch into one row; the order is kept)
        for roi, (p, corners, mirror), r in zip(rois, eyes, raw.reshape(len(eyes), 5, 3)):
            iris = roi.project(r, IRIS_SIZE, mirror)
            iris[:, 2] += p[list(corners), 2].mean()  # depth relative to the eye corners' mesh depth
            out.append(iris)
        return [np.concatenate(out[i:i + 2]) for i in range(0, len(out), 2)]
