"""The 468 vertices of MediaPipe's Face Mesh: named regions, the 68-point mapping, a canonical face.

Left and right are the subject's, as in anatomy and MediaPipe: the subject's right eye is on the
image's left in an ordinary (non-mirrored) photo. Contours run from the subject's right to left
(image left to right) or, for closed outlines, round the region; indices are vertices of
`Mesh.points` (x, y in image pixels, z relative depth).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import numpy as np

# -- regions ------------------------------------------------------------------------------------
# eyes: the lid margins (where lashes meet the eyeball), corner to corner, outer corner first
RIGHT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
LEFT_EYE_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
LEFT_EYE_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
RIGHT_EYE = RIGHT_EYE_UPPER + RIGHT_EYE_LOWER[-2:0:-1]  # closed outline
LEFT_EYE = LEFT_EYE_UPPER + LEFT_EYE_LOWER[-2:0:-1]
RIGHT_EYE_CORNERS = (33, 133)  # outer, inner: image-left corner first
LEFT_EYE_CORNERS = (362, 263)  # inner, outer
# brows: the upper and lower edges, outer end to inner end (the mesh's outline encloses the hairs)
RIGHT_BROW_UPPER = (70, 63, 105, 66, 107)
RIGHT_BROW_LOWER = (46, 53, 52, 65, 55)
LEFT_BROW_UPPER = (300, 293, 334, 296, 336)
LEFT_BROW_LOWER = (276, 283, 282, 295, 285)
# nose: the ridge from the nasion (between the eyes) to the tip, and the base from the right
# nostril's outer edge through the subnasale (2) to the left one
NOSE_RIDGE = (168, 6, 197, 195, 5, 4, 1)
NOSE_TIP = 1
NOSE_BASE = (98, 97, 2, 326, 327)
# lips: closed outlines starting at the right mouth corner, along the upper lip first
LIPS_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
LIPS_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
MOUTH_CORNERS = (61, 291)
# the face's outline, clockwise from the top of the forehead (10) over the subject's left
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
CHIN = 152
# the jaw line: the lower part of the oval, ear to ear through the chin
JAW = (127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288,
       361, 323, 454, 356)
# skin patches without hair, eyes or lips (for colour, pulse or texture measurements): closed outlines
FOREHEAD = (54, 103, 67, 109, 10, 338, 297, 332, 284, 298, 333, 299, 337, 151, 108, 69, 104, 68)
RIGHT_CHEEK = (117, 118, 101, 36, 205, 187, 123)
LEFT_CHEEK = (346, 347, 330, 266, 425, 411, 352)

REGIONS: dict[str, tuple[int, ...]] = {
    "right_eye": RIGHT_EYE, "left_eye": LEFT_EYE,
    "right_eye_upper": RIGHT_EYE_UPPER, "right_eye_lower": RIGHT_EYE_LOWER,
    "left_eye_upper": LEFT_EYE_UPPER, "left_eye_lower": LEFT_EYE_LOWER,
    "right_brow_upper": RIGHT_BROW_UPPER, "right_brow_lower": RIGHT_BROW_LOWER,
    "left_brow_upper": LEFT_BROW_UPPER, "left_brow_lower": LEFT_BROW_LOWER,
    "nose_ridge": NOSE_RIDGE, "nose_base": NOSE_BASE,
    "lips_outer": LIPS_OUTER, "lips_inner": LIPS_INNER,
    "face_oval": FACE_OVAL, "jaw": JAW, "forehead": FOREHEAD,
    "right_cheek": RIGHT_CHEEK, "left_cheek": LEFT_CHEEK,
}

# -- 468 -> 68 (iBUG 300-W order) ---------------------------------------------------------------
# Each iBUG point is one mesh vertex or the mean of two. Chosen by anatomy; where FG-NET's markup
# marks the same point, the candidate vertices were compared on FG-NET's training people
# (bench/landmarks.py --derive); the jaw, which the schemes space differently, takes the oval
# vertices nearest FG-NET's jaw line resampled to 17 even steps.
MAP68: tuple[tuple[int, ...], ...] = (
    # 0-16 jaw, subject's right ear to left ear; 8 = chin
    (127,), (234,), (132,), (58,), (172,), (136,), (149,), (176,), (152,),
    (400,), (378,), (365,), (397,), (288,), (361,), (454,), (356,),
    # 17-21 right brow, 22-26 left brow, outer to inner / inner to outer: the brow's middle line
    # (mean of the mesh's upper and lower brow edges), which is where FG-NET and dlib put the ends
    (70, 46), (63, 53), (105, 52), (66, 65), (107, 55),
    (336, 285), (296, 295), (334, 282), (293, 283), (300, 276),
    # 27-30 nose ridge, nasion to tip; 31-35 nose base, right to left (33 = subnasale)
    (168,), (197,), (5,), (1,), (98,), (97,), (2,), (326,), (327,),
    # 36-41 right eye: outer corner, 2 upper lid, inner corner, 2 lower lid; 42-47 left eye from
    # its inner corner
    (33,), (160,), (158,), (133,), (153,), (144,),
    (362,), (385,), (387,), (263,), (373,), (380,),
    # 48-59 outer lips from the right corner (51 upper middle, 54 left corner, 57 lower middle)
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (321,), (314,), (17,), (84,), (91,),
    # 60-67 inner lips from the right corner (62 upper middle, 66 lower middle)
    (78,), (81,), (13,), (311,), (308,), (402,), (14,), (178,),
)
_MAP68_MATRIX = np.zeros((68, 468), np.float32)
for _i, _vs in enumerate(MAP68):
    _MAP68_MATRIX[_i, list(_vs)] = 1.0 / len(_vs)


def to68(points: np.ndarray) -> np.ndarray:
    """(468, 2 or 3) mesh points -> (68, 2) points in iBUG 300-W order (dlib's 68-point order)."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[0] != 468:
        raise ValueError(f"expected (468, 2|3) Face Mesh points, got shape {points.shape}")
    return (_MAP68_MATRIX @ points[:, :2].astype(np.float32)).astype(np.float32)


# -- canonical face (for head pose) and mirror symmetry ---------------------------------------------
@cache
def _canonical() -> dict:
    return json.loads(resources.files("vultus").joinpath("data/canonical_face.json").read_text())


def canonical_face() -> np.ndarray:
    """(468, 3) float32: the mean face in the mesh's vertex order, in units of the outer-eye-corner
    distance, origin between those corners; x to the image's right, y down, z away from the camera
    (the mesh's axes). Measured from our own meshes of LFW faces (MediaPipe's canonical model is not
    in the mediapipe wheel) by bench/derive_canonical_face.py, stored in
    `vultus/data/canonical_face.json`."""
    return np.asarray(_canonical()["points"], np.float32)


def mirror_indices() -> np.ndarray:
    """(468,) int: each vertex's partner across the face's symmetry plane (right eye <-> left eye;
    vertices on the midline map to themselves). For a mirrored photo's mesh `m`, `m[mirror_indices()]`
    lines up with the original's vertices."""
    return np.asarray(_canonical()["mirror"], np.int64)
