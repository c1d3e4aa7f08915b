"""Video analysis: decode, detect every few frames, track, embed the best faces of each track,
identify each track's fused template against the gallery, vote over time, cluster the unknowns.

Why it is fast: the detector runs on a downscaled frame (`detect_size`) every `detect_every`-th
frame and the Kalman tracker carries the boxes in between; a track embeds a face only when it is
new, clearly better than what the track holds, or due for an appearance check (about once every
`recheck` seconds), never every frame. Everything goes through `Pipeline` and `Gallery`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..decide import Recognizer
from ..gallery import Gallery, thumbnail
from ..pipeline import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER, Pipeline
from ..types import Face
from .analysis import TrackAnalysis, load_track_analyzers, predicted_face
from .decode import DecodedFrame, VideoReader
from .results import FrameResult, TrackBox, TrackResult, VideoResult
from .track import Embedding, Track, Tracker, TrackerConfig, is_cut

DEFAULT_DETECT_SIZE = 640  # long side the detector sees; 720p faces stay > 10 px at 1/2 scale
DEFAULT_DETECT_EVERY = 3  # detection on every 3rd processed frame; tracking carries the rest
DETECT_SCORE = 0.6


def face_value(face: Face) -> float:
    """How good a face is for recognition, for picking a track's best faces: detector confidence,
    size (saturating at 40 px between the eyes), frontality and sharpness."""
    q = face.quality
    if q is None:
        return face.score
    size = min(q.face_size / 40.0, 1.0)
    sharp = min(q.sharpness / 100.0, 1.0) ** 0.5
    return float(q.score * size * (1.0 - abs(q.yaw)) * sharp)


class _FrameAppearance:
    """Embeddings of one frame's detections, computed on demand and once (they are costly)."""

    def __init__(self, pipeline: Pipeline, image: np.ndarray, faces: list[Face]):
        self.pipeline, self.image, self.faces = pipeline, image, faces
        self.cache: dict[int, Face] = {}

    def prefetch(self, indices: list[int]) -> None:
        todo = [i for i in dict.fromkeys(indices) if i not in self.cache]
        if todo:  # one batched call: the embedder runs a single forward pass
            self.cache.update(zip(todo, self.pipeline.embed(self.image, [self.faces[i] for i in todo])))

    def face(self, i: int) -> Face:
        self.prefetch([i])
        return self.cache[i]

    def embedding(self, i: int) -> Embedding:
        return self.face(i).embeddings

    def similarity(self, a: Embedding, b: Embedding) -> float:
        return self.pipeline.recognizer.score(a, b)


@dataclasses.dataclass(eq=False)
class _TrackState:
    """What the identifier keeps per track (in `Track.data`)."""

    public_id: int | None = None
    detections: int = 0
    best: list = dataclasses.field(default_factory=list)  # (value, embedded Face, crop), best first
    embedded: int = 0
    last_embed: float = -math.inf
    votes: dict = dataclasses.field(default_factory=lambda: defaultdict(float))
    scores: dict = dataclasses.field(default_factory=dict)  # identity -> best score
    boxes: list = dataclasses.field(default_factory=list)
    best_value: float = -1.0
    crop: np.ndarray | None = None  # region around the best face (for thumbnail / export)
    crop_face: Face | None = None  # that face in crop coordinates
    last_face: Face | None = None  # the last detected face (for analyzers on predicted frames)
    analysis: TrackAnalysis | None = None

    @property
    def decision(self) -> tuple[str | None, float | None]:
        """Weighted vote over the decisions so far: (identity or None, its best score)."""
        if not self.votes:
            return None, None
        name = max(self.votes, key=lambda k: (self.votes[k], k is not None))
        return name, self.scores.get(name)


