"""Opt-in template updating: follow a face that changes (children growing up) without letting an
impostor take an identity over.

A probe becomes a new template of an identity only when every check passes:
- it was identified as that identity, with a margin over the runner-up;
- its quality passes a stricter policy than enrollment's (`UPDATE_QUALITY`);
- it matches the identity's best template at a high-confidence threshold (`accept_far`, per
  comparison) and the *enrolled* templates (the anchors a person put there) at `anchor_far`;
- the identity was not updated less than `min_interval` seconds ago.

Updates are bounded: at most `max_updates` auto-added templates per identity, the oldest dropped
first; enrolled templates are never dropped. Every update and eviction is written to the audit log.

Why the anchor check is also made when *deciding* (`identify`), not only when updating: an impostor
who presents a chain of faces, each a little more like himself, could pass every update check one
small step at a time; once his own face is near an auto-added template, a search that trusted
that template would name him. So a match that rests on an auto-added template counts only if the
probe also passes the anchor threshold against the enrolled templates: updates can widen an
identity only around what a person enrolled (tests/gallery/test_update.py runs that attack).
Search galleries that take updates through `TemplateUpdater.identify`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..quality import QualityPolicy
from ..types import Face, Identification
from . import Gallery

UPDATE_SOURCE = "vultus:template-update"  # the `source` of every auto-added template
UPDATE_QUALITY = QualityPolicy(min_face_size=32.0, min_sharpness=40.0, max_abs_yaw=0.35, max_abs_roll=20.0,
                               min_score=0.85)


@dataclass(frozen=True)
class UpdatePolicy:
    max_updates: int = 5  # auto-added templates kept per identity
    accept_far: float = 1e-5  # per-comparison FAR of the threshold against the best template
    anchor_far: float | None = 1e-2  # ... and against the enrolled templates (None: no anchor guard)
    min_margin: float = 0.05  # fused-score lead of the identity over the runner-up
    min_interval: float = 24 * 3600.0  # seconds between two updates of one identity
    quality: QualityPolicy = field(default_factory=lambda: UPDATE_QUALITY)


@dataclass(frozen=True)
class UpdateDecision:
    identity: str | None
    added: bool
    reason: str  # why not, or "added"
    face_id: int | None = None
    evicted: tuple[int, ...] = ()
    best_score: float | None = None
    anchor_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"evicted": list(self.evicted)}


class TemplateUpdater:
    """Applies an `UpdatePolicy` to one gallery through its public methods."""

    def __init__(self, gallery: Gallery, policy: UpdatePolicy = UpdatePolicy(), actor: str = "template-update",
                 clock=time.time):
        self.gallery = gallery
        self.policy = policy
        self.actor = actor
        self._clock = clock
        self._last: dict[str, float] = {}

    # -- templates of one identity -----------------------------------------------------------------
    def _templates(self, name: str) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
        faces = self.gallery.store.faces_of(name)
        ids = [f["face_id"] for f in faces]
        vectors = {}
        for m in self.gallery.recognizer.models:
            found = {int(i): v for part_ids, vecs, _ in self.gallery.store.vectors(m, ids)
                     for i, v in zip(part_ids.tolist(), vecs)}  # by face id, not a scan of the gallery
            vectors[m] = np.stack([found[i] for i in ids]) if ids else np.zeros((0, 1), np.float32)
        return faces, vectors

    def _scores(self, face: Face, vectors: dict[str, np.ndarray]) -> np.ndarray:
        return self.gallery.recognizer.fuse({m: v @ face.embeddings[m] for m, v in vectors.items()})

    @staticmethod
    def _is_update(record: dict[str, Any]) -> bool:
        return record["source"] == UPDATE_SOURCE

    def _anchor_score(self, face: Face, name: str) -> tuple[float, float, bool]:
        """(best score over all templates, best over enrolled templates, best template is an update)."""
        faces, vectors = self._templates(name)
        scores = self._scores(face, vectors)
        anchors = [k for k, f in enumerate(faces) if not self._is_update(f)]
        anchor = float(scores[anchors].max()) if anchors else float("-inf")
        best = int(np.argmax(scores))
        return float(scores[best]), anchor, self._is_update(faces[best])

    def _threshold(self, far: float) -> float:
        return self.gallery.recognizer.threshold(far)[0]

    # -- deciding ----------------------------------------------------------------------------------
    def identify(self, face: Face, target_far: float | None = 1e-3, top_k: int = 3) -> Identification:
        """The gallery's decision, with the anchor guard on matches that rest on an auto-added template."""
        result = self.gallery.search(face, target_far, top_k)
        if result.identity is None or self.policy.anchor_far is None:
            return result
        _, anchor, via_update = self._anchor_score(face, result.identity)
        if via_update and anchor < self._threshold(self.policy.anchor_far):
            return dataclasses.replace(result, identity=None)
        return result

    def consider(self, face: Face, result: Identification | None = None, source: str | None = None) -> UpdateDecision:
        """Add `face` (embedded by the gallery's recognizer, with quality) as a template if the policy allows."""
        p = self.policy
        result = result or self.identify(face)
        name = result.identity
        if name is None:
            return UpdateDecision(None, False, "not identified")
        if len(result.candidates) > 1 and result.candidates[0].score - result.candidates[1].score < p.min_margin:
            return UpdateDecision(name, False, f"margin over {result.candidates[1].identity!r} below {p.min_margin}")
        problems = p.quality.problems(face.quality) if face.quality else ["quality not measured"]
        if problems:
            return UpdateDecision(name, False, "quality: " + "; ".join(problems))
        best, anchor, _ = self._anchor_score(face, name)
        if best < self._threshold(p.accept_far):
            return UpdateDecision(name, False, f"score {best:.3f} below the FAR {p.accept_far:g} threshold",
                                  best_score=best, anchor_score=anchor)
        if p.anchor_far is not None and anchor < self._threshold(p.anchor_far):
            return UpdateDecision(name, False, f"enrolled templates score {anchor:.3f}, below the FAR {p.anchor_far:g} "
                                  "threshold: too far from what was enrolled", best_score=best, anchor_score=anchor)
        now = self._clock()
        if now - self._last.get(name, float("-inf")) < p.min_interval:
            return UpdateDecision(name, False, f"updated less than {p.min_interval:g} s ago",
                                  best_score=best, anchor_score=anchor)
        added = self.gallery.add_faces(name, [face], source=UPDATE_SOURCE, actor=self.actor).face_ids[0]
        updates = [f["face_id"] for f in self.gallery.store.faces_of(name) if self._is_update(f)]
        evicted = tuple(sorted(updates)[:max(len(updates) - p.max_updates, 0)])  # oldest first
        for fid in evicted:
            self.gallery.remove_face(fid, actor=self.actor)
        self._last[name] = now
        self.gallery.store.audit(self.actor, "template_update", name, {
            "face_id": added, "evicted": list(evicted), "best_score": round(best, 4),
            "anchor_score": round(anchor, 4), "from": source})
        return UpdateDecision(name, True, "added", added, evicted, best, anchor)
