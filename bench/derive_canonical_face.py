"""Derive vultus's canonical 3-D face (`vultus.mesh.canonical_face`) from our own Face Mesh outputs.

MediaPipe's `canonical_face_model.obj` does not ship in the mediapipe 0.10.21 wheel (its
`face_geometry/data` folder is empty), so we measure a mean face instead: the mesh's 3-D points of
LFW faces (x, y in pixels, z relative depth in the same scale), aligned by generalized Procrustes
analysis (rotation, scale, translation), averaged, then

* turned to the faces' average orientation (the mean of the rotations that aligned them), so that
  0 pitch is the average pose of LFW's news photographs, taken mostly at eye level;
* made exactly mirror-symmetric: the symmetry plane is fitted to the vertex pairs that mirror each
  other (the least-cost matching of the face with its reflection), the x axis is turned onto its
  normal, and each vertex is averaged with its mirrored partner;
* scaled to an outer-eye-corner distance of 1, origin midway between those corners.

Axes are the mesh's: x to the image's right, y down, z away from the camera. The file also stores
the mirror permutation (vertex i's partner on the other side of the face).
Run: .venv/bin/python bench/derive_canonical_face.py [--images 1500]
"""

from __future__ import annotations

import argparse
import json
import random

import numpy as np

from _common import ROOT, git_rev, lfw_images
from vultus.io import load_image
from vultus.mesh import LEFT_EYE_CORNERS, RIGHT_EYE_CORNERS
from vultus.models import load
from vultus.models.analyze.headpose import fit_rotation

OUT = ROOT / "src" / "vultus" / "data" / "canonical_face.json"


def mesh_points(n: int) -> np.ndarray:
    paths = lfw_images()
    random.Random(0).shuffle(paths)
    det, mesh = load("yunet", "detector"), load("facemesh", "landmarker")
    shapes = []
    for p in paths:
        img = load_image(p)
        h, w = img.shape[:2]
        faces = [f for f in det.detect(img) if f.box[0] < w / 2 < f.box[2] and f.box[1] < h / 2 < f.box[3]]
        if faces:
            m = mesh.landmark(img, faces[:1])[0].mesh
            if m.score > 0.9:
                shapes.append(m.points.astype(np.float64))
        if len(shapes) == n:
            break
    return np.stack(shapes)


def nearest_rotation(m: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(m)
    return u @ np.diag([1, 1, np.sign(np.linalg.det(u @ vt))]) @ vt


def procrustes_mean(shapes: np.ndarray, rounds: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Generalized Procrustes: the mean shape and each shape's rotation onto it."""
    x = shapes - shapes.mean(1, keepdims=True)
    x /= np.linalg.norm(x, axis=(1, 2), keepdims=True)
    mean = x[0]
    for _ in range(rounds):
        rots = np.stack([fit_rotation(s, mean) for s in x])  # mean ~ s R x
        aligned = np.einsum("nij,nkj->nki", rots, x)
        aligned *= np.einsum("nki,ki->n", aligned, mean)[:, None, None]  # least-squares scale
        mean = aligned.mean(0)
        mean /= np.linalg.norm(mean)
    return mean, rots


def mirror_pairs(shape: np.ndarray) -> np.ndarray:
    """Vertex i's mirror partner: the one-to-one matching of the face with its reflection across
    x = 0 that moves vertices least (nearest neighbours alone pair a few lip and eye vertices twice)."""
    from scipy.optimize import linear_sum_assignment

    reflected = shape * np.array([-1, 1, 1])
    cost = np.linalg.norm(reflected[:, None] - shape[None], axis=2)
    _, partner = linear_sum_assignment(cost)  # partner[i]: the vertex at vertex i's reflection
    if not np.array_equal(partner[partner], np.arange(len(shape))):
        raise SystemExit("the mirror matching is not symmetric; the mean face is too asymmetric")
    return partner


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=1500)
    args = ap.parse_args()
    shapes = mesh_points(args.images)
    mean, rots = procrustes_mean(shapes)
    # back to the average camera-frame orientation: each face ~ R_i.T @ mean
    face = mean @ nearest_rotation(np.einsum("nji->ij", rots)).T  # (the mean of R_i.T)

    def level(s: np.ndarray) -> np.ndarray:
        """Origin between the outer eye corners; the symmetry plane's normal as the x axis."""
        s = s - (s[RIGHT_EYE_CORNERS[0]] + s[LEFT_EYE_CORNERS[1]]) / 2
        return s / np.linalg.norm(s[LEFT_EYE_CORNERS[1]] - s[RIGHT_EYE_CORNERS[0]])

    face = level(face)
    for _ in range(3):  # pairs from the current frame, the plane from the pairs, the frame from the plane
        partner = mirror_pairs(face)
        diffs = face - face[partner]
        _, _, vt = np.linalg.svd(diffs[np.linalg.norm(diffs, axis=1) > 1e-6], full_matrices=False)
        normal = vt[0] * np.sign(vt[0][0])
        axis = np.cross(normal, [1.0, 0, 0])
        angle = np.arcsin(np.clip(np.linalg.norm(axis), -1, 1))
        if angle > 1e-9:
            k = axis / np.linalg.norm(axis)
            kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
            face = face @ (np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx).T
        face = level(face)
    partner = mirror_pairs(face)
    face = level((face + face[partner] * np.array([-1, 1, 1])) / 2)
    OUT.write_text(json.dumps({
        "about": "Mean Face Mesh face of LFW faces, made by bench/derive_canonical_face.py: units of the "
                 "outer-eye-corner distance, origin between those corners, x right, y down, z away from "
                 "the camera; mirror = each vertex's partner across the face's symmetry plane",
        "faces": len(shapes), "commit": git_rev(),
        "points": np.round(face, 4).tolist(), "mirror": partner.tolist(),
    }, separators=(",", ":")) + "\n")
    print(f"{len(shapes)} faces -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
