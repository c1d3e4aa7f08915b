"""Head pose from the mesh: sign conventions checked on real faces (turned, tilted, mirrored,
rotated), and the analyzer path through the pipeline."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ..conftest import EXAMPLES, dataset
from vultus import load_image
from vultus.models import load
from vultus.models.analyze.headpose import angles
from vultus.pipeline import Pipeline
from vultus.types import Estimate

# LFW photos whose pose was judged by eye (each is clearly turned or tilted that way)
TURNED = [
    ("Tom_Daschle_0021", "yaw", -1),  # turned towards the image's left
    ("Ken_Watanabe_0001", "yaw", +1),  # turned towards the image's right
    ("James_Kopp_0004", "pitch", -1),  # looking down
    ("John_Negroponte_0017", "pitch", -1),
    ("Chris_Cornell_0001", "pitch", +1),  # chin up
    ("Shane_Mosley_0002", "pitch", +1),
]


@pytest.fixture(scope="module")
def pipe():
    return Pipeline(analyzers="headpose")


def pose(pipe, img) -> dict[str, float]:
    h, w = img.shape[:2]
    faces = pipe.analyze(img)
    face = min(faces, key=lambda f: np.hypot((f.box[0] + f.box[2] - w) / 2, (f.box[1] + f.box[3] - h) / 2))
    return {k: face.attributes[k].value for k in ("yaw", "pitch", "roll")}


@pytest.mark.parametrize("name,angle,sign", TURNED)
def test_signs_on_turned_faces(pipe, name, angle, sign):
    lfw = dataset("lfw")
    p = pose(pipe, load_image(lfw / "lfw" / name.rsplit("_", 1)[0] / f"{name}.jpg"))
    assert sign * p[angle] > 10, p


def test_obama2_looks_to_the_image_left(pipe):
    p = pose(pipe, load_image(EXAMPLES / "obama2.jpg"))
    assert p["yaw"] < -5, p


def test_mirror_flips_yaw_and_roll(pipe, obama):
    for path in (obama, EXAMPLES / "obama2.jpg", EXAMPLES / "biden.jpg"):
        img = load_image(path)
        a, b = pose(pipe, img), pose(pipe, np.ascontiguousarray(img[:, ::-1]))
        assert abs(a["yaw"] + b["yaw"]) < 5 and abs(a["roll"] + b["roll"]) < 4 and abs(a["pitch"] - b["pitch"]) < 4


@pytest.mark.parametrize("degrees", [-20, 20])
def test_rotating_the_photo_changes_roll(pipe, obama, degrees):
    img = load_image(obama)
    h, w = img.shape[:2]
    # cv2 turns positive angles counter-clockwise on screen: the image-right eye rises, roll falls
    turned = cv2.warpAffine(img, cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0), (w, h))
    a, b = pose(pipe, img), pose(pipe, turned)
    assert abs((b["roll"] - a["roll"]) + degrees) < 4, (a, b)
    assert abs(b["yaw"] - a["yaw"]) < 5


def test_angles_of_known_rotations():
    def ry(t):
        return np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])

    def rx(t):
        return np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])

    def rz(t):
        return np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])

    yaw, pitch, roll = np.radians([25.0, -10.0, 7.0])
    assert np.allclose(angles(ry(-yaw) @ rx(-pitch) @ rz(roll)), [25.0, -10.0, 7.0])
    nose = ry(-yaw) @ [0, 0, -1]  # the face looks along -z (towards the camera)
    assert nose[0] > 0  # positive yaw: the nose moves to the image's right


def test_analyzer_outputs_and_missing_mesh(obama):
    img = load_image(obama)
    faces = load("yunet", "detector").detect(img)
    out = load("headpose", "analyzer").analyze(img, faces)  # no mesh yet: the default landmarker runs
    assert out[0].mesh is not None
    for k in ("yaw", "pitch", "roll"):
        est = out[0].attributes[k]
        assert isinstance(est, Estimate) and est.unit == "degrees" and abs(est.value) < 30
    assert load("headpose", "analyzer").analyze(img, []) == []
