"""Annotated images: boxes, landmarks and labels drawn on a copy of the image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from . import mesh as M
from .types import Face, Mesh

KNOWN = (40, 180, 60)
UNKNOWN = (220, 60, 40)
MESH = (80, 200, 240)
IRIS = (250, 90, 200)
# outlines drawn for a mesh: (region, closed)
MESH_LINES = (("face_oval", True), ("right_eye", True), ("left_eye", True), ("lips_outer", True),
              ("lips_inner", True), ("right_brow_upper", False), ("right_brow_lower", False),
              ("left_brow_upper", False), ("left_brow_lower", False), ("nose_ridge", False),
              ("nose_base", False))


def annotate(image: np.ndarray, faces: list[Face], labels: list[str] | None = None,
             colors: list[tuple[int, int, int]] | None = None) -> np.ndarray:
    """Return an RGB copy of `image` with each face's box, 5 landmarks, label and, when the face has
    one, its dense mesh."""
    out = image.copy()
    thick = max(1, round(max(out.shape[:2]) / 500))
    for i, f in enumerate(faces):
        color = colors[i] if colors else KNOWN
        if f.mesh is not None:
            draw_mesh(out, f.mesh)
        x1, y1, x2, y2 = (int(round(v)) for v in f.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thick)
        for x, y in f.landmarks:
            cv2.circle(out, (int(x), int(y)), thick + 1, (250, 220, 40), -1)
        label = labels[i] if labels else f"{f.score:.2f}"
        scale = 0.4 + 0.2 * thick
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = max(y1 - 4, th + 4)
        cv2.rectangle(out, (x1, ty - th - 4), (x1 + tw + 4, ty + base - 2), color, -1)
        cv2.putText(out, label, (x1 + 2, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick,
                    cv2.LINE_AA)
    return out


def draw_mesh(image: np.ndarray, mesh: Mesh, color: tuple[int, int, int] = MESH) -> np.ndarray:
    """Draw a mesh on `image` in place (and return it): the outlines of the face, eyes, brows, nose
    and lips, every vertex as a dot when the face is large enough to tell them apart, and each iris
    as a circle through its contour points."""
    pts = mesh.points[:, :2]
    extent = float(np.ptp(pts, axis=0).max())
    thick = max(1, round(extent / 300))
    shift = 4  # sub-pixel drawing: coordinates in 1/16 px
    fixed = np.round(pts * (1 << shift)).astype(np.int32)
    if extent >= 150:  # below this the 468 dots merge into a blot
        for x, y in fixed:
            cv2.circle(image, (int(x), int(y)), 1 << shift, color, -1, cv2.LINE_AA, shift)
    for region, closed in MESH_LINES:
        cv2.polylines(image, [fixed[list(M.REGIONS[region])]], closed, color, thick, cv2.LINE_AA, shift)
    if mesh.iris is not None:
        for eye in (mesh.iris[:5, :2], mesh.iris[5:, :2]):
            radius = float(np.linalg.norm(eye[1:] - eye[0], axis=1).mean())
            centre = tuple(int(v) for v in np.round(eye[0] * (1 << shift)))
            cv2.circle(image, centre, max(1, round(radius * (1 << shift))), IRIS, thick, cv2.LINE_AA, shift)
    return image


def save(image: np.ndarray, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, quality=90)
    return path
