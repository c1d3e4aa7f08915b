"""What a hostile or careless client did to the service (issue 15): each case answers with a clear 4xx,
never a 500, a traceback or a server path."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from fastapi.testclient import TestClient

from vultus.service.jobs import LOCK_NAME, JobManager

from .conftest import EX
from .test_api import is_problem
from .test_video_jobs import make_video, wait

OBAMA = EX / "obama.jpg"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# -- 500s that must be 4xx -------------------------------------------------------------------------
@pytest.mark.parametrize("face_id", [2**63, 2**70, 0, -1])
def test_face_ids_beyond_64_bits_are_refused(api, face_id):
    is_problem(api.get(f"/v1/faces/{face_id}/thumbnail", "read"), 422, "invalid_request")
    is_problem(api.delete(f"/v1/faces/{face_id}", "enroll"), 422, "invalid_request")
    is_problem(api.get(f"/v1/faces/{2**63 - 1}/thumbnail", "read"), 404, "not_found")  # the largest id is fine


def test_deeply_nested_json_is_refused(api):
    image = base64.b64encode(OBAMA.read_bytes()).decode()
    deep = '{"name": "x", "images": ["%s"], "metadata": {"a": %s}}' % (image, nested(100_000))
    headers = {"Content-Type": "application/json"}
    body = is_problem(api.post("/v1/identities", "enroll", content=deep, headers=headers), 422, "invalid_request")
    assert "nested deeper" in body["detail"]
    # deep enough to pass the parser, too deep to store and send back on every list call
    metadata = json.loads('{"a": %s}' % nested(40))
    is_problem(api.post("/v1/identities", "enroll", json={"name": "x", "images": [image], "metadata": metadata}),
               422, "invalid_request")
    is_problem(api.post("/v1/identities", "enroll", data={"name": "x", "metadata": json.dumps(metadata)},
                        files={"images": ("o.jpg", OBAMA.read_bytes())}), 422, "invalid_request")
    is_problem(api.post("/v1/detect", "read", content='{"image": %s}' % nested(100_000), headers=headers), 422)
    is_problem(api.patch("/v1/identities/x", "enroll", content=nested(100_000), headers=headers), 422)
    assert api.get("/v1/identities", "read").json() == []


def test_too_many_images_in_multipart_is_413(api):
    for count in (21, 30):
        files = [("images", (f"{i}.jpg", b"x")) for i in range(count)]
        body = is_problem(api.post("/v1/identities", "enroll", data={"name": "o"}, files=files), 413, "too_large")
        assert "at most 20" in body["detail"]


def test_rename_checks_the_key_before_reading_the_body(api):
    is_problem(api.client.patch("/v1/identities/x", content=b"{not json", headers={"Content-Type": "application/json"}),
               401, "unauthorized")
    is_problem(api.patch("/v1/identities/x", "enroll", content=b"name=y",
                         headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)


def test_video_job_without_frames_fails_and_names_no_server_path(api, tmp_path, needs_calibration):
    pytest.importorskip("vultus.video")
    h = api.headers("read")
    clip = make_video(tmp_path / "clip.mp4")
    # not a video at all; and a real one asked for a span after its end: no frame to analyze either way
    for name, data, query in (("broken.mp4", b"\x00" * 5000, ""), ("clip.mp4", clip, "?start=1000")):
        r = api.client.post(f"/v1/video/jobs{query}", headers=h, files={"video": (name, data, "video/mp4")})
        assert r.status_code == 202, r.text
        done = wait(api.client, r.json()["id"], h)
        assert done["status"] == "failed" and done["frames_done"] == 0, done
        jobs_dir = str(api.app.state.vultus.jobs.dir)
        assert name in done["error"] and jobs_dir not in done["error"] and "/tmp" not in done["error"], done
        is_problem(api.client.get(f"/v1/video/jobs/{done['id']}/result", headers=h), 409, "not_ready")


# -- credentials -----------------------------------------------------------------------------------
def test_conflicting_credentials_are_refused(api):
    read, admin = api.keys["read"], api.keys["admin"]
    for headers in ({"X-API-Key": read, "Authorization": "Bearer garbage"},
                    {"X-API-Key": read, "Authorization": f"Bearer {admin}"},
                    {"X-API-Key": admin, "Authorization": "Basic dXNlcjpwYXNz"},
                    {"X-API-Key": read, "Authorization": "Bearer"}):
        body = is_problem(api.client.get("/v1/me", headers=headers), 401, "unauthorized")
        assert "Authorization" in body["detail"]
    same = api.client.get("/v1/me", headers={"X-API-Key": read, "Authorization": f"Bearer {read}"})
    assert same.status_code == 200 and same.json()["scope"] == "read"


# -- uploads of a killed server --------------------------------------------------------------------
def test_uploads_of_a_killed_server_are_removed_at_start(tmp_path):
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, signal
        from vultus.service.jobs import JobManager
        jobs = JobManager(lambda job, progress: {{}}, root={str(tmp_path)!r})
        (jobs.dir / "upload.mp4").write_bytes(b"half an upload")
        print(jobs.dir, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)], capture_output=True, text=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = tmp_path / os.path.basename(killed.stdout.strip())
    assert (left / "upload.mp4").exists()  # what a killed server leaves behind
    alive = JobManager(lambda job, progress: {}, root=tmp_path)  # another server, running
    try:
        (alive.dir / "upload.mp4").write_bytes(b"in progress")
        restarted = JobManager(lambda job, progress: {}, root=tmp_path)
        try:
            assert not left.exists()
            assert (alive.dir / "upload.mp4").exists()  # a live server's uploads are left alone
            assert sorted(p.name for p in restarted.dir.iterdir()) == [LOCK_NAME]
        finally:
            restarted.close()
    finally:
        alive.close()
    assert list(tmp_path.iterdir()) == []


def test_app_uses_a_fresh_jobs_folder(make_app):
    app, _ = make_app()
    with TestClient(app):
        assert (app.state.vultus.jobs.dir / LOCK_NAME).exists()
