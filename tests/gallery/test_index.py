"""ExactIndex: the reference backend of the Index protocol."""

from __future__ import annotations

import numpy as np

from vultus.gallery.index import ExactIndex, Index


def _unit(n, d, seed=0):
    v = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_search_matches_brute_force():
    v = _unit(500, 16)
    idx = ExactIndex(dim=16)
    assert isinstance(idx, Index)
    idx.add(np.arange(500) + 1000, v)
    q = _unit(3, 16, seed=1)
    s, ids = idx.search(q, 5)
    want = np.argsort(-(q @ v.T), axis=1)[:, :5] + 1000
    assert np.array_equal(ids, want)
    assert np.all(np.diff(s, axis=1) <= 0)


def test_remove_readd_and_get():
    v = _unit(10, 8)
    idx = ExactIndex(dim=8)
    idx.add(np.arange(10), v)
    idx.remove(np.array([3, 4, 99]))
    assert len(idx) == 8
    _, ids = idx.search(v[3:4], 10)
    assert 3 not in ids[0]
    idx.add(np.array([3]), v[3:4])
    assert idx.search(v[3:4], 1)[1][0, 0] == 3
    assert np.allclose(idx.get(np.array([3, 42])), np.stack([v[3], np.zeros(8)]))


def test_empty_index():
    s, ids = ExactIndex(dim=4).search(np.ones((2, 4)), 3)
    assert s.shape == (2, 0) and ids.shape == (2, 0)
