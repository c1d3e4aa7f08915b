"""The /v1 routes. Each parses and checks its input, then calls the core in a worker thread."""

from __future__ import annotations

import hashlib
import math
import shutil
from functools import partial
from typing import Any, Callable, Optional, TypeVar

import anyio
from fastapi import APIRouter, Depends, Path as PathParam, Query, Request, Response, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import UploadFile

from .. import __version__
from ..errors import ModelError, NotFoundError, VultusError
from ..pipeline import known_analyzers, load_analyzers, parse_names
from ..quality import QualityPolicy
from . import schemas as S
from .jobs import QueueFull
from .keys import ApiKey, KeyStoreError
from .liveness import LivenessQ, SessionField, parse_session, recording, requirement, verdict_of
from .problems import Problem
from .uploads import Upload, check_pixels, clean_label, decode, read_body

T = TypeVar("T")

router = APIRouter(prefix="/v1")

# -- authentication --------------------------------------------------------------------------------
# Both schemes are declared so /docs offers an "Authorize" button; either header works.
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: <key>")


def require(scope: str) -> Callable[..., ApiKey]:
    """A dependency: the caller's key, which must allow `scope` and be within its rate limit."""

    def check(request: Request, bearer: Optional[HTTPAuthorizationCredentials] = Depends(_bearer),
              header: Optional[str] = Depends(_header)) -> ApiKey:
        state = request.app.state.vultus
        text = header or (bearer.credentials if bearer else None)
        if not text:
            raise Problem(401, "unauthorized", "an API key is required: send 'Authorization: Bearer <key>' "
                          "or 'X-API-Key: <key>' (create one with `vultus keys create`)",
                          headers={"WWW-Authenticate": "Bearer"})
        key = state.keys.verify(text)
        if key is None:
            raise Problem(401, "unauthorized", "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        if not key.allows(scope):
            raise Problem(403, "forbidden", f"this call needs a key with scope {scope!r} or higher; "
                          f"key {key.id} has scope {key.scope!r}")
        wait = state.limiter.take(key.id)
        if wait:
            raise Problem(429, "rate_limited", f"too many requests for key {key.id}; retry in {wait:.1f} s",
                          headers={"Retry-After": str(max(1, math.ceil(wait)))})
        return key

    return check


READ, ENROLL, ADMIN = require("read"), require("enroll"), require("admin")

# -- helpers ---------------------------------------------------------------------------------------
ERRORS = {code: {"model": S.ProblemBody, "content": {"application/problem+json": {}}}
          for code in (401, 403, 404, 413, 415, 422, 429, 503)}


def _body(json_model: type, files: dict[str, str], text: dict[str, str] | None = None) -> dict[str, Any]:
    """OpenAPI text for a body accepted both as multipart files and as JSON with base64."""
    props: dict[str, Any] = {}
    for name, how in files.items():
        binary = {"type": "string", "format": "binary"}
        props[name] = {"type": "array", "items": binary} if how == "many" else binary
    props.update({k: {"type": "string", "description": v} for k, v in (text or {}).items()})
    return {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": props, "required": list(files)}},
        "application/json": {"schema": json_model.model_json_schema()}}}}