class VideoAnalyzer:
    """Frame-by-frame analysis state. Feed `process(frame)` in order; `finish()` at the end.

    gallery: identify tracks against it (None: track and cluster only).
    target_far: the open-set threshold of the identification (calibrated), also used to link a
        lost track back by appearance and to cluster unknown tracks.
    analyzers: face or track analyzers to run on every track (names, e.g. "agegender"); their
        per-track summaries and timed events go into each `TrackResult`.
    """

    def __init__(self, gallery: Gallery | None = None, *, target_far: float = 1e-3,
                 detect_every: int = DEFAULT_DETECT_EVERY, detect_size: int = DEFAULT_DETECT_SIZE,
                 recognizer: str | None = None, pipeline: Pipeline | None = None, max_templates: int = 5,
                 recheck: float = 2.0, min_embed_gap: float = 0.4, min_eye_distance: float = 8.0,
                 keep_boxes: bool = True, tracker: TrackerConfig | None = None,
                 change_threshold: float | None = None, analyzers: str | list[str] | None = None,
                 analysis_interval: float = 0.5):
        if detect_every < 1:
            raise ValueError("detect_every must be at least 1")
        rec = gallery.recognizer if gallery is not None else Recognizer.parse(recognizer or DEFAULT_RECOGNIZER)
        if pipeline is not None and pipeline.recognizer.models != rec.models:
            raise ValueError(f"pipeline recognizer {pipeline.recognizer.key!r} differs from {rec.key!r}")
        self.gallery, self.target_far, self.recognizer = gallery, target_far, rec
        # Video detector settings, whatever the still-image defaults are: one scale on a downscaled
        # frame (a face missed in one frame is found in the next ones) and a firm score threshold
        # (weak detections in a video make short false tracks).
        self.pipeline = pipeline or Pipeline(DEFAULT_DETECTOR, rec, detector_options={
            "max_side": detect_size, "scales": (1.0,), "score_threshold": DETECT_SCORE})
        self.track_analyzers = load_track_analyzers(analyzers, self.pipeline, analysis_interval)
        self.detect_every, self.max_templates = detect_every, max_templates
        self.recheck, self.min_embed_gap, self.min_eye_distance = recheck, min_embed_gap, min_eye_distance
        self.keep_boxes = keep_boxes
        if tracker is None:  # appearance links use the same calibrated threshold as identification
            tracker = TrackerConfig(same_person=rec.threshold(target_far)[0])
        self.tracker = Tracker(tracker)
        # a track's face that falls below the best-accuracy threshold against its own template is
        # someone else (a hard cut the cut detector missed, or one face replacing another)
        self.change_threshold = rec.threshold(None)[0] if change_threshold is None else change_threshold
        self._since_detect = math.inf
        self._prev_grey: np.ndarray | None = None
        self._next_public = 1
        self._done: list[TrackResult] = []
        self._templates: dict[int, Embedding | None] = {}  # public id -> template, for clustering
        self._finished: list[TrackResult] | None = None

    # -- per frame ---------------------------------------------------------------------------------
    def process(self, frame: DecodedFrame) -> FrameResult:
        done_before = len(self._done)
        grey = frame.small_grey()
        cut = is_cut(self._prev_grey, grey)
        self._prev_grey = grey
        detect = cut or self._since_detect >= self.detect_every - 1
        self._since_detect = 0 if detect else self._since_detect + 1
        faces = self.pipeline.detect(frame.rgb) if detect else None
        app = _FrameAppearance(self.pipeline, frame.rgb, faces) if detect else None
        step = self.tracker.step(frame.index, frame.time, faces, app, cut)
        for tr in step.ended:
            self._end(tr)
        visible = list(step.visible)
        if detect and faces:
            visible = self._identify(frame, faces, app, visible)
        out = []
        for tr, box, face in visible:
            st = self._state(tr)
            if self.track_analyzers:
                self._analyse(st, frame, box, face)
            tb = TrackBox(st.public_id or 0, frame.index, frame.time, tuple(float(v) for v in box), face is not None)
            if self.keep_boxes or st.public_id is None:
                st.boxes.append(tb)
            if st.public_id is None and tr.hits >= self.tracker.config.min_hits:
                self._confirm(tr)
            if st.public_id is not None:
                name, score = st.decision
                out.append(dataclasses.replace(tb, track_id=st.public_id, identity=name, score=score))
        return FrameResult(frame.index, frame.time, tuple(out), detect, cut, tuple(self._done[done_before:]))

    def _analyse(self, st: _TrackState, frame: DecodedFrame, box, face: Face | None) -> None:
        if face is not None:
            st.last_face = face
        elif st.last_face is None:
            return
        if st.analysis is None:
            st.analysis = TrackAnalysis(self.track_analyzers, self.pipeline)
        seen = face if face is not None else predicted_face(st.last_face, box)
        st.analysis.update(frame.time, frame.rgb, seen, face is not None)

    def _state(self, tr: Track) -> _TrackState:
        st = tr.data.get("id")
        if st is None:
            st = tr.data["id"] = _TrackState()
        return st

    def _confirm(self, tr: Track) -> None:
        st = self._state(tr)
        st.public_id = self._next_public
        self._next_public += 1
        st.boxes = [dataclasses.replace(b, track_id=st.public_id) for b in st.boxes]
        if not self.keep_boxes:  # keep only the first box (for first_frame / first_time)
            st.boxes = st.boxes[:1]

    def _identify(self, frame: DecodedFrame, faces: list[Face], app: _FrameAppearance,
                  visible: list) -> list:
        """Update the detected tracks: best crop, embeddings where due, appearance change, votes."""
        due: list[tuple[Track, int, float]] = []
        for tr, _, face in visible:
            if face is None:
                continue
            st = self._state(tr)
            st.detections += 1
            value = face_value(face)
            if value > st.best_value:
                st.best_value = value
                st.crop, st.crop_face = _crop_around(frame.rgb, face)
            if self._embed_due(st, face, value, frame.time):
                due.append((tr, faces.index(face), value))
        if not due:
            return visible
        app.prefetch([i for _, i, _ in due])
        replaced: dict[int, Track] = {}
        for tr, i, value in due:
            face = app.face(i)
            st = self._state(tr)
            if (tr.template is not None and abs(face.quality.yaw) < 0.5
                    and app.similarity(tr.template, face.embeddings) < self.change_threshold):
                # someone else now: end this track here and go on under a new id
                new = self.tracker.split(tr, frame.index, frame.time)
                new.hits = tr.hits
                self._end(tr)
                replaced[id(tr)] = new
                tr, st = new, self._state(new)
                st.detections, st.best_value = 1, value
                st.crop, st.crop_face = _crop_around(frame.rgb, face)
            self._add_face(tr, st, face, value, frame.time, _crop_around(frame.rgb, face)[0])
        return [(replaced.get(id(tr), tr), box, f) for tr, box, f in visible]

    def _embed_due(self, st: _TrackState, face: Face, value: float, t: float) -> bool:
        if face.quality is None or face.quality.face_size < self.min_eye_distance:
            return False  # too small to recognise: tracked by position only
        if st.embedded == 0:
            return True
        gap = t - st.last_embed
        if gap >= self.recheck:
            return True
        worst = st.best[-1][0] if st.best else 0.0
        return gap >= self.min_embed_gap and (len(st.best) < self.max_templates or value > 1.2 * worst)

    def _add_face(self, tr: Track, st: _TrackState, face: Face, value: float, t: float, crop: np.ndarray) -> None:
        st.embedded += 1
        st.last_embed = t
        st.best.append((value, face, crop))
        st.best.sort(key=lambda b: -b[0])
        del st.best[self.max_templates:]
        tr.template = _mean_template([b[1].embeddings for b in st.best])
        if self.gallery is not None:
            probe = dataclasses.replace(face, embeddings=tr.template)
            ident = self.gallery.search(probe, self.target_far)
            # a decision weighs as much as the faces behind its template
            st.votes[ident.identity] += sum(b[0] for b in st.best)
            if np.isfinite(ident.score):
                st.scores[ident.identity] = max(st.scores.get(ident.identity, -math.inf), ident.score)

    # -- end of tracks -----------------------------------------------------------------------------
    def _end(self, tr: Track) -> None:
        st = self._state(tr)
        if st.public_id is None:
            return  # never confirmed: a passing false detection
        name, score = st.decision
        if self.gallery is not None and name is None and not st.scores:
            score = None
        thumb = thumbnail(st.crop, st.crop_face) if st.crop is not None else None
        self._done.append(TrackResult(
            track_id=st.public_id, identity=name, score=score,
            first_frame=st.boxes[0].frame, last_frame=tr.last_frame,
            first_time=st.boxes[0].time, last_time=tr.last_time,
            label=name or "unknown", cluster=None, detections=st.detections, embedded=st.embedded,
            votes=tuple(sorted(st.votes.items(), key=lambda kv: -kv[1])),
            boxes=tuple(b for b in st.boxes if b.frame <= tr.last_frame) if self.keep_boxes else (),
            thumbnail=thumb, crops=tuple(b[2] for b in st.best),
            analysis=st.analysis.finish() if st.analysis else {},
            events=tuple(st.analysis.events) if st.analysis else ()))
        self._templates[st.public_id] = tr.template

    def finish(self) -> list[TrackResult]:
        """End all tracks, cluster the unknown ones; the tracks in order of appearance."""
        if self._finished is None:
            for tr in self.tracker.finish():
                self._end(tr)
            self._finished = self._cluster(sorted(self._done, key=lambda r: (r.first_frame, r.track_id)))
        return self._finished

    def _cluster(self, tracks: list[TrackResult]) -> list[TrackResult]:
        """Group unknown tracks of the same face: "unknown person 1, 2, ..." in order of appearance."""
        unknown = [r for r in tracks if r.identity is None and self._templates.get(r.track_id) is not None]
        labels = cluster_templates([self._templates[r.track_id] for r in unknown], self.recognizer,
                                   self.tracker.config.same_person, [(r.first_frame, r.last_frame) for r in unknown])
        word = "unknown person" if self.gallery is not None else "person"
        number: dict[int, int] = {}
        by_id = {}
        for r, c in zip(unknown, labels):
            n = number.setdefault(c, len(number) + 1)
            by_id[r.track_id] = dataclasses.replace(r, cluster=n, label=f"{word} {n}")
        return [by_id.get(r.track_id, r) for r in tracks]


