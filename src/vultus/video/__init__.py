"""Faces in video files and live streams: decode (PyAV), track, identify per track, timeline.

    from vultus.video import analyze_video
    result = analyze_video("clip.mp4", gallery)          # the whole timeline
    for frame in iter_video("rtsp://camera/stream", gallery):  # live: one FrameResult per frame
        ...

Needs the `video` extra (PyAV, SciPy).
"""

from .analyze import VideoAnalyzer, VideoStream, analyze_video, cluster_templates, iter_video
from .decode import VideoError, VideoInfo, VideoReader
from .results import FrameResult, TrackBox, TrackResult, VideoResult

__all__ = ["FrameResult", "TrackBox", "TrackResult", "VideoAnalyzer", "VideoError", "VideoInfo", "VideoReader",
           "VideoResult", "VideoStream", "analyze_video", "cluster_templates", "iter_video"]