async def _compute(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Run model work in a worker thread, at most `compute_threads` at once."""
    state = request.app.state.vultus
    return await anyio.to_thread.run_sync(partial(fn, *args), limiter=state.compute)


def _state(request: Request):
    return request.app.state.vultus


def _far(far: float) -> float:
    if not 0 < far < 1:
        raise Problem(422, "invalid_request", f"far must be between 0 and 1, not {far}")
    return far


FarQ = Query(1e-3, description="Target false accept rate; its calibrated threshold decides")


# -- health ----------------------------------------------------------------------------------------
@router.get("/health", response_model=S.HealthOut, tags=["health"])
def health() -> dict[str, Any]:
    """Liveness: the process answers. No key needed."""
    return {"status": "ok", "version": __version__}


@router.get("/ready", response_model=S.ReadyOut, tags=["health"], responses={503: {"model": S.ReadyOut}})
def ready(request: Request, response: Response) -> dict[str, Any]:
    """Readiness: gallery open, models loaded, thresholds calibrated (503 until all hold). No key needed."""
    state = _state(request)
    checks, detail = {}, {}
    try:
        state.gallery.store.data_version()
        checks["gallery"] = True
    except Exception as e:  # a closed or broken database
        checks["gallery"], detail["gallery"] = False, str(e)
    checks["models"] = state.pipeline is not None
    try:
        state.gallery.recognizer.threshold(state.settings.default_far)
        checks["calibrated"] = True
    except ModelError as e:
        checks["calibrated"], detail["calibrated"] = False, str(e)
    try:
        _video_available()
        detail["video"] = "available"
    except Problem as e:
        detail["video"] = e.detail
    ok = all(checks.values())
    if not ok:
        response.status_code = 503
    return {"ready": ok, "checks": checks, "detail": detail}


@router.get("/me", response_model=S.KeyOut, tags=["keys"], responses=ERRORS)
def me(key: ApiKey = Depends(READ)) -> dict[str, Any]:
    """The key this request was made with: its id and scope (the web page's sign-in check)."""
    return key.to_dict()


# -- faces in one image ----------------------------------------------------------------------------
@router.post("/detect", response_model=S.DetectOut, tags=["faces"], responses=ERRORS,
             openapi_extra=_body(S.ImageJSON, {"image": "one"}))
async def detect(request: Request, key: ApiKey = Depends(READ)) -> dict[str, Any]:
    """Every face in an image: box, score, 5 landmarks and quality."""
    _, up = await read_body(request, {"image": (1, 1)})
    max_pixels = _state(request).settings.max_pixels

    def work():
        img = decode(up["image"][0], max_pixels)
        faces = _state(request).pipeline.detect(img)
        return {"width": img.shape[1], "height": img.shape[0], "faces": [f.to_dict() for f in faces]}

    return await _compute(request, work)


@router.post("/analyze", response_model=S.AnalyzeOut, tags=["faces"], responses=ERRORS,
             openapi_extra=_body(S.ImageJSON, {"image": "one"}))
async def analyze(request: Request, key: ApiKey = Depends(READ),
                  analyzers: Optional[str] = Query(None, description="Comma-separated analyzer names "
                                                   "(`vultus models` lists them); default: all")) -> dict[str, Any]:
    """Every face with its quality and the results of each asked analyzer (age, expression, ...)."""
    wanted = parse_names(analyzers) if analyzers else known_analyzers()
    try:
        chosen = load_analyzers(wanted)
    except ModelError as e:
        raise Problem(422, "invalid_request", str(e)) from None
    _, up = await read_body(request, {"image": (1, 1)})
    state = _state(request)

    def work():
        img = decode(up["image"][0], state.settings.max_pixels)
        faces = state.pipeline.analyze(img, analyzers=chosen)
        return {"width": img.shape[1], "height": img.shape[0], "faces": [f.to_dict() for f in faces],
                "analyzers": ["quality", *wanted]}

    return await _compute(request, work)


@router.post("/verify", response_model=S.VerifyOut, tags=["faces"], responses=ERRORS,
             openapi_extra=_body(S.VerifyJSON, {"a": "one", "b": "one"}))
async def verify(request: Request, key: ApiKey = Depends(READ), far: float = FarQ,
                 liveness: bool = LivenessQ) -> dict[str, Any]:
    """Are the largest faces of images `a` and `b` the same person?"""
    fields, up = await read_body(request, {"a": (1, 1), "b": (1, 1)}, SessionField)
    session, check = parse_session(fields.session), requirement(request, liveness)
    state = _state(request)

    def work():
        a, b = (decode(up[f][0], state.settings.max_pixels) for f in "ab")
        with recording(state.settings, session, "verify", key) as rec:
            result = state.pipeline.verify(a, b, _far(far), names=(up["a"][0].label, up["b"][0].label),
                                           liveness=check, session=session)
            rec["verdict"] = verdict_of(result)
        return result.to_dict()

    return await _compute(request, work)


@router.post("/identify", response_model=S.IdentifyOut, tags=["faces"], responses=ERRORS,
             openapi_extra=_body(S.IdentifyJSON, {"image": "one"}))
async def identify(request: Request, key: ApiKey = Depends(READ), far: float = FarQ,
                   top_k: int = Query(3, ge=1, le=20, description="Candidates reported per face"),
                   liveness: bool = LivenessQ) -> dict[str, Any]:
    """Who is each face in the image: a gallery identity, or unknown. Written to the audit log."""
    fields, up = await read_body(request, {"image": (1, 1)}, SessionField)
    session, check = parse_session(fields.session), requirement(request, liveness)
    state = _state(request)
    upload = up["image"][0]

    def work():
        what = {"image": upload.label, "sha256": hashlib.sha256(upload.data).hexdigest(), "bytes": len(upload.data)}
        try:
            target = _far(far)
            img = decode(upload, state.settings.max_pixels)
            with recording(state.settings, session, "identify", key) as rec:
                results = state.gallery.identify(img, target, top_k, name=upload.label, liveness=check,
                                                 session=session)
                rec["verdict"] = verdict_of(results[0]) if results else None
        except (VultusError, Problem) as e:  # failed attempts are audited too
            state.gallery.store.audit(key.id, "identify", None, {**what, "error": str(e)})
            raise
        state.gallery.store.audit(key.id, "identify", None, {
            **what, "faces": len(results), "identities": [r.identity for r in results]})
        return {"width": img.shape[1], "height": img.shape[0], "faces": [r.to_dict() for r in results]}

    return await _compute(request, work)


# -- the gallery -----------------------------------------------------------------------------------
@router.get("/identities", response_model=list[S.IdentityOut], tags=["gallery"], responses=ERRORS)
def list_identities(request: Request, key: ApiKey = Depends(READ)) -> list[dict[str, Any]]:
    """Every identity with its number of faces, by name."""
    return [i.to_dict() for i in _state(request).gallery.identities()]


@router.post("/identities", response_model=S.EnrollOut, status_code=status.HTTP_201_CREATED, tags=["gallery"],
             responses=ERRORS, openapi_extra=_body(S.EnrollJSON, {"images": "many"},
                                                   {"name": "The person's name", "metadata": "JSON object"}))
async def enroll(request: Request, key: ApiKey = Depends(ENROLL),
                 force: bool = Query(False, description="Accept faces that fail the quality checks"),
                 liveness: bool = LivenessQ) -> dict[str, Any]:
    """Enroll a person from one or more images (created if new, else faces are added), in one
    transaction. Images without a usable face are skipped with the reason; none usable is a 422."""
    state = _state(request)
    fields, up = await read_body(request, {"images": (1, state.settings.max_images)}, S.EnrollFields)
    return await _compute(request, _enroll, state, key, fields.name, up["images"], fields.metadata, force,
                          requirement(request, liveness), parse_session(fields.session))


@router.post("/identities/{name:path}/faces", response_model=S.EnrollOut, status_code=status.HTTP_201_CREATED,
             tags=["gallery"], responses=ERRORS, openapi_extra=_body(S.FacesJSON, {"images": "many"}))
async def add_faces(request: Request, name: str = PathParam(...), key: ApiKey = Depends(ENROLL),
                    force: bool = Query(False, description="Accept faces that fail the quality checks"),
                    liveness: bool = LivenessQ) -> dict[str, Any]:
    """Add faces to an existing identity (404 if there is none of that name)."""
    state = _state(request)
    state.gallery.store.identity(name)  # NotFoundError -> 404 before reading the images
    fields, up = await read_body(request, {"images": (1, state.settings.max_images)}, SessionField)
    return await _compute(request, _enroll, state, key, name, up["images"], None, force,
                          requirement(request, liveness), parse_session(fields.session))


def _enroll(state, key: ApiKey, name: str, uploads: list[Upload], metadata, force: bool, liveness=None,
            session=None) -> dict[str, Any]:
    for u in uploads:  # refuse oversized images before any is decoded
        check_pixels(u, state.settings.max_pixels)
    try:
        with recording(state.settings, session, "enroll", key) as rec:
            result = state.gallery.enroll(name, [u.data for u in uploads], metadata or None,
                                          policy=None if force else QualityPolicy(),
                                          names=[u.label for u in uploads], actor=key.id, liveness=liveness,
                                          session=session)
            rec["verdict"] = verdict_of(result)
    except VultusError as e:  # refused enrollments are audited too
        state.gallery.store.audit(key.id, "enroll", name.strip()[:200] or None,
                                  {"images": len(uploads), "error": str(e)})
        raise
    return result.to_dict()


@router.get("/identities/{name:path}", response_model=S.IdentityDetailOut, tags=["gallery"], responses=ERRORS)
def get_identity(request: Request, name: str = PathParam(...), key: ApiKey = Depends(READ)) -> dict[str, Any]:
    """One identity with its faces (box, quality, upload hash, thumbnail URL)."""
    store = _state(request).gallery.store
    info = store.identity(name)
    faces = [{"face_id": f["face_id"], "box": f["box"], "quality": f["quality"], "source_sha256": f["source_sha256"],
              "created_at": round(f["created_at"], 3), "thumbnail": f"/v1/faces/{f['face_id']}/thumbnail"}
             for f in store.faces_of(name)]
    return {**info.to_dict(), "face_records": faces}


@router.patch("/identities/{name:path}", response_model=S.IdentityOut, tags=["gallery"], responses=ERRORS)
def rename_identity(request: Request, body: S.Rename, name: str = PathParam(...),
                    key: ApiKey = Depends(ENROLL)) -> dict[str, Any]:
    """Rename an identity (409 if the new name is taken)."""
    gallery = _state(request).gallery
    gallery.store.identity(name)
    if body.name.strip() != name and any(i.name == body.name.strip() for i in gallery.identities()):
        raise Problem(409, "conflict", f"an identity named {body.name.strip()!r} already exists")
    gallery.rename(name, body.name, actor=key.id)
    return gallery.store.identity(body.name.strip()).to_dict()


@router.delete("/identities/{name:path}", response_model=S.RemovedOut, tags=["gallery"], responses=ERRORS)
def delete_identity(request: Request, name: str = PathParam(...), key: ApiKey = Depends(ENROLL)) -> dict[str, Any]:
    """Delete an identity with all its templates and thumbnails, for good (overwritten on disk)."""
    return {"name": name, "removed_faces": _state(request).gallery.remove(name, actor=key.id)}


@router.get("/faces/{face_id}/thumbnail", tags=["gallery"], responses={**ERRORS, 200: {"content": {"image/jpeg": {}}}},
            response_class=Response)
def thumbnail(request: Request, face_id: int, key: ApiKey = Depends(READ)) -> Response:
    """The JPEG thumbnail of one enrolled face. Not cached by browsers: it is biometric data."""
    data = _state(request).gallery.store.thumbnail(face_id)
    if not data:
        raise NotFoundError(f"face {face_id} has no thumbnail")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.delete("/faces/{face_id}", tags=["gallery"], responses=ERRORS, status_code=status.HTTP_204_NO_CONTENT)
def delete_face(request: Request, face_id: int, key: ApiKey = Depends(ENROLL)) -> Response:
    """Delete one face (template and thumbnail) of an identity."""
    _state(request).gallery.remove_face(face_id, actor=key.id)
    return Response(status_code=204)


@router.get("/audit", response_model=list[S.AuditOut], tags=["admin"], responses=ERRORS)
def audit(request: Request, key: ApiKey = Depends(ADMIN),
          limit: int = Query(100, ge=1, le=10_000)) -> list[dict[str, Any]]:
    """The newest entries of the append-only audit log: who enrolled, deleted or identified, when, what."""
    return _state(request).gallery.store.audit_log(limit)


# -- keys ------------------------------------------------------------------------------------------
@router.get("/keys", response_model=list[S.KeyOut], tags=["keys"], responses=ERRORS)
def list_keys(request: Request, key: ApiKey = Depends(ADMIN)) -> list[dict[str, Any]]:
    """Every key's id, name and scope (never the key itself: only its hash is stored)."""
    return [k.to_dict() for k in _state(request).keys.list()]


@router.delete("/keys/{key_id}", response_model=S.KeyOut, tags=["keys"], responses=ERRORS)
def revoke_key(request: Request, key_id: str, key: ApiKey = Depends(ADMIN)) -> dict[str, Any]:
    """Revoke a key; it stops working on the next request."""
    state = _state(request)
    try:
        revoked = state.keys.revoke(key_id)
    except KeyStoreError as e:
        raise NotFoundError(str(e)) from None
    state.gallery.store.audit(key.id, "revoke_key", None, {"key": key_id})
    return revoked.to_dict()


# -- video jobs ------------------------------------------------------------------------------------
def _video_available() -> None:
    try:
        import vultus.video  # noqa: F401  (lazy: the service runs without the video extra)
    except ImportError as e:
        raise Problem(503, "unavailable", f"video analysis is not available in this server ({e})") from None


def _job(request: Request, job_id: str, key: ApiKey):
    job = _state(request).jobs.get(job_id)
    if job is None or (job.owner != key.id and not key.allows("admin")):  # others' jobs do not exist for you
        raise NotFoundError(f"no video job {job_id!r}")
    return job


@router.post("/video/jobs", response_model=S.JobOut, status_code=status.HTTP_202_ACCEPTED, tags=["video"],
             responses=ERRORS, openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {
                 "schema": {"type": "object", "properties": {"video": {"type": "string", "format": "binary"}},
                            "required": ["video"]}}}}})
