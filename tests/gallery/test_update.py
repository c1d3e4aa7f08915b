"""The opt-in template update policy on real FG-NET faces: what it adds, what it refuses, and the
slow-takeover attack it must stop."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from tests.conftest import dataset
from vultus.gallery import Gallery
from vultus.gallery.update import UPDATE_SOURCE, TemplateUpdater, UpdatePolicy
from vultus.io import load_image
from vultus.models.base import l2_normalize

FAST = UpdatePolicy(min_interval=0.0)  # the tests update one identity several times in a row


@pytest.fixture
def fgnet_gallery(tmp_path, pipeline):
    images = dataset("fgnet") / "images"
    g = Gallery(tmp_path / "g.db", pipeline=pipeline)
    g.enroll("p012", [images / "012A21.JPG"])
    g.enroll("p011", [images / "011A20.JPG"])
    yield g, images
    g.close()


def embed(pipeline, path_or_image):
    return pipeline.embed_one(path_or_image if isinstance(path_or_image, np.ndarray) else load_image(path_or_image))


def test_good_probe_is_added_bounded_and_audited(fgnet_gallery, pipeline):
    g, images = fgnet_gallery
    up = TemplateUpdater(g, dataclasses.replace(FAST, max_updates=2))
    added = []
    for name in ("012A25.JPG", "012A32.JPG", "012A34.JPG"):
        d = up.consider(embed(pipeline, images / name), source=name)
        assert d.added and d.identity == "p012", d
        added.append(d.face_id)
    updates = [f["face_id"] for f in g.store.faces_of("p012") if f["source"] == UPDATE_SOURCE]
    assert updates == added[1:]  # bounded at 2: the oldest update went, the enrolled template stays
    assert len(g.store.faces_of("p012")) == 3
    log = [e for e in g.store.audit_log() if e["action"] == "template_update"]
    assert len(log) == 3 and log[0]["detail"]["evicted"] == [added[0]]


def test_rate_limit(fgnet_gallery, pipeline):
    g, images = fgnet_gallery
    up = TemplateUpdater(g, UpdatePolicy(min_interval=3600), clock=lambda: 1000.0)
    assert up.consider(embed(pipeline, images / "012A25.JPG")).added
    d = up.consider(embed(pipeline, images / "012A32.JPG"))
    assert not d.added and "ago" in d.reason


def test_low_quality_probe_refused(fgnet_gallery, pipeline):
    g, images = fgnet_gallery
    img = load_image(images / "012A25.JPG")
    blurred = cv2.GaussianBlur(img, (0, 0), 2.5)
    face = embed(pipeline, blurred)
    d = TemplateUpdater(g, FAST).consider(face)
    assert not d.added and d.reason.startswith("quality") and "blurry" in d.reason, d
    assert len(g.store.faces_of("p012")) == 1


def test_impostor_probe_refused(fgnet_gallery, pipeline):
    g, images = fgnet_gallery
    for other in ("007A26.JPG", "008A33.JPG", "009A22a.JPG"):
        d = TemplateUpdater(g, FAST).consider(embed(pipeline, images / other))
        assert not d.added, d
    assert [i.faces for i in g.identities()] == [1, 1]


def test_slow_takeover_attack(tmp_path, pipeline):
    """An attacker presents faces that drift from the victim to himself in small steps (here
    interpolated embeddings: the strongest version of a morphing attack). Without the anchor guard
    every step passes and he ends up named as the victim; with it he stays unknown."""
    images = dataset("fgnet") / "images"
    victim, attacker = embed(pipeline, images / "012A21.JPG"), embed(pipeline, images / "008A33.JPG")
    a, b = victim.embeddings["sface"], attacker.embeddings["sface"]

    def run(policy: UpdatePolicy) -> tuple[TemplateUpdater, int]:
        g = Gallery(tmp_path / f"{policy.anchor_far}.db", pipeline=pipeline)
        g.enroll("victim", [images / "012A21.JPG"])
        up = TemplateUpdater(g, policy)
        accepted = 0
        for t in np.linspace(0.05, 1.0, 20):
            step = dataclasses.replace(attacker, embeddings={"sface": l2_normalize((1 - t) * a + t * b)})
            accepted += up.consider(step).added
        return up, accepted

    naive, steps = run(dataclasses.replace(FAST, anchor_far=None, max_updates=50))
    assert steps == 20 and naive.identify(attacker).identity == "victim"  # the attack works unguarded
    guarded, steps = run(dataclasses.replace(FAST, max_updates=50))
    assert 0 < steps < 20  # the chain stops where the enrolled template no longer vouches for it
    assert guarded.identify(attacker).identity is None
    assert guarded.identify(victim).identity == "victim"
