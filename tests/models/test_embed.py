"""Both embedders give unit vectors that put the same person closer than different people."""

from __future__ import annotations

import numpy as np
import pytest

from vultus.align import ARCFACE_112, similarity_transform
from vultus.pipeline import Pipeline

EMBEDDERS = ["sface", "dlib"]


@pytest.fixture(scope="module", params=EMBEDDERS)
def pipe(request):
    return Pipeline("yunet", request.param)


def test_unit_vectors(pipe, obama):
    f = pipe.embed(obama)[0]
    v = f.embeddings[pipe.recognizer.models[0]]
    assert v.shape == (128,) and v.dtype == np.float32
    assert abs(np.linalg.norm(v) - 1) < 1e-4


def test_orl_same_beats_different(pipe, orl):
    m = pipe.recognizer.models[0]
    people = {s: [pipe.embed_one(orl / f"s{s}" / f"{k}.pgm").embeddings[m] for k in (1, 2)] for s in range(1, 7)}
    same = [float(a @ b) for a, b in people.values()]
    diff = [float(people[s][0] @ people[t][1]) for s in people for t in people if s != t]
    # scale-free: dlib's cosines are compressed near 1, SFace's are spread out
    assert (np.mean(same) - np.mean(diff)) / np.std(diff) > 2
    assert min(same) > np.median(diff)


def test_lfw_pairs_are_ranked(pipe, lfw):
    """Ten matched and ten mismatched pairs of LFW fold 1: same-person scores rank higher."""
    from vultus.eval.metrics import auc, roc
    from vultus.eval.pairs import read_pairs

    pairs = read_pairs(lfw / "pairs.txt", lfw / "lfw")
    chosen = pairs[:10] + pairs[300:310]
    m = pipe.recognizer.models[0]
    s = np.array([float(pipe.embed_one(p.a).embeddings[m] @ pipe.embed_one(p.b).embeddings[m]) for p in chosen])
    y = np.array([p.same for p in chosen])
    far, tar, _ = roc(s, y)
    assert auc(far, tar) > 0.95


def test_similarity_transform_recovers_a_known_warp():
    a = np.deg2rad(20)
    m = np.array([[1.3 * np.cos(a), -1.3 * np.sin(a), 5], [1.3 * np.sin(a), 1.3 * np.cos(a), -7]])
    src = ARCFACE_112.astype(np.float64)
    dst = src @ m[:, :2].T + m[:, 2]
    assert np.allclose(similarity_transform(src, dst), m, atol=1e-6)
