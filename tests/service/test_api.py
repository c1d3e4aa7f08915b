"""Every /v1 endpoint through FastAPI's TestClient: results, auth and scope failures, limits, errors."""

from __future__ import annotations

import base64
import sqlite3

import pytest
from fastapi.testclient import TestClient

from .conftest import EX, image_bytes

OBAMA, OBAMA2, OBAMA3, BIDEN = (EX / f"{n}.jpg" for n in ("obama", "obama2", "obama3", "biden"))


def b64(path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def is_problem(r, status: int, kind: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"].startswith("urn:vultus:")
    assert "Traceback" not in r.text
    if kind:
        assert body["kind"] == kind, body
    return body


# -- health and docs -------------------------------------------------------------------------------
def test_health_ready_docs(api):
    assert api.get("/v1/health", None).json()["status"] == "ok"
    r = api.get("/v1/ready", None)
    body = r.json()
    assert body["checks"]["gallery"] and body["checks"]["models"]
    assert r.status_code == (200 if body["ready"] else 503)
    docs = api.get("/docs", None)
    assert docs.status_code == 200 and "cdn." not in docs.text and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert api.get("/docs-assets/swagger-ui-bundle.js", None).status_code == 200
    paths = api.get("/openapi.json", None).json()["paths"]
    for p in ("/v1/detect", "/v1/verify", "/v1/identify", "/v1/analyze", "/v1/identities", "/v1/audit",
              "/v1/video/jobs", "/v1/video/jobs/{job_id}/result", "/v1/faces/{face_id}/thumbnail", "/v1/ready"):
        assert p in paths, p
    # both body forms are documented for image endpoints
    assert set(paths["/v1/identify"]["post"]["requestBody"]["content"]) == {"multipart/form-data", "application/json"}


def test_page_and_security_headers(api):
    r = api.get("/", None)
    assert r.status_code == 200 and "<title>vultus</title>" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    for asset in ("/static/app.js", "/static/style.css"):
        assert api.get(asset, None).status_code == 200
    is_problem(api.get("/v1/nothing-here", None), 404, "not_found")


# -- authentication and scopes ---------------------------------------------------------------------
@pytest.mark.parametrize("method,path,scope", [
    ("get", "/v1/identities", "read"), ("post", "/v1/detect", "read"), ("post", "/v1/identify", "read"),
    ("post", "/v1/verify", "read"), ("post", "/v1/analyze", "read"), ("get", "/v1/me", "read"),
    ("post", "/v1/identities", "enroll"), ("delete", "/v1/identities/x", "enroll"),
    ("patch", "/v1/identities/x", "enroll"), ("post", "/v1/identities/x/faces", "enroll"),
    ("delete", "/v1/faces/1", "enroll"), ("get", "/v1/faces/1/thumbnail", "read"),
    ("get", "/v1/audit", "admin"), ("get", "/v1/keys", "admin"), ("delete", "/v1/keys/abc", "admin"),
    ("get", "/v1/video/jobs", "read"), ("post", "/v1/video/jobs", "read"), ("get", "/v1/video/jobs/x", "read"),
])
def test_auth_required_and_scopes(api, method, path, scope):
    r = getattr(api.client, method)(path)
    assert is_problem(r, 401, "unauthorized") and r.headers["www-authenticate"] == "Bearer"
    is_problem(getattr(api.client, method)(path, headers={"X-API-Key": "vultus_deadbeef_nope"}), 401)
    is_problem(getattr(api.client, method)(path, headers={"Authorization": "Bearer garbage"}), 401)
    lower = {"read": None, "enroll": "read", "admin": "enroll"}[scope]
    if lower:
        body = is_problem(getattr(api, method)(path, lower), 403, "forbidden")
        assert scope in body["detail"]


def test_me_and_both_headers(api):
    assert api.get("/v1/me", "read").json()["scope"] == "read"
    r = api.client.get("/v1/me", headers={"X-API-Key": api.keys["enroll"]})
    assert r.json()["scope"] == "enroll"


def test_keys_listed_without_secrets_and_revoked(api):
    keys = api.get("/v1/keys").json()
    assert {k["scope"] for k in keys} == {"read", "enroll", "admin"}
    text = api.get("/v1/keys").text
    assert all(k not in text for k in api.keys.values())
    read_id = next(k["id"] for k in keys if k["scope"] == "read")
    assert api.delete(f"/v1/keys/{read_id}").json()["revoked"] is True
    is_problem(api.get("/v1/me", "read"), 401)
    is_problem(api.delete("/v1/keys/ffffffff"), 404, "not_found")
    # the database holds only salted hashes
    db = sqlite3.connect(api.app.state.vultus.keys.path)
    raw = b"".join(bytes(r[0]) + bytes(r[1]) for r in db.execute("SELECT salt, hash FROM service_keys"))
    assert all(k.split("_", 2)[2].encode() not in raw for k in api.keys.values())


def test_rate_limit_per_key(make_app):
    app, keys = make_app(rate=0.5, burst=2)
    with TestClient(app, raise_server_exceptions=False) as c:
        h = {"X-API-Key": keys["read"]}
        assert [c.get("/v1/me", headers=h).status_code for _ in range(2)] == [200, 200]
        r = c.get("/v1/me", headers=h)
        assert is_problem(r, 429, "rate_limited") and int(r.headers["retry-after"]) >= 1
        assert c.get("/v1/me", headers={"X-API-Key": keys["admin"]}).status_code == 200  # another key's bucket


def test_cors_closed_by_default_and_opened_by_setting(make_app):
    app, keys = make_app()
    with TestClient(app) as c:
        r = c.get("/v1/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers
        pre = c.options("/v1/identify", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in pre.headers
    app, keys = make_app(cors_origins=("http://app.local",))
    with TestClient(app) as c:
        r = c.get("/v1/health", headers={"Origin": "http://app.local"})
        assert r.headers["access-control-allow-origin"] == "http://app.local"
        assert "access-control-allow-origin" not in c.get("/v1/health", headers={"Origin": "http://x.local"}).headers


# -- detect, analyze -------------------------------------------------------------------------------
def test_detect_multipart_base64_and_data_url(api):
    r = api.post("/v1/detect", "read", files={"image": ("obama.jpg", OBAMA.read_bytes(), "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["faces"]) == 1 and body["faces"][0]["quality"]["face_size"] > 20
    assert len(body["faces"][0]["landmarks"]) == 5 and (body["width"], body["height"]) == (512, 640)
    r2 = api.post("/v1/detect", "read", json={"image": b64(OBAMA)})
    assert r2.json()["faces"][0]["box"] == body["faces"][0]["box"]
    r3 = api.post("/v1/detect", "read", json={"image": "data:image/jpeg;base64," + b64(OBAMA)})
    assert r3.json()["faces"][0]["box"] == body["faces"][0]["box"]
    # base64 text in a multipart field works too; a urlencoded form is not one of the two body forms
    r4 = api.post("/v1/detect", "read", files={"image": (None, b64(OBAMA))})
    assert r4.json()["faces"][0]["box"] == body["faces"][0]["box"]
    is_problem(api.post("/v1/detect", "read", data={"image": b64(OBAMA)}), 415, "unsupported_media_type")
    empty = api.post("/v1/detect", "read", files={"image": ("grey.png", image_bytes(), "image/png")})
    assert empty.status_code == 200 and empty.json()["faces"] == []


def test_analyze(api):
    r = api.post("/v1/analyze", "read", files={"image": ("obama.jpg", OBAMA.read_bytes())})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["analyzers"][0] == "quality" and body["faces"][0]["quality"]["sharpness"] > 0
    is_problem(api.post("/v1/analyze?analyzers=nope", "read", files={"image": ("o.jpg", OBAMA.read_bytes())}),
               422, "invalid_request")


def test_analyze_runs_a_shipped_analyzer(api):
    r = api.post("/v1/analyze?analyzers=agegender", "read", files={"image": ("obama.jpg", OBAMA.read_bytes())})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["analyzers"] == ["quality", "agegender"]
    attrs = body["faces"][0]["attributes"]
    assert attrs["gender"]["value"] == "male" and 35 < attrs["age"]["value"] < 70
    r = api.post("/v1/analyze?analyzers=agegender", "read", json={"image": b64(OBAMA)})
    assert r.json()["faces"][0]["attributes"]["gender"]["value"] == "male"


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/v1/detect", "/v1/identify", "/v1/analyze"])
def test_corrupt_images_name_the_upload(api, path):
    body = is_problem(api.post(path, "read", files={"image": ("holiday.jpg", b"this is not a jpeg")}), 422, "bad_image")
    assert "holiday.jpg" in body["detail"] and "not an image" in body["detail"]
    truncated = OBAMA.read_bytes()[:3000]
    body = is_problem(api.post(path, "read", files={"image": ("cut.jpg", truncated)}), 422, "bad_image")
    assert "cut.jpg" in body["detail"]
    body = is_problem(api.post(path, "read", json={"image": "%%%not base64%%%"}), 422, "bad_image")
    assert "base64" in body["detail"]


def test_malformed_requests(api):
    is_problem(api.post("/v1/detect", "read", json={"picture": b64(OBAMA)}), 422, "invalid_request")
    is_problem(api.post("/v1/detect", "read", content=b"{not json", headers={"Content-Type": "application/json"}),
               400, "invalid_request")
    is_problem(api.post("/v1/detect", "read", content=OBAMA.read_bytes(), headers={"Content-Type": "image/jpeg"}),
               415, "unsupported_media_type")
    is_problem(api.post("/v1/verify", "read", files={"a": ("a.jpg", OBAMA.read_bytes())}), 422, "invalid_request")
    is_problem(api.post("/v1/identify?top_k=0", "read", json={"image": b64(OBAMA)}), 422, "invalid_request")
    is_problem(api.post("/v1/identify?far=2", "read", json={"image": b64(OBAMA)}), 422, "invalid_request")
    is_problem(api.post("/v1/identities", "enroll", json={"images": [b64(OBAMA)]}), 422, "invalid_request")


def test_oversize_body_and_pixels(make_app):
    app, keys = make_app(max_upload_bytes=100_000, max_pixels=1_000_000)
    h = {"X-API-Key": keys["admin"]}
    with TestClient(app, raise_server_exceptions=False) as c:
        big = b"\xff" * 150_000
        body = is_problem(c.post("/v1/detect", headers=h, files={"image": ("big.jpg", big)}), 413, "too_large")
        assert "100000 byte limit" in body["detail"]
        # no Content-Length: the body is counted as it streams in
        chunks = (b"x" * 10_000 for _ in range(20))
        is_problem(c.post("/v1/detect", headers={**h, "Content-Type": "application/json"}, content=chunks), 413)
        # small file, too many pixels: refused from the header, before decoding
        wide = image_bytes("PNG", size=(2000, 1000), value=0)
        assert len(wide) < 100_000
        body = is_problem(c.post("/v1/detect", headers=h, files={"image": ("wide.png", wide)}), 413, "too_large")
        assert "2000x1000" in body["detail"] and "wide.png" in body["detail"]
        is_problem(c.post("/v1/identities", headers=h, data={"name": "w"}, files={"images": ("wide.png", wide)}), 413)
        assert c.get("/v1/identities", headers=h).json() == []


def test_too_many_images(make_app):
    app, keys = make_app(max_images=2)
    with TestClient(app, raise_server_exceptions=False) as c:
        files = [("images", (f"{i}.jpg", OBAMA.read_bytes())) for i in range(3)]
        r = c.post("/v1/identities", headers={"X-API-Key": keys["enroll"]}, data={"name": "o"}, files=files)
        assert r.status_code in (400, 413) and r.headers["content-type"].startswith("application/problem+json")
        r = c.post("/v1/identities", headers={"X-API-Key": keys["enroll"]},
                   json={"name": "o", "images": [b64(OBAMA)] * 3})
        is_problem(r, 413, "too_large")


# -- verify and identify ---------------------------------------------------------------------------
def test_verify(api, needs_calibration):
    same = api.post("/v1/verify", "read", files={"a": ("a.jpg", OBAMA.read_bytes()), "b": ("b.jpg", OBAMA2.read_bytes())})
    assert same.status_code == 200, same.text
    assert same.json()["same"] is True and same.json()["score"] >= same.json()["threshold"]
    other = api.post("/v1/verify?far=0.001", "read", json={"a": b64(OBAMA), "b": b64(BIDEN)})
    assert other.json()["same"] is False and other.json()["target_far"] <= 0.001
    body = is_problem(api.post("/v1/verify", "read", files={"a": ("face.jpg", OBAMA.read_bytes()),
                                                            "b": ("grey.png", image_bytes())}), 422, "bad_image")
    assert "grey.png" in body["detail"] and "no face" in body["detail"]


def test_identify_known_unknown_and_audited(api, needs_calibration):
    assert api.enroll("obama", OBAMA, OBAMA2).status_code == 201
    r = api.post("/v1/identify?top_k=2", "read", files={"image": ("o3.jpg", OBAMA3.read_bytes())})
    assert r.status_code == 200, r.text
    faces = r.json()["faces"]
    assert len(faces) == 1 and faces[0]["identity"] == "obama" and faces[0]["known"]
    assert faces[0]["candidates"][0]["identity"] == "obama" and len(faces[0]["box"]) == 4
    unknown = api.post("/v1/identify", "read", json={"image": b64(BIDEN)}).json()["faces"]
    assert unknown[0]["identity"] is None and not unknown[0]["known"]
    assert api.post("/v1/identify", "read", json={"image": base64.b64encode(image_bytes()).decode()}).json()["faces"] == []
    api.post("/v1/identify", "read", files={"image": ("bad.jpg", b"junk")})
    log = api.get("/v1/audit?limit=10").json()
    reader = next(k["id"] for k in api.get("/v1/keys").json() if k["scope"] == "read")
    idents = [e for e in log if e["action"] == "identify"]
    assert len(idents) == 4 and all(e["actor"] == reader for e in idents)
    assert idents[-1]["detail"]["identities"] == ["obama"] and len(idents[-1]["detail"]["sha256"]) == 64
    assert idents[0]["detail"]["error"] and idents[0]["detail"]["image"] == "image (bad.jpg)"


# -- the gallery -----------------------------------------------------------------------------------
def test_gallery_crud(api):
    r = api.enroll("obama", OBAMA, OBAMA2)
    assert r.status_code == 201, r.text
    assert r.json()["added"] == 2 and len(r.json()["face_ids"]) == 2
    r = api.post("/v1/identities", "enroll", json={"name": "biden", "images": [b64(BIDEN)], "metadata": {"team": "b"}})
    assert r.status_code == 201, r.text
    listed = api.get("/v1/identities", "read").json()
    assert [(i["name"], i["faces"]) for i in listed] == [("biden", 1), ("obama", 2)]
    assert listed[0]["metadata"] == {"team": "b"}

    detail = api.get("/v1/identities/obama", "read").json()
    assert len(detail["face_records"]) == 2 and detail["face_records"][0]["quality"]["face_size"] > 20
    thumb = api.get(detail["face_records"][0]["thumbnail"], "read")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:2] == b"\xff\xd8" and thumb.headers["cache-control"] == "no-store"

    r = api.post("/v1/identities/obama/faces", "enroll", files=[("images", ("o3.jpg", OBAMA3.read_bytes()))])
    assert r.status_code == 201 and r.json()["added"] == 1
    is_problem(api.post("/v1/identities/nobody/faces", "enroll", files=[("images", ("o.jpg", OBAMA.read_bytes()))]),
               404, "not_found")

    is_problem(api.patch("/v1/identities/obama", "enroll", json={"name": "biden"}), 409, "conflict")
    r = api.patch("/v1/identities/obama", "enroll", json={"name": "Barack Obama / 44"})
    assert r.status_code == 200 and r.json()["name"] == "Barack Obama / 44"
    # names with spaces and slashes work in paths
    assert api.get("/v1/identities/Barack%20Obama%20%2F%2044", "read").json()["faces"] == 3
    is_problem(api.patch("/v1/identities/nobody", "enroll", json={"name": "x"}), 404, "not_found")

    first = detail["face_records"][0]["face_id"]
    assert api.delete(f"/v1/faces/{first}", "enroll").status_code == 204
    is_problem(api.get(f"/v1/faces/{first}/thumbnail", "read"), 404, "not_found")
    is_problem(api.delete(f"/v1/faces/{first}", "enroll"), 404)

    r = api.delete("/v1/identities/Barack Obama / 44", "enroll")
    assert r.status_code == 200 and r.json()["removed_faces"] == 2
    is_problem(api.get("/v1/identities/Barack Obama / 44", "read"), 404, "not_found")
    is_problem(api.delete("/v1/identities/Barack Obama / 44", "enroll"), 404, "not_found")
    assert [i["name"] for i in api.get("/v1/identities", "read").json()] == ["biden"]
    actions = [(e["action"], e["identity"]) for e in api.get("/v1/audit").json()]
    assert ("delete", "Barack Obama / 44") in actions and ("enroll", "biden") in actions
    enroll_actor = next(k["id"] for k in api.get("/v1/keys").json() if k["scope"] == "enroll")
    assert {e["actor"] for e in api.get("/v1/audit").json() if e["action"] in ("enroll", "delete")} == {enroll_actor}


def test_enroll_skips_and_refusals(api):
    r = api.post("/v1/identities", "enroll", data={"name": "obama"},
                 files=[("images", ("good.jpg", OBAMA.read_bytes())), ("images", ("junk.jpg", b"junk")),
                        ("images", ("grey.png", image_bytes()))])
    assert r.status_code == 201, r.text
    skipped = {s["input"]: s["reason"] for s in r.json()["skipped"]}
    assert r.json()["added"] == 1 and set(skipped) == {"images (junk.jpg)", "images (grey.png)"}
    assert "no face" in skipped["images (grey.png)"]
    body = is_problem(api.post("/v1/identities", "enroll", data={"name": "nobody"},
                               files=[("images", ("grey.png", image_bytes()))]), 422, "poor_quality")
    assert body["reasons"] and "nobody" in body["detail"]
    body = is_problem(api.post("/v1/identities", "enroll", data={"name": "   "},
                               files=[("images", ("o.jpg", OBAMA.read_bytes()))]), 422, "invalid_request")
    assert "visible character" in body["detail"]
    body = is_problem(api.post("/v1/identities", "enroll", data={"name": "oba\u200bma"},
                               files=[("images", ("o.jpg", OBAMA.read_bytes()))]), 422, "invalid_request")
    assert "U+200B" in body["detail"]
    assert [i["name"] for i in api.get("/v1/identities", "read").json()] == ["obama"]
    refused = [e for e in api.get("/v1/audit").json() if e["action"] == "enroll" and "error" in e["detail"]]
    assert {e["identity"] for e in refused} == {"nobody"}  # malformed requests never reach the gallery


def test_delete_removes_for_good(api, tmp_path):
    face = api.enroll("obama", OBAMA).json()["face_ids"][0]
    thumb = api.get(f"/v1/faces/{face}/thumbnail", "read").content
    assert api.delete("/v1/identities/obama", "enroll").status_code == 200
    path = tmp_path / "g.db"
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == 0
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    wal = tmp_path / "g.db-wal"
    raw = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert thumb[200:300] not in raw


def test_survives_restart(make_app, tmp_path, needs_calibration):
    app, keys = make_app()
    with TestClient(app) as c:
        h = {"X-API-Key": keys["enroll"]}
        r = c.post("/v1/identities", headers=h, data={"name": "obama"}, files={"images": ("o.jpg", OBAMA.read_bytes())})
        assert r.status_code == 201
    # the lifespan closed the gallery; a new server process would open the same file
    from vultus.service import Settings, create_app

    app2 = create_app(tmp_path / "g.db", Settings(rate=0), pipeline=app.state.vultus.pipeline)
    with TestClient(app2) as c:
        h = {"X-API-Key": keys["read"]}  # keys live in the gallery file too
        assert [i["name"] for i in c.get("/v1/identities", headers=h).json()] == ["obama"]
        r = c.post("/v1/identify", headers=h, files={"image": ("o2.jpg", OBAMA2.read_bytes())})
        assert r.json()["faces"][0]["identity"] == "obama"


def test_detector_options_are_the_servers_own(tmp_path, pipeline):
    from vultus.service import Settings, create_app

    app = create_app(tmp_path / "g.db", Settings(rate=0), detector_options={"scales": (1.0,)})
    state = app.state.vultus
    assert state.pipeline.detector.scales == (1.0,) and state.gallery.pipeline is state.pipeline
    assert state.gallery.recognizer.key == "sface"
    state.close()
