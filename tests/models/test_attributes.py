"""The shipped `attributes` analyzer: real faces from the UTKFace test split (never trained on), the
outputs' shape and meaning, bad input, and ONNX against PyTorch (with the train extra)."""

from __future__ import annotations

import csv
import re
import subprocess
import sys

import numpy as np
import pytest

from ..conftest import EXAMPLES, ROOT, dataset

SPLIT = ROOT / "training" / "attributes" / "splits" / "utkface.csv"


@pytest.fixture(scope="module")
def analyzer():
    from vultus.models import registry

    return registry.load("attributes")


@pytest.fixture(scope="module")
def test_faces():
    """40 UTKFace test-split faces aged 20-60, spread over the file list (adults: gender and age are
    well defined there; children are covered by the bench's fairness tables)."""
    root = dataset("utkface") / "images"
    with open(SPLIT, newline="") as f:
        names = [r["file"] for r in csv.DictReader(f) if r["split"] == "test"]
    adults = [n for n in names if 20 <= int(n.split("_")[0]) <= 60]
    return [root / n for n in adults[:: max(1, len(adults) // 40)][:40]]


def test_spec_says_not_for_commercial_use():
    from vultus.models import registry

    spec = registry.get("attributes")
    assert spec.commercial_use is False and "non-commercial" in spec.licence
    assert spec.outputs == ("age", "age_group", "gender", "ethnicity")
    assert (ROOT / "docs" / "models" / spec.card).is_file() and (ROOT / spec.training).is_dir()
    assert spec.weights_path().stat().st_size < 50e6  # and its SHA-256 matches the spec


def test_labelled_utkface_faces(analyzer, test_faces):
    from vultus.pipeline import Pipeline

    pipe = Pipeline(analyzers=[analyzer])
    right, errors = 0, []
    for path in test_faces:
        faces = pipe.analyze(path)
        assert faces, f"no face found in {path.name}"
        a = max(faces, key=lambda f: f.width * f.height).attributes
        age, gender = (int(v) for v in re.match(r"(\d+)_(\d)_", path.name).groups())
        right += a["gender"].value == ("male", "female")[gender]
        errors.append(abs(a["age"].value - age))
        assert a["age"].low <= a["age"].value <= a["age"].high
        assert a["age_group"].value in ("20-29", "30-39", "40-49", "50-59", "60-69", "10-19", "70+")
        for name in ("gender", "ethnicity", "age_group"):
            assert abs(sum(a[name].scores.values()) - 1) < 1e-3
    assert right / len(test_faces) >= 0.85, f"gender right on {right} of {len(test_faces)}"
    assert np.mean(errors) <= 9.0, f"age MAE {np.mean(errors):.1f} y"


def test_every_face_of_an_image_and_none(analyzer):
    from vultus.io import load_image
    from vultus.pipeline import Pipeline

    img = load_image(EXAMPLES / "obama.jpg")
    faces = Pipeline().detect(img)
    out = analyzer.analyze(img, faces)
    assert len(out) == len(faces) and out[0].attributes["gender"].value == "male"
    assert 30 <= out[0].attributes["age"].value <= 65
    assert analyzer.analyze(img, []) == []


def test_face_at_the_border_and_tiny_image(analyzer):
    """Landmarks partly outside the image still give a crop (replicated border), not an error."""
    from vultus.types import Face

    img = np.full((40, 30, 3), 128, np.uint8)
    lm = np.array([[-5, 10], [20, 10], [8, 25], [0, 35], [18, 35]], np.float32)
    out = analyzer.analyze(img, [Face(box=np.array([-10, 0, 30, 40], np.float32), score=0.5, landmarks=lm)])
    assert set(out[0].attributes) == {"age", "age_group", "gender", "ethnicity"}


def test_cli_bad_input(tmp_path):
    bad = tmp_path / "not_an_image.jpg"
    bad.write_text("hello")
    p = subprocess.run([sys.executable, "-m", "vultus", "analyze", str(bad), "--with", "attributes", "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "not_an_image.jpg" in p.stderr and "Traceback" not in p.stderr


def test_onnx_matches_pytorch(analyzer, test_faces):
    """The shipped file against the same network rebuilt in PyTorch from the file's own weights."""
    pytest.importorskip("torch", reason="PyTorch is in the train extra (pip install -e .[train])")
    from training.attributes.export import F32, OUTPUTS, pytorch_from_onnx

    from vultus.io import load_image
    from vultus.models.analyze.attributes import prepare
    from vultus.pipeline import Pipeline
    from vultus.runtime import open_session

    pipe = Pipeline()
    crops, masks = [], []
    for path in test_faces[:8]:
        img = load_image(path)
        c, m = prepare(img, pipe.detect(img)[0])
        crops.append(c)
        masks.append(m)
    crops, masks = np.stack(crops), np.stack(masks)
    path = analyzer.spec.weights_path()
    blob = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), np.float32)
    onnx_out = dict(zip(OUTPUTS, open_session(path, dynamic_batch=True, cfg=F32).run([blob, masks])))
    torch_out = pytorch_from_onnx(path)(crops, masks)
    for name, value in torch_out.items():
        tol = 0.05 if name.startswith("age") and name != "age_probs" else 1e-3
        assert np.abs(onnx_out[name] - value).max() < tol, name


def test_group_masks_sit_on_their_parts():
    """The landmark masks at feature resolution: soft, in [0, 1], each group where its part is."""
    from vultus.align import ARCFACE_112
    from vultus.models.analyze.attributes import GROUPS, masks_from_points

    masks = masks_from_points(ARCFACE_112)
    assert masks.shape == (len(GROUPS), 14, 14) and 0 <= masks.min() and masks.max() <= 1
    rows = np.arange(14)[:, None]
    centre_row = {g: float((m * rows).sum() / m.sum()) for g, m in zip(GROUPS, masks)}
    assert centre_row["forehead"] < centre_row["eyes"] < centre_row["nose"] < centre_row["mouth"]
    flipped = ARCFACE_112.copy()
    flipped[:, 0] = 111 - flipped[:, 0]  # mirror image: x flips, left and right landmarks swap
    mirrored = masks_from_points(flipped[[1, 0, 2, 4, 3]])
    assert np.abs(mirrored - masks[:, :, ::-1]).max() < 0.1  # symmetric face, symmetric masks
