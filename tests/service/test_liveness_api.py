"""Liveness over the REST API: /v1/liveness, and the requirement on verify, identify and enroll
(asked per request, or forced by the server), refusing with a 422 report and storing nothing."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

from ..conftest import DATA, ROOT
from .conftest import EX

sys.path.insert(0, str(ROOT))
from training.vcd import profiles  # noqa: E402

NUAA = DATA / "nuaa"
ATTACK = NUAA / "ImposterRaw" / "0002" / "0002_01_00_01_125.jpg"  # a test subject: never trained on


@pytest.fixture(scope="module")
def sessions() -> tuple[dict, dict]:
    """A generated authentic session, and the same turned into a virtual camera."""
    real = profiles.generate(1, seed=11)[0]
    fake = copy.deepcopy(real)
    fake["track"]["label"] = "OBS Virtual Camera"
    fake["image"]["noise_sigma"]["p50"] = 0.02
    fake["image"]["duplicate_share"] = 0.4
    return real, fake


def attack_image() -> Path:
    if not ATTACK.is_file():
        pytest.skip(f"NUAA not found at {NUAA} (set VULTUS_DATA)")
    return ATTACK


def files(**named: Path):
    return [(k, (p.name, p.read_bytes(), "image/jpeg")) for k, p in named.items()]


def test_liveness_route_reports_faces_and_session(api, sessions):
    real, fake = sessions
    r = api.post("/v1/liveness", "read", files=files(image=EX / "obama.jpg"), data={"session": json.dumps(real)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["faces"]) == 1 and set(body["faces"][0]) >= {"live", "score", "threshold", "box"}
    assert body["source"]["genuine"] is True
    r = api.post("/v1/liveness", "read", json={"session": fake})  # a session alone, as JSON
    assert r.status_code == 200 and r.json()["source"]["genuine"] is False
    assert r.json()["source"]["explanations"][0]["feature"]
    assert api.post("/v1/liveness", "read", json={}).status_code == 422
    bad = api.post("/v1/liveness", "read", json={"session": {"version": 7}})
    assert bad.status_code == 422 and "session" in bad.json()["detail"]  # the schema names the field


def test_printed_photo_is_refused_by_verify_and_enroll(api):
    attack = attack_image()
    r = api.post("/v1/verify?liveness=true", "read", files=files(a=EX / "obama.jpg", b=attack))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["kind"] == "liveness_failed" and "not live" in body["detail"]
    assert [f["live"] for f in body["liveness"]["faces"]][1] is False
    r = api.enroll("printed", attack, params={"liveness": "true"})
    assert r.status_code == 422 and r.json()["kind"] == "liveness_failed"
    assert api.get("/v1/identities").json() == []  # nothing stored
    # without the requirement the same request goes through: liveness is off by default
    assert api.post("/v1/verify", "read", files=files(a=EX / "obama.jpg", b=attack)).status_code == 200


def test_virtual_camera_session_is_refused(api, sessions):
    _, fake = sessions
    r = api.post("/v1/identities?liveness=true", "enroll", files=files(images=EX / "obama.jpg"),
                 data={"name": "obama", "session": json.dumps(fake)})
    assert r.status_code == 422 and r.json()["liveness"]["source"]["genuine"] is False
    assert "virtual camera" in r.json()["detail"]
    assert api.get("/v1/identities").json() == []


def test_server_can_require_liveness_for_every_request(make_app, sessions, needs_calibration):
    from fastapi.testclient import TestClient

    real, _ = sessions
    app, keys = make_app(require_liveness=True, require_session=True)
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {keys['enroll']}"}
        two = files(a=EX / "obama.jpg", b=EX / "obama2.jpg")
        r = client.post("/v1/verify", headers=auth, files=two)  # no ?liveness: the server requires it
        assert r.status_code == 422 and "requires one" in r.json()["detail"]  # ...with a session
        r = client.post("/v1/verify", headers=auth, files=two, data={"session": json.dumps(real)})
        if r.status_code == 422:  # the press photos themselves may be refused by the PAD model
            assert r.json()["kind"] == "liveness_failed" and r.json()["liveness"]["source"]["genuine"] is True
        else:
            assert r.status_code == 200 and r.json()["liveness"]["passed"] is True


def test_received_sessions_are_recorded_for_retraining(make_app, sessions, tmp_path):
    from fastapi.testclient import TestClient

    real, fake = sessions
    folder = tmp_path / "recorded"
    app, keys = make_app(record_sessions=str(folder))
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {keys['enroll']}"}
        assert client.post("/v1/liveness", headers=auth, json={"session": real}).status_code == 200
        refused = client.post("/v1/identities?liveness=true", headers=auth, files=files(images=EX / "obama.jpg"),
                              data={"name": "x", "session": json.dumps(fake)})
        assert refused.status_code == 422
    lines = [json.loads(x) for f in folder.glob("sessions-*.jsonl") for x in f.read_text().splitlines()]
    assert [(x["route"], x["label"], x["verdict"]["genuine"]) for x in lines] == [("liveness", None, True),
                                                                                  ("enroll", None, False)]
