"""Outputs beyond the JSON timeline: an annotated MP4 that keeps the original audio, thumbnails,
and the best face crops of unknown people as folders ready for `vultus enroll --from-dir`."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from .. import draw
from .decode import VideoError, VideoReader, is_live
from .results import VideoResult


def _labels(result: VideoResult) -> dict[int, list[tuple[np.ndarray, str, tuple[int, int, int]]]]:
    """frame index -> [(box, label, colour)] from the tracks' boxes and final decisions."""
    per_frame: dict[int, list] = {}
    for tr in result.tracks:
        text = tr.label if tr.score is None else f"{tr.label} {tr.score:.2f}"
        color = draw.KNOWN if tr.identity is not None else draw.UNKNOWN
        for b in tr.boxes:
            per_frame.setdefault(b.frame, []).append((np.asarray(b.box, np.float32), f"#{tr.track_id} {text}", color))
    return per_frame


def write_annotated(result: VideoResult, path: str | Path, crf: int = 23, preset: str = "veryfast") -> Path:
    """Re-read the source and write an H.264 MP4 with each track's box and final label drawn on it,
    over the analysed time span; the source's audio packets are copied unchanged (no re-encoding).
    Frames skipped by a stride show the boxes of the last analysed frame. Needs the tracks' boxes
    (`keep_boxes=True`, the default)."""
    if is_live(result.source):
        raise VideoError(f"{result.source}: a live source cannot be read a second time to draw on it")
    if result.tracks and not any(t.boxes for t in result.tracks):
        raise VideoError("the annotated video needs per-frame boxes: analyse with keep_boxes=True")
    per_frame = _labels(result)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = dict(result.settings)
    start, end, stride = settings.get("start"), settings.get("end"), settings.get("stride") or 1
    reader = VideoReader(result.source, stride=1, start=start, end=end)
    try:
        out = av.open(str(path), "w", format="mp4")
    except (av.FFmpegError, OSError) as e:
        reader.close()
        raise VideoError(f"{path}: cannot write ({getattr(e, 'strerror', None) or e})") from None
    try:
        _encode(reader, out, per_frame, (result.width, result.height), stride, crf, preset, start or 0.0, end)
    finally:
        out.close()
        reader.close()
    return path


def _encode(reader: VideoReader, out, per_frame, size: tuple[int, int], stride: int, crf: int, preset: str, t_start: float,
            t_end: float | None) -> None:
    container, vin, info = reader.container, reader.stream, reader.info
    vtb = vin.time_base or Fraction(1, 1000)
    t0 = float(vin.start_time * vtb) if vin.start_time is not None else 0.0
    # both streams keep their places on the container's clock (a video track may start after the
    # audio, as in edited clips), shifted together so that the span starts at 0
    shift = t0 + t_start if t_start else 0.0
    rate = Fraction(vin.average_rate or vin.guessed_rate or 25).limit_denominator(100000)
    vout = out.add_stream("libx264", rate=rate)
    vout.pix_fmt = "yuv420p"
    vout.width, vout.height = size  # before any packet is muxed: the header opens the encoder
    vout.options = {"crf": str(crf), "preset": preset}
    vout.time_base = vout.codec_context.time_base = vtb  # the source timestamps, exactly (VFR)
    ain = container.streams.audio[0] if container.streams.audio else None
    aout = out.add_stream_from_template(ain) if ain is not None else None
    atb = ain.time_base if ain is not None else None
    if t_start:
        container.seek(int((t0 + t_start) / vtb), stream=vin, backward=True)
    held, index = [], None
    try:
        for packet in container.demux([s for s in (vin, ain) if s is not None]):
            if packet.stream is ain:
                # audio packets are copied as they are; packets without dts cannot be muxed
                if packet.dts is None or packet.pts is None:
                    continue
                t = float(packet.pts * atb)
                if t < shift or (t_end is not None and t > t0 + t_end):
                    continue
                off = int(round(shift / atb))
                packet.pts, packet.dts = packet.pts - off, packet.dts - off
                packet.stream = aout
                out.mux(packet)
                continue
            for frame in packet.decode():
                t = float(frame.pts * vtb) - t0 if frame.pts is not None else None
                # the same frame numbering as the analysis (VideoReader): counted, or from time after a seek
                index = (index + 1) if index is not None else (int(round(t * info.fps)) if t_start and t else 0)
                if t is None or t < t_start - 1e-6:
                    continue
                if t_end is not None and t > t_end + 1e-6:
                    raise StopIteration
                rgb = frame.to_ndarray(format="rgb24")
                rot = round((frame.rotation or 0) / 90) * 90 % 360
                if rot:
                    rgb = np.ascontiguousarray(np.rot90(rgb, rot // 90))
                if rgb.shape[:2] != (vout.height, vout.width):  # a size change mid-stream
                    rgb = cv2.resize(rgb, (vout.width, vout.height), interpolation=cv2.INTER_AREA)
                if index % stride == 0:  # an analysed frame; the frames between keep its boxes
                    held = per_frame.get(index, [])
                vf = av.VideoFrame.from_ndarray(_draw(rgb, held) if held else rgb, format="rgb24")
                vf.pts = int(round((t + t0 - shift) / vtb))
                vf.time_base = vtb
                for p in vout.encode(vf):
                    out.mux(p)
    except StopIteration:
        pass
    except av.FFmpegError:
        pass  # a corrupt tail: keep what was written (the analysis already reported it)
    for p in vout.encode(None):
        out.mux(p)


def _draw(rgb: np.ndarray, items: list) -> np.ndarray:
    from ..types import Face

    faces = [Face(box=b, score=1.0, landmarks=np.empty((0, 2), np.float32)) for b, _, _ in items]
    return draw.annotate(rgb, faces, [t for _, t, _ in items], [c for _, _, c in items])


def _safe(name: str) -> str:
    return re.sub(r"[^\w .+-]", "_", name).strip() or "unnamed"


def write_thumbnails(result: VideoResult, folder: str | Path) -> dict[int, Path]:
    """One JPEG per track (its best face): track id -> path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for tr in result.tracks:
        if tr.thumbnail:
            p = folder / f"track_{tr.track_id:04d}.jpg"
            p.write_bytes(tr.thumbnail)
            out[tr.track_id] = p
    return out


def export_people(result: VideoResult, folder: str | Path, unknown_only: bool = True) -> list[Path]:
    """The best face crops of each track (the faces its template was made of), one sub-folder per
    person label ("unknown person 1", ...): the layout `vultus enroll --from-dir` reads. Rename a
    folder to the person's name first. `unknown_only`: skip tracks the gallery identified."""
    folder = Path(folder)
    written = []
    for tr in result.tracks:
        if tr.cluster is None or (unknown_only and tr.identity is not None):
            continue
        sub = folder / _safe(tr.label)
        sub.mkdir(parents=True, exist_ok=True)
        for k, crop in enumerate(tr.crops, 1):
            written.append(draw.save(crop, sub / f"track_{tr.track_id:04d}_{k}.jpg"))
    return written
