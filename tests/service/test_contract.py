"""The API contract (issue 24) against a real `vultus serve` on 127.0.0.1: the served OpenAPI document is
the committed docs/openapi.json, a client generated from it runs the service tour, and Schemathesis
(all checks, all phases, a fixed seed) finds nothing."""

from __future__ import annotations

import base64
import importlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import EX, keyed_server
from .contract.hooks import clip

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.json"
CLIENT_CONFIG = Path(__file__).parent / "contract" / "client.yml"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with keyed_server(tmp_path_factory.mktemp("contract"), "admin", "--rate", "0", ready="/v1/ready") as s:
        yield s


def test_served_document_is_the_committed_one(server):
    s, _ = server
    served = httpx.get(s.url + "/openapi.json").json()
    committed = json.loads(COMMITTED.read_text())
    assert served == committed, ("the API changed: review the difference, then run "
                                 "`vultus serve --write-openapi docs/openapi.json` (a breaking change needs /v2)")


@pytest.fixture(scope="module")
def client_package(server, tmp_path_factory):
    """A typed client generated from the served document (openapi-python-client), importable."""
    s, _ = server
    tmp = tmp_path_factory.mktemp("client")
    (tmp / "openapi.json").write_text(httpx.get(s.url + "/openapi.json").text)
    generator = Path(sys.executable).with_name("openapi-python-client")
    done = subprocess.run([str(generator), "generate", "--path", str(tmp / "openapi.json"), "--meta", "none",
                           "--output-path", str(tmp / "vultus_client"), "--config", str(CLIENT_CONFIG)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout, done.stdout  # every route expressed: a route it skips is a doc bug
    sys.path.insert(0, str(tmp))
    try:
        yield importlib.import_module("vultus_client")
    finally:
        sys.path.remove(str(tmp))


def test_generated_client_runs_the_tour(server, client_package, needs_calibration):
    s, key = server
    api = importlib.import_module("vultus_client.api")
    models = importlib.import_module("vultus_client.models")
    types = importlib.import_module("vultus_client.types")

    def photo(name: str):
        return types.File(payload=(EX / name).open("rb"), file_name=name, mime_type="image/jpeg")

    gallery = importlib.import_module("vultus_client.api.gallery")
    faces = importlib.import_module("vultus_client.api.faces")
    video = importlib.import_module("vultus_client.api.video")
    for module in ("enroll", "list_identities", "get_identity", "rename_identity", "delete_identity",
                   "get_thumbnail"):
        importlib.import_module(f"vultus_client.api.gallery.{module}")
    for module in ("identify", "verify"):
        importlib.import_module(f"vultus_client.api.faces.{module}")
    for module in ("create_video_job", "get_video_job", "get_video_job_result", "delete_video_job"):
        importlib.import_module(f"vultus_client.api.video.{module}")
    assert api and models

    with client_package.AuthenticatedClient(base_url=s.url, token=key, timeout=httpx.Timeout(60)) as client:
        # enroll (multipart files, with metadata as a JSON part)
        enrolled = gallery.enroll.sync(client=client, body=models.EnrollFilesBody(
            name="obama", images=[photo("obama.jpg"), photo("obama2.jpg")],
            metadata=models.EnrollFilesBodyMetadata.from_dict({"team": "44"})))
        assert isinstance(enrolled, models.EnrollOut), enrolled
        assert enrolled.added == 2 and len(enrolled.face_ids) == 2
        # identify (multipart) and verify (JSON with base64)
        who = faces.identify.sync(client=client, body=models.IdentifyFilesBody(image=photo("obama3.jpg")))
        assert isinstance(who, models.IdentifyOut) and who.faces[0].identity == "obama"
        b64 = lambda name: base64.b64encode((EX / name).read_bytes()).decode()  # noqa: E731
        same = faces.verify.sync(client=client, body=models.VerifyJSON(a=b64("obama2.jpg"), b=b64("biden.jpg")))
        assert isinstance(same, models.VerifyOut) and same.same is False
        # list, rename, look, thumbnail, delete
        assert [i.name for i in gallery.list_identities.sync(client=client)] == ["obama"]
        renamed = gallery.rename_identity.sync("obama", client=client, body=models.Rename(name="Barack Obama"))
        assert isinstance(renamed, models.IdentityOut) and renamed.name == "Barack Obama"
        assert renamed.metadata.to_dict() == {"team": "44"}
        detail = gallery.get_identity.sync("Barack Obama", client=client)
        assert isinstance(detail, models.IdentityDetailOut) and len(detail.face_records) == 2
        thumb = gallery.get_thumbnail.sync_detailed(detail.face_records[0].face_id, client=client)
        assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
        missing = gallery.get_identity.sync("nobody", client=client)
        assert isinstance(missing, models.ProblemBody) and missing.kind == "not_found"
        # a video job: upload, poll, result, delete
        job = video.create_video_job.sync(client=client, body=models.CreateVideoJobBody(
            video=types.File(payload=io.BytesIO(clip()), file_name="clip.mp4", mime_type="video/mp4")))
        assert isinstance(job, models.JobOut), job
        deadline = time.monotonic() + 120
        while job.status not in (models.JobOutStatus.DONE, models.JobOutStatus.FAILED) and time.monotonic() < deadline:
            time.sleep(0.5)
            job = video.get_video_job.sync(job.id, client=client)
        assert job.status == models.JobOutStatus.DONE, job
        result = video.get_video_job_result.sync(job.id, client=client)
        assert isinstance(result, models.VideoResultOut) and result.frames > 0 and result.source == "clip.mp4"
        assert result.tracks and result.tracks[0].last_time >= result.tracks[0].first_time
        assert video.delete_video_job.sync_detailed(job.id, client=client).status_code == 204
        removed = gallery.delete_identity.sync("Barack Obama", client=client)
        assert isinstance(removed, models.RemovedOut) and removed.removed_faces == 2
        assert gallery.list_identities.sync(client=client) == []


def test_schemathesis_finds_no_failure(server):
    from .contract.runner import run_schemathesis

    s, key = server
    run = run_schemathesis(s.url, key, examples=5, seed=20261202)
    assert run.returncode == 0 and run.failures == 0, run.report()
    assert run.operations >= 21 and run.cases > 300, run.report()
