"""Video analysis on the real clips with the real models: enroll a person from one clip, find them
in others, unknown people stay unknown, one continuous track per person, the CLI and the outputs.

Short spans and strides keep this file well under a minute on two cores."""

from __future__ import annotations

import json

import av
import pytest

from vultus.gallery import Gallery
from vultus.video import VideoError, VideoStream, analyze_video
from vultus.video.render import export_people, write_annotated, write_thumbnails

from .conftest import needs_thresholds, noise_frames, write_video

pytestmark = needs_thresholds
OBAMA = "Barack Obama"


@pytest.fixture(scope="module")
def gallery(clips, tmp_path_factory):
    """Obama enrolled from the best faces of the 2020 rally clip, nothing else. He is in profile for
    most of it, so the whole clip is needed to find frontal faces that pass the quality policy."""
    r = analyze_video(clips / "obama_rally_2020_1280x720.mp4", stride=2)
    assert len(r.tracks) == 1
    folder = tmp_path_factory.mktemp("export")
    export_people(r, folder)  # the enrollment export: one folder per person
    (person,) = [p for p in folder.iterdir() if p.is_dir()]
    g = Gallery(tmp_path_factory.mktemp("g") / "g.db")
    g.enroll(OBAMA, sorted(person.iterdir()))
    yield g
    g.close()


@pytest.mark.parametrize("clip,span", [
    ("obama_nasa_speech_640x360.mp4", (0.0, 4.0)),  # another event, small face, watermark
    ("obama_whcd_844x614.mp4", (0.0, 4.0)),  # another event, subtitles, 15 fps
])
def test_enrolled_person_found_in_other_clips(clips, gallery, clip, span):
    r = analyze_video(clips / clip, gallery, start=span[0], end=span[1])
    assert r.complete, r.error
    assert [t.identity for t in r.tracks] == [OBAMA], r.to_dict()
    t = r.tracks[0]
    assert t.score >= 0.0 and t.embedded < t.detections  # only the best faces were embedded
    # one continuous track through the span
    assert t.first_time - span[0] < 0.3 and r.last_time - t.last_time < 0.3


@pytest.mark.parametrize("clip", ["woman_a_indoor_1280x720.mp4", "aoc_talking_head_512x512.mp4"])
def test_people_not_enrolled_stay_unknown(clips, gallery, clip):
    r = analyze_video(clips / clip, gallery, end=3.0, stride=2)
    assert len(r.tracks) == 1
    t = r.tracks[0]
    assert t.identity is None and t.label == "unknown person 1" and t.cluster == 1
    assert t.score is not None and t.score < gallery.recognizer.threshold(1e-3)[0]


def test_obama_in_the_hamilton_audience(clips, gallery):
    # t = 7-10 s: the Obamas in the audience; small faces, partly hidden by a hand
    r = analyze_video(clips / "lin_manuel_miranda_whitehouse_2009_640x360.mp4", gallery, start=7.0)
    assert OBAMA in {t.identity for t in r.tracks}
    assert sum(t.identity == OBAMA for t in r.tracks) == 1  # nobody else taken for him


def test_contract_and_live_frames(clips, gallery):
    calls = []
    r = analyze_video(clips / "woman_b_outdoor_1280x720.mp4", gallery, end=2.0,
                      progress=lambda done, total: calls.append((done, total)))
    d = json.loads(json.dumps(r.to_dict()))
    assert {"source", "fps", "frames", "width", "height", "tracks"} <= set(d)
    assert (d["width"], d["height"], d["frames"]) == (1280, 720, 61)
    assert set(d["tracks"][0]) >= {"track_id", "identity", "score", "first_frame", "last_frame", "first_time",
                                   "last_time"}
    assert calls[-1] == (61, 61) and len(calls) == 61
    # the streaming API: one result per frame, with the same track id all along
    stream = VideoStream(clips / "woman_b_outdoor_1280x720.mp4", gallery, end=1.0)
    frames = list(stream)
    ids = {tb.track_id for f in frames for tb in f.tracks}
    assert len(frames) == 31 and ids == {1}
    assert sum(f.detected for f in frames) == 11  # every third frame
    final = stream.result()
    assert final.tracks[0].track_id == 1
    # a track that ends is announced on its frame, for live timelines
    stream = VideoStream(clips / "lin_manuel_miranda_whitehouse_2009_640x360.mp4", gallery, end=3.5)
    ended = [t.track_id for f in stream for t in f.ended]
    assert ended and len(ended) == len(set(ended)) and set(ended) < {t.track_id for t in stream.result().tracks}


def test_video_without_faces_gives_empty_timeline(tmp_path, gallery):
    path = write_video(tmp_path / "empty.mp4", noise_frames(30))
    r = analyze_video(path, gallery)
    assert r.tracks == () and r.complete and r.frames == 30


def test_unknown_clusters_across_shots(clips):
    # Friends: two-shots of pairs of people; no gallery, so every face is "person N"
    r = analyze_video(clips / "friends_poker_1280x720_first18s.mp4", end=12.0, stride=2)
    assert all(t.label == f"person {t.cluster}" for t in r.tracks if t.cluster)
    people: dict[int, list] = {}
    for t in r.tracks:
        if t.cluster:
            people.setdefault(t.cluster, []).append(t)
    # at least Rachel, Joey, Monica and Chandler; nobody twice on screen at once
    assert 4 <= len(people) <= len(r.tracks)
    for ts in people.values():
        ts.sort(key=lambda t: t.first_frame)
        assert all(a.last_frame < b.first_frame for a, b in zip(ts, ts[1:]))


def test_annotated_video_keeps_audio(clips, gallery, tmp_path):
    src = clips / "obama_whcd_844x614.mp4"
    r = analyze_video(src, gallery, end=1.0)
    out = write_annotated(r, tmp_path / "a.mp4")
    with av.open(str(out)) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
        assert c.streams.audio[0].codec_context.name == "aac"
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 16 and frames[0].shape == (614, 844, 3)
    thumbs = write_thumbnails(r, tmp_path / "th")
    assert list(thumbs) == [1] and thumbs[1].read_bytes()[:2] == b"\xff\xd8"


def test_bad_input_is_a_clear_error(tmp_path, gallery):
    p = tmp_path / "notes.mp4"
    p.write_text("not a video")
    with pytest.raises(VideoError, match="not a video"):
        analyze_video(p, gallery)


def test_cli_json_lines(clips, gallery, tmp_path):
    from typer.testing import CliRunner

    from vultus.cli.app import app

    runner = CliRunner()
    timeline = tmp_path / "t.json"
    res = runner.invoke(app, ["video", "identify", str(clips / "obama_whcd_844x614.mp4"), "--gallery",
                              str(gallery.store.path), "--end", "2", "--json", "--timeline", str(timeline)])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert [x["identity"] for x in lines] == [OBAMA]
    assert json.loads(timeline.read_text())["tracks"][0]["identity"] == OBAMA
    res = runner.invoke(app, ["video", "faces", str(tmp_path / "missing.mp4")])
    assert res.exit_code == 1 and "no such file" in res.output