async def create_job(request: Request, key: ApiKey = Depends(READ), far: float = FarQ,
                     stride: int = Query(1, ge=1, le=100, description="Analyze every n-th frame"),
                     start: Optional[float] = Query(None, ge=0, description="Start time, seconds"),
                     end: Optional[float] = Query(None, ge=0, description="End time, seconds"),
                     analyzers: Optional[str] = Query(None, description="Analyzers to run on every track, "
                                                      "comma-separated (e.g. agegender)")) -> dict[str, Any]:
    """Upload a video (multipart field `video`); it is analyzed in the background. Poll the job for
    progress, then download its result: face tracks with their identities, times and analyses."""
    _video_available()
    _far(far)
    wanted = parse_names(analyzers)
    try:
        from ..video.analysis import load_track_analyzers

        load_track_analyzers(wanted, _state(request).pipeline)  # unknown names: 422 now, not a failed job
    except ModelError as e:
        raise Problem(422, "invalid_request", str(e)) from None
    state = _state(request)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "multipart/form-data":
        raise Problem(415, "unsupported_media_type", "send the video as multipart/form-data, field 'video'")
    form = await request.form(max_files=1, max_fields=5)
    try:
        video = form.get("video")
        if not isinstance(video, UploadFile):
            raise Problem(422, "invalid_request", "missing file field 'video'")
        filename = clean_label("video", video.filename).removeprefix("video (").removesuffix(")")
        path = state.jobs.new_path(video.filename or "")
        await anyio.to_thread.run_sync(_save, video, path)
    finally:
        await form.close()
    options = {"target_far": far, "stride": stride, "start": start, "end": end, "analyzers": wanted}
    try:
        job = state.jobs.submit(key.id, filename if filename != "video" else "upload", path, options)
    except QueueFull as e:
        raise Problem(503, "busy", str(e), headers={"Retry-After": "30"}) from None
    return job.to_dict()


