"""Decoding: spans, strides, timestamps, rotation, and every kind of bad input gives a clear error."""

from __future__ import annotations

import os

import numpy as np
import pytest

from vultus.video import VideoError, VideoReader

from .conftest import noise_frames, write_video


def test_rotation_metadata_is_applied(tmp_path):
    img = np.zeros((96, 160, 3), np.uint8)
    img[:10, :40] = 255  # a bar in the top-left corner
    path = write_video(tmp_path / "rot.mp4", [img] * 5, rotation=90)
    with VideoReader(path) as r:
        frame = next(iter(r))
        assert frame.rgb.shape == (160, 96, 3)
        assert (r.info.width, r.info.height, r.info.rotation) == (96, 160, 90)
        ys, xs = np.nonzero(frame.rgb[:, :, 0] > 128)
        # a counter-clockwise quarter turn (as players show it) puts the bar bottom-left, upright
        assert ys.min() >= 110 and xs.max() <= 12


def test_variable_frame_rate_uses_timestamps(tmp_path):
    times = [0.0, 0.04, 0.08, 0.5, 0.54, 1.5, 1.54]
    path = write_video(tmp_path / "vfr.mp4", noise_frames(len(times)), times=times)
    with VideoReader(path) as r:
        got = [(f.index, round(f.time, 3)) for f in r]
    assert got == list(enumerate(times))


def test_stride_and_span(clips):
    with VideoReader(clips / "obama_rally_2020_1280x720.mp4", stride=3, start=2.0, end=3.0) as r:
        frames = [(f.index, f.time) for f in r]
        assert r.error is None
    assert all(i % 3 == 0 for i, _ in frames)
    assert all(2.0 - 1e-6 <= t <= 3.0 + 1e-6 for _, t in frames)
    assert [i for i, _ in frames] == list(range(60, 91, 3))  # 30 fps: frames 60..90
    assert all(abs(t - i / 30) < 1e-3 for i, t in frames)


def test_stream_starting_late_counts_from_its_start(clips):
    # the Friends clip's video track starts 1.7 s into the file; times count from the video's start
    with VideoReader(clips / "friends_poker_1280x720_first18s.mp4", end=0.2) as r:
        first = next(iter(r))
        assert first.index == 0 and first.time == 0.0 and r.info.has_audio


@pytest.mark.parametrize("content,message", [
    (b"just some text, not a video\n" * 50, "not a video"),
    (b"", "empty file"),
])
def test_unsupported_or_empty_file(tmp_path, content, message):
    p = tmp_path / "x.mp4"
    p.write_bytes(content)
    with pytest.raises(VideoError, match=message):
        VideoReader(p)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        VideoReader(tmp_path / "nope.mp4")
    with pytest.raises(VideoError, match="folder"):
        VideoReader(tmp_path)


def test_image_is_not_a_video(tmp_path):
    from PIL import Image

    Image.new("RGB", (32, 32)).save(tmp_path / "a.png")
    # a still image opens as a one-frame "video" in FFmpeg; it must not crash either way
    try:
        with VideoReader(tmp_path / "a.png") as r:
            assert len(list(r)) <= 1
    except VideoError:
        pass


def test_truncated_mp4_without_index(clips, tmp_path):
    data = (clips / "woman_b_outdoor_1280x720.mp4").read_bytes()
    p = tmp_path / "cut.mp4"
    p.write_bytes(data[: len(data) // 2])  # the index (moov) sits at the end of this file
    with pytest.raises(VideoError, match="truncated"):
        VideoReader(p)


def test_truncated_faststart_mp4_decodes_what_is_there(tmp_path):
    path = write_video(tmp_path / "full.mp4", noise_frames(100, 320, 192), faststart=True)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with VideoReader(cut) as r:
        n = sum(1 for _ in r)
        assert 0 < n < 100
        assert r.error and "truncated" in r.error


def test_corrupt_packets_are_skipped_and_reported(clips, tmp_path):
    data = bytearray((clips / "woman_b_outdoor_1280x720.mp4").read_bytes())
    mid = len(data) // 2
    data[mid:mid + 20000] = np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes()
    p = tmp_path / "bad.mp4"
    p.write_bytes(bytes(data))
    with VideoReader(p) as r:
        n = sum(1 for _ in r)
        assert n > 150  # decoding went on after the damage (180 frames in the file)
        assert r.error and "corrupt" in r.error


def test_bad_arguments(clips):
    for kw in ({"stride": 0}, {"start": 3.0, "end": 2.0}, {"start": -1.0}):
        with pytest.raises(VideoError):
            VideoReader(clips / "obama_whcd_844x614.mp4", **kw)
    assert os.path.exists(clips / "obama_whcd_844x614.mp4")
