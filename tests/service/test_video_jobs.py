"""Video jobs: upload, background run with progress, result download, ownership, cancel, queue limit."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from vultus.service.jobs import LOCK_NAME, JobManager, QueueFull

from .conftest import EX
from .test_api import is_problem


def make_video(path, frames: int = 20) -> bytes:
    """A 2 s clip of the example face sliding sideways (MPEG-4 part 2: in every FFmpeg build)."""
    av = pytest.importorskip("av")
    face = np.asarray(Image.open(EX / "obama.jpg").convert("RGB").resize((320, 400)))
    canvas = np.full((400, 640, 3), 90, np.uint8)
    canvas[:, :320] = face
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 640, 400, "yuv420p"
        for i in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.roll(canvas, 4 * i, axis=1), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path.read_bytes()


def wait(client, job_id, headers, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/video/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"video job {job_id} did not finish in {timeout} s")


def test_video_job_end_to_end(api, tmp_path, needs_calibration):
    pytest.importorskip("vultus.video")
    video = make_video(tmp_path / "clip.mp4")
    api.enroll("obama", EX / "obama.jpg", EX / "obama2.jpg")
    h = api.headers("read")
    r = api.client.post("/v1/video/jobs?stride=1", headers=h, files={"video": ("../../etc/clip.mp4", video, "video/mp4")})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running") and job["filename"] == "clip.mp4"
    done = wait(api.client, job["id"], h)
    assert done["status"] == "done", done
    assert done["frames_done"] == 20 and done["progress"] == 1.0
    res = api.client.get(done["result"], headers=h)
    assert res.status_code == 200 and "attachment" in res.headers["content-disposition"]
    result = res.json()
    assert result["source"] == "clip.mp4" and result["frames"] == 20  # no server path leaks out
    assert [t["identity"] for t in result["tracks"]] == ["obama"]
    assert [j["id"] for j in api.client.get("/v1/video/jobs", headers=h).json()] == [job["id"]]
    # another caller's job does not exist for you; an admin sees it
    is_problem(api.client.get(f"/v1/video/jobs/{job['id']}", headers=api.headers("enroll")), 404, "not_found")
    assert api.client.get("/v1/video/jobs", headers=api.headers("enroll")).json() == []
    assert api.client.get(f"/v1/video/jobs/{job['id']}", headers=api.headers("admin")).status_code == 200
    audit = [e for e in api.get("/v1/audit").json() if e["action"] == "identify_video"]
    assert audit and audit[0]["detail"]["identities"] == ["obama"]
    assert api.client.delete(f"/v1/video/jobs/{job['id']}", headers=h).status_code == 204
    is_problem(api.client.get(f"/v1/video/jobs/{job['id']}", headers=h), 404)
    # the upload itself is gone from the server's folder
    assert [p.name for p in api.app.state.vultus.jobs.dir.iterdir()] == [LOCK_NAME]


def test_bad_video_fails_clearly(api, needs_calibration):
    pytest.importorskip("vultus.video")
    h = api.headers("read")
    r = api.client.post("/v1/video/jobs", headers=h, files={"video": ("broken.mp4", b"\x00" * 5000)})
    assert r.status_code == 202
    done = wait(api.client, r.json()["id"], h)
    assert done["status"] == "failed" and done["error"] and "internal" not in done["error"]
    is_problem(api.client.get(f"/v1/video/jobs/{done['id']}/result", headers=h), 409, "not_ready")
    is_problem(api.client.post("/v1/video/jobs", headers=h, json={"video": "AAAA"}), 415)
    is_problem(api.client.post("/v1/video/jobs", headers=h, files={"clip": ("a.mp4", b"x")}), 422)
    is_problem(api.client.post("/v1/video/jobs?stride=0", headers=h, files={"video": ("a.mp4", b"x")}), 422)
    is_problem(api.client.get("/v1/video/jobs/0123456789abcdef/result", headers=h), 404)
    is_problem(api.client.get("/v1/video/jobs/nope/result", headers=h), 422)  # not a job id at all


def test_video_size_limit(make_app):
    app, keys = make_app(max_video_bytes=50_000)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/video/jobs", headers={"X-API-Key": keys["read"]}, files={"video": ("big.mp4", b"\0" * 80_000)})
        is_problem(r, 413, "too_large")


def test_503_without_video_module(api, monkeypatch):
    monkeypatch.setitem(sys.modules, "vultus.video", None)  # import now raises ImportError
    body = is_problem(api.post("/v1/video/jobs", "read", files={"video": ("a.mp4", b"x")}), 503, "unavailable")
    assert "video" in body["detail"]
    assert "not available" in api.get("/v1/ready", None).json()["detail"]["video"]


def test_job_manager_progress_cancel_and_queue_limit(tmp_path):
    gate, seen = threading.Event(), []

    def run(job, progress):
        for i in range(1, 1000):
            progress(i, 1000)
            seen.append(i)
            if gate.wait(0.01):
                return {"tracks": []}
        return {"tracks": []}

    jobs = JobManager(run, max_queued=1)
    try:
        first = jobs.submit("k", "a.mp4", jobs.new_path("a.mp4"), {})
        deadline = time.monotonic() + 10
        while first.status != "running" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first.status == "running"
        second = jobs.submit("k", "b.mp4", jobs.new_path("../b.MP4"), {})
        assert second.path.parent == jobs.dir and second.path.suffix == ".mp4"
        with pytest.raises(QueueFull):
            jobs.submit("k", "c.mp4", jobs.new_path("c.mp4"), {})
        jobs.delete(first.id)  # cancels the running job at its next frame
        while first.status == "running" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first.status == "cancelled" and 0 < first.frames_done < 1000
        assert jobs.get(first.id) is None
        gate.set()
        while second.status != "done" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert second.status == "done" and second.to_dict()["progress"] == 1.0
        assert jobs.new_path("x.exe").suffix == ".bin"
    finally:
        gate.set()
        jobs.close()
    assert not jobs.dir.exists()