def _save(upload: UploadFile, path) -> None:
    upload.file.seek(0)
    with open(path, "wb") as out:
        shutil.copyfileobj(upload.file, out, 1024 * 1024)


@router.get("/video/jobs", response_model=list[S.JobOut], tags=["video"], responses=ERRORS)
def list_jobs(request: Request, key: ApiKey = Depends(READ)) -> list[dict[str, Any]]:
    """Your video jobs, newest first (an admin key sees everyone's)."""
    return [j.to_dict() for j in _state(request).jobs.list() if j.owner == key.id or key.allows("admin")]


@router.get("/video/jobs/{job_id}", response_model=S.JobOut, tags=["video"], responses=ERRORS)
def get_job(request: Request, job_id: str, key: ApiKey = Depends(READ)) -> dict[str, Any]:
    """A job's status and progress."""
    return _job(request, job_id, key).to_dict()


@router.get("/video/jobs/{job_id}/result", tags=["video"], responses=ERRORS)
def job_result(request: Request, job_id: str, key: ApiKey = Depends(READ)) -> Response:
    """The finished job's result as a JSON download: fps, frames and the face tracks with identities."""
    job = _job(request, job_id, key)
    if job.status != "done":
        raise Problem(409, "not_ready", f"video job {job_id} is {job.status}"
                      + (f": {job.error}" if job.error else ""))
    import json

    return Response(json.dumps(job.result), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="vultus-video-{job.id}.json"'})


@router.delete("/video/jobs/{job_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["video"], responses=ERRORS)
def delete_job(request: Request, job_id: str, key: ApiKey = Depends(READ)) -> Response:
    """Cancel a job if it is still waiting or running, and forget it and its result."""
    _job(request, job_id, key)
    _state(request).jobs.delete(job_id)
    return Response(status_code=204)

