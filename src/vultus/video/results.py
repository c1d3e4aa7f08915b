"""What video analysis returns: frozen dataclasses with `to_dict()` for JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..models.base import TrackEvent
from ..types import to_jsonable


def _box(b) -> list[float]:
    return [round(float(v), 1) for v in b]


@dataclass(frozen=True)
class TrackBox:
    """One track on one frame. `detected` is False where the box is the motion model's prediction
    (frames between detections, short misses)."""

    track_id: int
    frame: int
    time: float
    box: tuple[float, float, float, float]
    detected: bool
    identity: str | None = None  # the track's decision so far (live use)
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"track_id": self.track_id, "frame": self.frame, "time": round(self.time, 3), "box": _box(self.box),
             "detected": self.detected}
        if self.identity is not None or self.score is not None:
            d["identity"] = self.identity
            d["score"] = None if self.score is None else round(self.score, 4)
        return d


@dataclass(frozen=True)
class FrameResult:
    """Everything known after one frame: yielded by `iter_video` for live use."""

    frame: int
    time: float
    tracks: tuple[TrackBox, ...]
    detected: bool  # the detector ran on this frame
    cut: bool = False  # a shot cut was seen here
    ended: tuple["TrackResult", ...] = ()  # tracks that ended here (a live timeline; unclustered)

    def to_dict(self) -> dict[str, Any]:
        d = {"frame": self.frame, "time": round(self.time, 3), "detected": self.detected, "cut": self.cut,
             "tracks": [t.to_dict() for t in self.tracks]}
        if self.ended:
            d["ended"] = [t.to_dict() for t in self.ended]
        return d


@dataclass(frozen=True)
class TrackResult:
    """One person's continuous appearance in the video."""

    track_id: int
    identity: str | None  # gallery name, None for unknown (or without a gallery)
    score: float | None  # similarity of the winning decision; None if no face was good enough to embed
    first_frame: int
    last_frame: int
    first_time: float
    last_time: float
    label: str  # identity, "unknown person N" (cluster of unknown tracks), or "unknown"
    cluster: int | None  # unknown person number (the same across tracks of the same unknown face)
    detections: int  # frames where the detector found this face
    embedded: int  # faces embedded for this track (the best few, not every frame)
    votes: tuple[tuple[str | None, float], ...] = ()  # identity -> summed weight of its decisions
    boxes: tuple[TrackBox, ...] = ()
    thumbnail: bytes | None = None  # JPEG of the best face
    crops: tuple = ()  # RGB arrays around the embedded best faces, best first (for enrollment export)
    analysis: Mapping[str, Any] = field(default_factory=dict)  # analyzers' per-track summaries
    events: tuple[TrackEvent, ...] = ()  # analyzers' timed findings (blinks, per-sample results)

    def to_dict(self, with_boxes: bool = False) -> dict[str, Any]:
        d = {"track_id": self.track_id, "identity": self.identity,
             "score": None if self.score is None else round(self.score, 4),
             "first_frame": self.first_frame, "last_frame": self.last_frame,
             "first_time": round(self.first_time, 3), "last_time": round(self.last_time, 3),
             "label": self.label, "cluster": self.cluster, "detections": self.detections,
             "embedded": self.embedded,
             "votes": [{"identity": n, "weight": round(w, 3)} for n, w in self.votes]}
        if self.analysis:
            d["analysis"] = to_jsonable(self.analysis)
        if self.events:
            d["events"] = [e.to_dict() for e in self.events]
        if with_boxes:
            d["boxes"] = [{"frame": b.frame, "time": round(b.time, 3), "box": _box(b.box), "detected": b.detected}
                          for b in self.boxes]
        return d


@dataclass(frozen=True)
class VideoResult:
    source: str
    fps: float
    frames: int  # frames processed (after stride and time span)
    width: int
    height: int
    duration: float | None
    rotation: int
    tracks: tuple[TrackResult, ...]
    first_time: float | None = None  # time span actually covered
    last_time: float | None = None
    error: str | None = None  # why decoding stopped early (corrupt / truncated), else None
    processing_seconds: float = 0.0
    settings: tuple[tuple[str, Any], ...] = ()

    @property
    def complete(self) -> bool:
        return self.error is None

    @property
    def processing_fps(self) -> float:
        return self.frames / self.processing_seconds if self.processing_seconds > 0 else 0.0

    def to_dict(self, with_boxes: bool = False) -> dict[str, Any]:
        return {"source": self.source, "fps": round(self.fps, 3), "frames": self.frames, "width": self.width,
                "height": self.height, "duration": None if self.duration is None else round(self.duration, 3),
                "rotation": self.rotation,
                "first_time": None if self.first_time is None else round(self.first_time, 3),
                "last_time": None if self.last_time is None else round(self.last_time, 3),
                "complete": self.complete, "error": self.error,
                "processing_seconds": round(self.processing_seconds, 3),
                "processing_fps": round(self.processing_fps, 2), "settings": dict(self.settings),
                "tracks": [t.to_dict(with_boxes) for t in self.tracks]}