def _mean_template(embeddings: list[Embedding]) -> dict[str, np.ndarray]:
    """The fused track template: per model, the normalised mean of the best faces' vectors."""
    out = {}
    for m in embeddings[0]:
        v = np.mean([e[m] for e in embeddings], axis=0)
        out[m] = (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)
    return out


def cluster_templates(templates: list[Embedding], recognizer: Recognizer, threshold: float,
                      spans: list[tuple[int, int]] | None = None) -> list[int]:
    """Average-linkage clusters of templates whose fused similarity reaches `threshold`.

    `spans` (first, last frame per template): two tracks on screen at the same time are two
    people, so their distance is made prohibitive and no cluster holds both.
    """
    n = len(templates)
    if n < 2:
        return list(range(n))
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    sims = recognizer.fuse({m: np.stack([t[m] for t in templates]) @ np.stack([t[m] for t in templates]).T
                            for m in recognizer.models})
    dist = np.clip(1.0 - sims, 0.0, None)
    if spans is not None:
        first, last = np.array(spans).T
        together = (first[:, None] <= last[None, :]) & (first[None, :] <= last[:, None])
        dist[together] = 100.0  # far beyond any cosine distance (at most 2)
    np.fill_diagonal(dist, 0.0)
    z = linkage(squareform((dist + dist.T) / 2, checks=False), method="average")
    return [int(c) for c in fcluster(z, t=1.0 - threshold, criterion="distance")]


