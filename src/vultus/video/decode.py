"""Decoding with PyAV: files, network streams (RTSP, HTTP) and webcams, frame by frame.

Times are presentation timestamps (pts x time_base), so variable frame rate is handled; the
frame index counts decoded frames from the start of the stream (before the stride), so it matches
what a player's frame counter shows. Rotation metadata (the display matrix of phone videos) is
applied to the pixels. Decoding errors in the middle of a file stop the decode and are kept in
`VideoReader.error`, so a corrupt or truncated file yields what could be read, then says why.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from ..errors import VultusError


class VideoError(VultusError):
    """A video that cannot be opened or decoded: names the source and the reason."""

    kind = "bad_video"


_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
_WEBCAM = re.compile(r"^(?:webcam|camera):?(\d*)$|^/dev/video\d+$", re.I)


def is_live(source: str | os.PathLike) -> bool:
    """A webcam or a streaming URL: it cannot be read twice or sought."""
    text = str(source)
    return bool(_WEBCAM.match(text)) or text.lower().startswith(("rtsp:", "rtmp:", "udp:", "srt:"))


@dataclass(frozen=True)
class VideoInfo:
    source: str
    width: int  # after rotation
    height: int
    fps: float  # nominal (average) rate; times come from timestamps
    frames: int | None  # declared frame count, None when unknown (streams, some containers)
    duration: float | None  # seconds, None for live sources
    rotation: int  # degrees counter-clockwise applied to the decoded pixels (known after the first frame)
    codec: str
    has_audio: bool
    live: bool


class DecodedFrame:
    """One decoded frame. The RGB conversion is lazy: frames that are only tracked, never
    detected on or embedded, cost no colour conversion at full size."""

    __slots__ = ("index", "time", "_frame", "_rot", "_rgb")

    def __init__(self, index: int, time: float, frame: av.VideoFrame, rotation: int):
        self.index, self.time, self._frame, self._rot, self._rgb = index, time, frame, rotation, None

    @property
    def rgb(self) -> np.ndarray:
        """Full-size RGB uint8 (H, W, 3), upright."""
        if self._rgb is None:
            a = self._frame.to_ndarray(format="rgb24")
            self._rgb = np.ascontiguousarray(np.rot90(a, self._rot // 90)) if self._rot else a
        return self._rgb

    def small_grey(self, size: tuple[int, int] = (32, 18)) -> np.ndarray:
        """A tiny grey thumbnail for cut detection, from the luma plane (no colour conversion);
        every 4th pixel is plenty for a 32x18 average and keeps 1080p cheap."""
        f = self._frame
        if f.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "nv12"):
            plane = f.planes[0]
            y = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:f.height, :f.width]
        else:
            y = f.to_ndarray(format="gray")
        return cv2.resize(y[::4, ::4], size, interpolation=cv2.INTER_AREA).astype(np.float32)


def _describe_open_error(label: str, e: Exception) -> str:
    if isinstance(e, av.error.FileNotFoundError):
        return f"{label}: no such file or stream"
    if isinstance(e, (av.error.InvalidDataError, av.error.DemuxerNotFoundError)):
        return f"{label}: not a video, or a format vultus cannot read ({e.strerror or e})"
    if isinstance(e, av.error.PermissionError):
        return f"{label}: permission denied"
    return f"{label}: cannot open ({getattr(e, 'strerror', None) or e})"


def _mp4_without_index(path: Path) -> bool:
    """An ISO-BMFF file (MP4, MOV) whose top-level boxes end before a `moov` box: cut off while
    being written or copied. Reads only the box headers."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[4:8] not in (b"ftyp", b"mdat", b"wide", b"free", b"moov"):
                return False
            pos = 0
            while pos + 8 <= size:
                f.seek(pos)
                hdr = f.read(16)
                n, kind = int.from_bytes(hdr[:4], "big"), hdr[4:8]
                if kind == b"moov":
                    return False
                if n == 1 and len(hdr) == 16:  # 64-bit size
                    n = int.from_bytes(hdr[8:16], "big")
                elif n == 0:  # runs to the end of the file
                    break
                if n < 8:
                    return False  # not a box structure after all
                pos += n
            return True
    except OSError:
        return False