def _crop_around(image: np.ndarray, face: Face, margin: float = 0.6) -> tuple[np.ndarray, Face]:
    """The face with `margin` of its size on every side (enough for a detector to find it again)."""
    x1, y1, x2, y2 = face.box
    m = margin * max(x2 - x1, y2 - y1)
    h, w = image.shape[:2]
    a, b = int(max(x1 - m, 0)), int(max(y1 - m, 0))
    c, d = int(min(x2 + m, w)), int(min(y2 + m, h))
    off = np.array([a, b], np.float32)
    moved = dataclasses.replace(face, box=face.box - np.tile(off, 2), landmarks=face.landmarks - off,
                                embeddings={})
    return image[b:d, a:c].copy(), moved


# -- the public calls ------------------------------------------------------------------------------
class VideoStream:
    """Analyse a video or live source frame by frame.

    Iterate to get a `FrameResult` per processed frame (tracks with boxes and their identity so
    far); stop whenever you like (a live source never ends), then `result()` for the timeline.
    """

    def __init__(self, source: str | Path, gallery: Gallery | None = None, *, stride: int = 1,
                 start: float | None = None, end: float | None = None, **options: Any):
        self.reader = VideoReader(source, stride=stride, start=start, end=end)
        try:
            self.analyzer = VideoAnalyzer(gallery, **options)
        except BaseException:
            self.reader.close()
            raise
        self.frames = 0
        self._seconds = 0.0
        self._first: float | None = None
        self._last: float | None = None

    @property
    def info(self):
        return self.reader.info

    def expected_frames(self) -> int | None:
        """Frames this run will process, from the declared length (None when unknown or live)."""
        info, r = self.reader.info, self.reader
        if info.live or not info.fps:
            return None
        last = info.frames - 1 if info.frames else (math.ceil(info.duration * info.fps) - 1 if info.duration else None)
        if r.end is not None:  # the span is inclusive: a frame exactly at `end` is processed
            last = math.floor(r.end * info.fps + 1e-6) if last is None else min(last, math.floor(r.end * info.fps + 1e-6))
        if last is None:
            return None
        first = math.ceil((r.start or 0.0) * info.fps - 1e-6)
        first = -(-first // r.stride) * r.stride  # the first multiple of the stride (see VideoReader)
        return max(0, (last - first) // r.stride + 1)

    def __iter__(self) -> Iterator[FrameResult]:
        t0 = time.perf_counter()
        for frame in self.reader:
            res = self.analyzer.process(frame)
            self.frames += 1
            if self._first is None:
                self._first = frame.time
            self._last = frame.time
            self._seconds += time.perf_counter() - t0
            yield res
            t0 = time.perf_counter()  # time spent by the consumer is not ours

    def result(self) -> VideoResult:
        t0 = time.perf_counter()
        tracks = self.analyzer.finish()
        self._seconds += time.perf_counter() - t0
        info = self.reader.info
        self.reader.close()
        a = self.analyzer
        return VideoResult(
            source=info.source, fps=info.fps, frames=self.frames, width=info.width, height=info.height,
            duration=info.duration, rotation=info.rotation, tracks=tuple(tracks), first_time=self._first,
            last_time=self._last, error=self.reader.error, processing_seconds=self._seconds,
            settings=(("stride", self.reader.stride), ("start", self.reader.start), ("end", self.reader.end),
                      ("detect_every", a.detect_every), ("detect_size", a.pipeline.detector.max_side),
                      ("recognizer", a.recognizer.key), ("target_far", a.target_far),
                      ("analyzers", [t.name for t in a.track_analyzers])))

    def close(self) -> None:
        self.reader.close()


def iter_video(source: str | Path, gallery: Gallery | None = None, **options: Any) -> Iterator[FrameResult]:
    """Frame results one by one (live use). For the final timeline use `VideoStream` or `analyze_video`."""
    stream = VideoStream(source, gallery, **options)
    try:
        yield from stream
    finally:
        stream.close()


def analyze_video(source: str | Path, gallery: Gallery | None = None, *, target_far: float = 1e-3,
                  stride: int = 1, start: float | None = None, end: float | None = None,
                  progress: Callable[[int, int | None], None] | None = None, **options: Any) -> VideoResult:
    """Track every face of a video and identify each track against `gallery` (if given).

    Returns the timeline: one `TrackResult` per track. A corrupt or truncated file is analysed as
    far as it decodes and `VideoResult.error` says where and why it stopped; a source that cannot
    be opened raises `VideoError`. `progress(frames_done, frames_total_or_None)` after each frame.
    Extra `options` go to `VideoAnalyzer` (detect_every, detect_size, keep_boxes, ...).
    """
    stream = VideoStream(source, gallery, stride=stride, start=start, end=end, target_far=target_far, **options)
    try:
        total = stream.expected_frames()
        for _ in stream:
            if progress is not None:
                progress(stream.frames, total)
        return stream.result()
    finally:
        stream.close()