class VideoReader:
    """Open a file, URL or webcam; iterate `DecodedFrame`s within [start, end] every `stride` frames.

    `source` may be a path, an URL (rtsp://, http://, ...), "webcam" / "webcam:N" or /dev/videoN.
    Raises `VideoError` when the source cannot be opened or has no video stream.
    """

    def __init__(self, source: str | os.PathLike, stride: int = 1, start: float | None = None,
                 end: float | None = None, threads: bool = True):
        if stride < 1:
            raise VideoError(f"stride must be at least 1, not {stride}")
        if start is not None and end is not None and end <= start:
            raise VideoError(f"end ({end:g} s) must be after start ({start:g} s)")
        if (start is not None and start < 0) or (end is not None and end < 0):
            raise VideoError("start and end are seconds from the beginning and cannot be negative")
        self.label = str(source)
        self.stride, self.start, self.end = stride, start, end
        self.error: str | None = None  # set when decoding stopped early
        self.frames_read = 0
        self.last_time: float | None = None
        self.container = self._open(source)
        streams = self.container.streams.video
        if not streams:
            self.container.close()
            raise VideoError(f"{self.label}: has no video stream")
        self.stream = streams[0]
        if threads:  # frame + slice threads: the decoder keeps up with both cores busy elsewhere
            self.stream.thread_type = "AUTO"
        self.info = self._info()

    def _open(self, source: str | os.PathLike) -> av.container.InputContainer:
        text = str(source)
        m = _WEBCAM.match(text)
        dev = ""
        try:
            if m:  # V4L2 on Linux; the device number defaults to 0
                dev = text if text.startswith("/dev/") else f"/dev/video{m.group(1) or 0}"
                return av.open(dev, format="v4l2")
            if _URL.match(text):
                opts = {"rtsp_transport": "tcp"} if text.lower().startswith("rtsp") else {}
                return av.open(text, options=opts, timeout=(10.0, 10.0))
            path = Path(text)
            if not path.exists():
                raise VideoError(f"{self.label}: no such file")
            if path.is_dir():
                raise VideoError(f"{self.label}: is a folder, not a video")
            if path.stat().st_size == 0:
                raise VideoError(f"{self.label}: empty file")
            return av.open(text)
        except VideoError:
            raise
        except av.FFmpegError as e:
            if m:
                raise VideoError(f"{self.label}: cannot open the camera {dev} "
                                 f"({getattr(e, 'strerror', None) or e})") from None
            if not _URL.match(text) and _mp4_without_index(Path(text)):
                raise VideoError(f"{self.label}: an MP4/MOV file without its index (moov box): the file is "
                                 "truncated or was not finished by the recorder; nothing can be decoded") from None
            raise VideoError(_describe_open_error(self.label, e)) from None
        except (OSError, ValueError) as e:
            raise VideoError(f"{self.label}: cannot open ({e})") from None

    def _info(self) -> VideoInfo:
        s, c = self.stream, self.container
        cc = s.codec_context
        rate = s.average_rate or s.guessed_rate or s.base_rate
        rot = 0  # PyAV reports the display matrix per frame; refined on the first frame
        w, h = cc.width, cc.height
        duration = None
        if s.duration is not None and s.time_base:
            duration = float(s.duration * s.time_base)
        elif c.duration:
            duration = c.duration / av.time_base
        live = is_live(self.label)
        if not w or not h:
            raise VideoError(f"{self.label}: video stream has no frame size (unsupported or corrupt)")
        return VideoInfo(source=self.label, width=w, height=h, fps=float(rate) if rate else 0.0,
                         frames=s.frames or None, duration=duration, rotation=rot, codec=cc.name,
                         has_audio=bool(c.streams.audio), live=live)

    def __iter__(self) -> Iterator[DecodedFrame]:
        s = self.stream
        tb = s.time_base or Fraction(1, 1000)
        t0 = float(s.start_time * tb) if s.start_time is not None else 0.0
        if self.start:  # seek near start (to the keyframe before it), then decode forward
            try:
                self.container.seek(int((t0 + self.start) / tb), stream=s, backward=True)
            except av.FFmpegError:
                pass  # unseekable (live or broken index): decode from the beginning instead
        index = -1
        step_dt = 1.0 / self.info.fps if self.info.fps else 0.04
        for frame in self._frames():
            if frame.pts is not None:
                t = float(frame.pts * tb) - t0  # seconds from the stream start (pts-based: VFR-safe)
            else:  # no timestamp (some raw streams): count at the nominal rate
                t = (self.last_time + step_dt) if self.last_time is not None else 0.0
            # after a seek, the index is re-derived from the time (exact for constant frame rate)
            index = index + 1 if index >= 0 or not self.start else int(round(t * self.info.fps))
            self.last_time = t
            if self.start is not None and t < self.start - 1e-6:
                continue
            if self.end is not None and t > self.end + 1e-6:
                break
            if index % self.stride:
                continue
            self.frames_read += 1
            rot = round((frame.rotation or 0) / 90) * 90 % 360  # only right angles are upright
            if rot != self.info.rotation:
                self._set_rotation(rot)
            yield DecodedFrame(index, t, frame, rot)
        # a clean end of a file long before its declared duration: truncated
        d = self.info.duration
        if (self.error is None and not self.info.live and d and self.end is None and self.last_time is not None
                and self.last_time < d - max(1.0, 5 * step_dt)):
            self.error = (f"{self.label}: the video ends at t={self.last_time:.2f} s but declares "
                          f"{d:.2f} s; the file is probably truncated")
        if self.last_time is None and self.error is None:
            self.error = f"{self.label}: no frame could be decoded"

    def _frames(self) -> Iterator[av.VideoFrame]:
        """Decoded frames; a corrupt packet is skipped (and counted), a broken container stops."""
        bad, first_bad, streak = 0, None, 0
        tb = self.stream.time_base or Fraction(1, 1000)
        try:
            for packet in self.container.demux(self.stream):
                try:
                    frames = packet.decode()
                    streak = 0
                except (av.error.InvalidDataError, av.error.UndefinedError) as e:
                    bad, streak = bad + 1, streak + 1
                    first_bad = first_bad or (f"t={float(packet.pts * tb):.2f} s" if packet.pts is not None
                                              else "an unknown time", getattr(e, "strerror", None) or str(e))
                    if streak >= 100:  # nothing decodes any more: give up here
                        break
                    continue
                yield from frames
        except av.FFmpegError as e:
            at = f"t={self.last_time:.2f} s" if self.last_time is not None else "the start"
            self.error = f"{self.label}: decoding stopped at {at} ({getattr(e, 'strerror', None) or e})"
        if bad and self.error is None:
            self.error = (f"{self.label}: {bad} corrupt packet(s) skipped, the first at {first_bad[0]} "
                          f"({first_bad[1]}); the frames around them are missing or damaged")

    def _set_rotation(self, rot: int) -> None:
        import dataclasses

        cc = self.stream.codec_context
        w, h = (cc.height, cc.width) if rot in (90, 270) else (cc.width, cc.height)
        self.info = dataclasses.replace(self.info, rotation=rot, width=w, height=h)

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
