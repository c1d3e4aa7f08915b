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
from ..decide import calibrated, calibration
from ..errors import ModelError, NotFoundError, VultusError
from ..pipeline import known_analyzers, load_analyzers, parse_names
from ..quality import QualityPolicy
from . import schemas as S
from .jobs import QueueFull
from .keys import ApiKey, KeyStoreError
from .decoding import Decoded, rescale
from .liveness import SESSION_FIELD, LivenessQ, parse_session, recording, requirement, verdict_of
from .problems import Problem
from .openapi import KEYED, WRITES, image_body, json_body as json_body_doc, link, problems, video_body
from .uploads import Upload, clean_label, json_body, read_body, read_form, validated

T = TypeVar("T")

router = APIRouter(prefix="/v1", generate_unique_id_function=lambda route: route.name)  # operationId = function

# -- authentication --------------------------------------------------------------------------------
# Both schemes are declared so /docs offers an "Authorize" button and generated clients can send
# either; `_credentials` reads the headers itself (these two only describe them).
_BOTH = " Sending both headers with different keys is a 401."
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>`." + _BOTH)
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: <key>`." + _BOTH)


def require(scope: str) -> Callable[..., ApiKey]:
    """A dependency: the caller's key, which must allow `scope` and be within its rate limit."""

    def check(request: Request, bearer: Optional[HTTPAuthorizationCredentials] = Depends(_bearer),
              header: Optional[str] = Depends(_header)) -> ApiKey:
        state = request.app.state.vultus
        text = _credentials(request)
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


def _credentials(request: Request) -> str | None:
    """The one key a request carries. Two different credentials (an X-API-Key and an Authorization
    header that is not `Bearer` of the same key) are refused rather than resolved by picking one:
    a proxy or client that adds its own header must not silently change who the caller is."""
    header = request.headers.get("x-api-key")
    auth = request.headers.get("authorization")
    bearer = None
    if auth is not None:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Problem(401, "unauthorized", "the Authorization header must be 'Bearer <key>'",
                          headers={"WWW-Authenticate": "Bearer"})
        bearer = value.strip()
    if header is not None and bearer is not None and header.strip() != bearer:
        raise Problem(401, "unauthorized", "conflicting credentials: X-API-Key and Authorization carry "
                      "different keys; send one", headers={"WWW-Authenticate": "Bearer"})
    return bearer or (header.strip() if header else None)


READ, ENROLL, ADMIN = require("read"), require("enroll"), require("admin")

# -- helpers ---------------------------------------------------------------------------------------
async def _compute(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Run model work in a worker thread, at most `compute_threads` at once."""
    state = request.app.state.vultus
    return await anyio.to_thread.run_sync(partial(fn, *args), limiter=state.compute)


def _state(request: Request):
    return request.app.state.vultus


# the strictest FAR every calibrated recognizer has a threshold for (a stricter one has no answer)
MIN_FAR = max((min(map(float, calibration(r).get("far", {"1e-6": 0}))) for r in calibrated()), default=1e-6)
# face ids are SQLite row ids: positive 64-bit integers (a larger number is a 422, not a crash)
FaceId = PathParam(..., ge=1, le=2**63 - 1, description="A face's id, from enroll or an identity's face_records")
NameP = PathParam(..., min_length=1, max_length=200, description="The identity's name (URL-encoded; a slash is %2F)")
KeyId = PathParam(..., pattern="^[0-9a-f]{8}$", description="The key's id (the part after 'vultus_')")
JobId = PathParam(..., pattern="^[0-9a-f]{16}$", description="The job's id, from creating it")
FarQ = Query(1e-3, ge=MIN_FAR, lt=1, description="Target false accept rate (per comparison for verify, per "
             "search for identify); its calibrated threshold decides")
Force = Query(False, description="Accept faces that fail the quality checks")

# Links: which field of a response feeds which operation (generated clients and the fuzzer follow them)
_NAME, _FACE = "$response.body#/name", "$response.body#/face_ids/0"
ENROLLED = {"GetIdentity": link("get_identity", name=_NAME), "RenameIdentity": link("rename_identity", name=_NAME),
            "DeleteIdentity": link("delete_identity", name=_NAME), "AddFaces": link("add_faces", name=_NAME),
            "GetThumbnail": link("get_thumbnail", face_id=_FACE), "DeleteFace": link("delete_face", face_id=_FACE)}
RENAMED = {k: v for k, v in ENROLLED.items() if "face_id" not in v["parameters"]}
_RECORD = "$response.body#/face_records/0/face_id"
FACES_OF_IDENTITY = {"GetThumbnail": link("get_thumbnail", face_id=_RECORD),
                     "DeleteFace": link("delete_face", face_id=_RECORD)}
_JOB = "$response.body#/id"
JOB_CREATED = {"GetVideoJob": link("get_video_job", job_id=_JOB),
               "GetVideoJobResult": link("get_video_job_result", job_id=_JOB),
               "DeleteVideoJob": link("delete_video_job", job_id=_JOB)}
# the multipart form of an enrollment: the JSON form's name, and metadata as a JSON part
ENROLL_FIELDS = {"name": S.EnrollJSON.model_json_schema()["properties"]["name"],
                 "metadata": {**S.EnrollJSON.model_json_schema()["properties"]["metadata"], "type": "object"}}


# -- health ----------------------------------------------------------------------------------------
@router.get("/health", response_model=S.HealthOut, tags=["health"])
def health() -> dict[str, Any]:
    """Liveness: the process answers. No key needed."""
    return {"status": "ok", "version": __version__}


@router.get("/ready", response_model=S.ReadyOut, tags=["health"],
            responses={503: {"model": S.ReadyOut, "description": "Not ready: the checks say what is missing"}})
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


@router.get("/me", response_model=S.KeyOut, tags=["keys"], responses=problems(*KEYED))
def me(key: ApiKey = Depends(READ)) -> dict[str, Any]:
    """The key this request was made with: its id and scope (the web page's sign-in check)."""
    return key.to_dict()


# -- faces in one image ----------------------------------------------------------------------------
@router.post("/detect", response_model=S.DetectOut, tags=["faces"], responses=problems(400, *KEYED, 413, 415, 422),
             openapi_extra=image_body(S.ImageJSON, {"image": "one"}))
async def detect(request: Request, key: ApiKey = Depends(READ)) -> dict[str, Any]:
    """Every face in an image: box, score, 5 landmarks and quality."""
    _, up = await read_body(request, {"image": (1, 1)})
    state = _state(request)

    def work(image: Decoded):
        faces = state.pipeline.detect(image.array)
        return {"width": image.width, "height": image.height,
                "faces": [rescale(f.to_dict(), image.scale) for f in faces]}

    async with state.decoding.decoded(up["image"], state.compute) as (image,):
        return await _compute(request, work, image)


@router.post("/analyze", response_model=S.AnalyzeOut, tags=["faces"], responses=problems(400, *KEYED, 413, 415, 422),
             openapi_extra=image_body(S.ImageJSON, {"image": "one"}))
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

    def work(image: Decoded):
        faces = state.pipeline.analyze(image.array, analyzers=chosen)
        return {"width": image.width, "height": image.height,
                "faces": [rescale(f.to_dict(), image.scale) for f in faces], "analyzers": ["quality", *wanted]}

    async with state.decoding.decoded(up["image"], state.compute) as (image,):
        return await _compute(request, work, image)


@router.post("/verify", response_model=S.VerifyOut, tags=["faces"], responses=problems(400, *KEYED, 413, 415, 422, 503),
             openapi_extra=image_body(S.VerifyJSON, {"a": "one", "b": "one"}, SESSION_FIELD))
async def verify(request: Request, key: ApiKey = Depends(READ), far: float = FarQ,
                 liveness: bool = LivenessQ) -> dict[str, Any]:
    """Are the largest faces of images `a` and `b` the same person?"""
    fields, up = await read_body(request, {"a": (1, 1), "b": (1, 1)}, S.VerifyFields)
    session, check = parse_session(fields.session), requirement(request, liveness)
    state = _state(request)

    def work(a: Decoded, b: Decoded):
        with recording(state.settings, session, "verify", key) as rec:
            result = state.pipeline.verify(a.array, b.array, far, names=(up["a"][0].label, up["b"][0].label),
                                           liveness=check, session=session)
            rec["verdict"] = verdict_of(result)
        return result.to_dict()

    async with state.decoding.decoded([up["a"][0], up["b"][0]], state.compute) as (a, b):
        return await _compute(request, work, a, b)


@router.post("/identify", response_model=S.IdentifyOut, tags=["faces"],
             responses=problems(400, *KEYED, 413, 415, 422, 503),
             openapi_extra=image_body(S.IdentifyJSON, {"image": "one"}, SESSION_FIELD))
async def identify(request: Request, key: ApiKey = Depends(READ), far: float = FarQ,
                   top_k: int = Query(3, ge=1, le=20, description="Candidates reported per face"),
                   liveness: bool = LivenessQ) -> dict[str, Any]:
    """Who is each face in the image: a gallery identity, or unknown. Written to the audit log."""
    fields, up = await read_body(request, {"image": (1, 1)}, S.SessionFields)
    session, check = parse_session(fields.session), requirement(request, liveness)
    state = _state(request)
    upload = up["image"][0]
    what = {"image": upload.label, "sha256": hashlib.sha256(upload.data).hexdigest(), "bytes": len(upload.data)}

    def work(image: Decoded, target: float):
        with recording(state.settings, session, "identify", key) as rec:
            results = state.gallery.identify(image.array, target, top_k, name=upload.label, liveness=check,
                                             session=session)
            rec["verdict"] = verdict_of(results[0]) if results else None
        state.gallery.store.audit(key.id, "identify", None, {
            **what, "faces": len(results), "identities": [r.identity for r in results]})
        return {"width": image.width, "height": image.height,
                "faces": [rescale(r.to_dict(), image.scale) for r in results]}

    try:
        async with state.decoding.decoded([upload], state.compute) as (image,):
            return await _compute(request, work, image, far)
    except (VultusError, Problem) as e:  # failed attempts are audited too
        await anyio.to_thread.run_sync(state.gallery.store.audit, key.id, "identify", None,
                                       {**what, "error": str(e)})
        raise


# -- the gallery -----------------------------------------------------------------------------------
@router.get("/identities", response_model=list[S.IdentityOut], tags=["gallery"], responses=problems(*KEYED))
def list_identities(request: Request, key: ApiKey = Depends(READ)) -> list[dict[str, Any]]:
    """Every identity with its number of faces, by name."""
    return [i.to_dict() for i in _state(request).gallery.identities()]


@router.post("/identities", response_model=S.EnrollOut, status_code=status.HTTP_201_CREATED, tags=["gallery"],
             responses={201: {"links": ENROLLED}, **problems(400, *WRITES, 413, 415, 422)},
             openapi_extra=image_body(S.EnrollJSON, {"images": "many"}, {**ENROLL_FIELDS, **SESSION_FIELD},
                                      ("name", "images")))
async def enroll(request: Request, key: ApiKey = Depends(ENROLL), force: bool = Force,
                 liveness: bool = LivenessQ) -> dict[str, Any]:
    """Enroll a person from one or more images (created if new, else faces are added), in one
    transaction. Images without a usable face are skipped with the reason; none usable is a 422."""
    state = _state(request)
    fields, up = await read_body(request, {"images": (1, state.settings.max_images)}, S.EnrollFields,
                                lists=("images",))
    async with state.decoding.reserve(up["images"], reducible=False):  # the gallery decodes them in full
        return await _compute(request, _enroll, state, key, fields.name, up["images"], fields.metadata, force,
                              requirement(request, liveness), parse_session(fields.session))


@router.post("/identities/{name:path}/faces", response_model=S.EnrollOut, status_code=status.HTTP_201_CREATED,
             tags=["gallery"], responses={201: {"links": ENROLLED}, **problems(400, *WRITES, 404, 413, 415, 422)},
             openapi_extra=image_body(S.FacesJSON, {"images": "many"}, SESSION_FIELD))
async def add_faces(request: Request, name: str = NameP, key: ApiKey = Depends(ENROLL), force: bool = Force,
                    liveness: bool = LivenessQ) -> dict[str, Any]:
    """Add faces to an existing identity (404 if there is none of that name)."""
    state = _state(request)
    state.gallery.store.identity(name)  # NotFoundError -> 404 before reading the images
    fields, up = await read_body(request, {"images": (1, state.settings.max_images)}, S.SessionFields,
                                 lists=("images",))
    async with state.decoding.reserve(up["images"], reducible=False):
        return await _compute(request, _enroll, state, key, name, up["images"], None, force,
                              requirement(request, liveness), parse_session(fields.session))


def _enroll(state, key: ApiKey, name: str, uploads: list[Upload], metadata, force: bool, liveness=None,
            session=None) -> dict[str, Any]:
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


@router.get("/identities/{name:path}", response_model=S.IdentityDetailOut, tags=["gallery"],
            responses={200: {"links": FACES_OF_IDENTITY}, **problems(*KEYED, 404, 422)})
def get_identity(request: Request, name: str = NameP, key: ApiKey = Depends(READ)) -> dict[str, Any]:
    """One identity with its faces (box, quality, upload hash, thumbnail URL)."""
    store = _state(request).gallery.store
    info = store.identity(name)
    faces = [{"face_id": f["face_id"], "box": f["box"], "quality": f["quality"], "source_sha256": f["source_sha256"],
              "created_at": round(f["created_at"], 3), "thumbnail": f"/v1/faces/{f['face_id']}/thumbnail"}
             for f in store.faces_of(name)]
    return {**info.to_dict(), "face_records": faces}


@router.patch("/identities/{name:path}", response_model=S.IdentityOut, tags=["gallery"],
              responses={200: {"links": RENAMED}, **problems(400, *WRITES, 404, 409, 415, 422)},
              openapi_extra=json_body_doc(S.Rename, {"name": "Barack Obama"}))
async def rename_identity(request: Request, name: str = NameP, key: ApiKey = Depends(ENROLL)) -> dict[str, Any]:
    """Rename an identity (409 if the new name is taken)."""
    # the body is read after the key is checked (a declared body would be read before)
    body = validated(S.Rename, await json_body(request))
    return await anyio.to_thread.run_sync(_rename, _state(request).gallery, name, body, key)


def _rename(gallery, name: str, body: S.Rename, key: ApiKey) -> dict[str, Any]:
    gallery.store.identity(name)
    if body.name.strip() == name:  # renaming onto the same name changes nothing
        return gallery.store.identity(name).to_dict()
    if any(i.name == body.name.strip() for i in gallery.identities()):
        raise Problem(409, "conflict", f"an identity named {body.name.strip()!r} already exists")
    gallery.rename(name, body.name, actor=key.id)
    return gallery.store.identity(body.name.strip()).to_dict()


@router.delete("/identities/{name:path}", response_model=S.RemovedOut, tags=["gallery"],
               responses=problems(*WRITES, 404, 422))
def delete_identity(request: Request, name: str = NameP, key: ApiKey = Depends(ENROLL)) -> dict[str, Any]:
    """Delete an identity with all its templates and thumbnails, for good (overwritten on disk)."""
    return {"name": name, "removed_faces": _state(request).gallery.remove(name, actor=key.id)}


@router.get("/faces/{face_id}/thumbnail", tags=["gallery"], response_class=Response,
            responses={200: {"description": "The thumbnail", "content": {
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}, **problems(*KEYED, 404, 422)})
def get_thumbnail(request: Request, face_id: int = FaceId, key: ApiKey = Depends(READ)) -> Response:
    """The JPEG thumbnail of one enrolled face. Not cached by browsers: it is biometric data."""
    data = _state(request).gallery.store.thumbnail(face_id)
    if not data:
        raise NotFoundError(f"face {face_id} has no thumbnail")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.delete("/faces/{face_id}", tags=["gallery"], responses=problems(*WRITES, 404, 422),
               status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def delete_face(request: Request, face_id: int = FaceId, key: ApiKey = Depends(ENROLL)) -> Response:
    """Delete one face (template and thumbnail) of an identity."""
    _state(request).gallery.remove_face(face_id, actor=key.id)
    return Response(status_code=204)


@router.get("/audit", response_model=list[S.AuditOut], tags=["admin"], responses=problems(*WRITES, 422))
def get_audit_log(request: Request, key: ApiKey = Depends(ADMIN),
          limit: int = Query(100, ge=1, le=10_000)) -> list[dict[str, Any]]:
    """The newest entries of the append-only audit log: who enrolled, deleted or identified, when, what."""
    return _state(request).gallery.store.audit_log(limit)


# -- keys ------------------------------------------------------------------------------------------
@router.get("/keys", response_model=list[S.KeyOut], tags=["keys"], responses=problems(*WRITES))
def list_keys(request: Request, key: ApiKey = Depends(ADMIN)) -> list[dict[str, Any]]:
    """Every key's id, name and scope (never the key itself: only its hash is stored)."""
    return [k.to_dict() for k in _state(request).keys.list()]


@router.delete("/keys/{key_id}", response_model=S.KeyOut, tags=["keys"], responses=problems(*WRITES, 404, 422))
def revoke_key(request: Request, key_id: str = KeyId, key: ApiKey = Depends(ADMIN)) -> dict[str, Any]:
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
             responses={202: {"links": JOB_CREATED}, **problems(400, *KEYED, 413, 415, 422, 503)},
             openapi_extra=video_body())
async def create_video_job(request: Request, key: ApiKey = Depends(READ), far: float = FarQ,
                     stride: int = Query(1, ge=1, le=100, description="Analyze every n-th frame"),
                     start: Optional[float] = Query(None, ge=0, description="Start time, seconds"),
                     end: Optional[float] = Query(None, ge=0, description="End time, seconds"),
                     analyzers: Optional[str] = Query(None, description="Analyzers to run on every track, "
                                                      "comma-separated (e.g. agegender)")) -> dict[str, Any]:
    """Upload a video (multipart field `video`); it is analyzed in the background. Poll the job for
    progress, then download its result: face tracks with their identities, times and analyses."""
    _video_available()
    wanted = parse_names(analyzers)
    try:
        from ..video.analysis import load_track_analyzers

        load_track_analyzers(wanted, _state(request).pipeline)  # unknown names: 422 now, not a failed job
    except ModelError as e:
        raise Problem(422, "invalid_request", str(e)) from None
    state = _state(request)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "multipart/form-data":
        raise Problem(415, "unsupported_media_type", "send the video as multipart/form-data, field 'video'")
    form = await read_form(request, max_files=1, max_fields=5)
    try:
        video = form.get("video")
        if not isinstance(video, UploadFile):
            raise Problem(422, "invalid_request", "missing file field 'video'")
        others = sorted(set(form.keys()) - {"video"})
        if others:
            raise Problem(422, "invalid_request", f"unexpected field(s) {', '.join(map(repr, others))}")
        filename = clean_label("video", video.filename).removeprefix("video (").removesuffix(")")
        path = state.jobs.new_path(video.filename or "")
        await anyio.to_thread.run_sync(_save, video, path)
        if not path.stat().st_size:
            path.unlink()
            raise Problem(422, "invalid_request", "video: the file is empty")
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


@router.get("/video/jobs", response_model=list[S.JobOut], tags=["video"], responses=problems(*KEYED))
def list_video_jobs(request: Request, key: ApiKey = Depends(READ)) -> list[dict[str, Any]]:
    """Your video jobs, newest first (an admin key sees everyone's)."""
    return [j.to_dict() for j in _state(request).jobs.list() if j.owner == key.id or key.allows("admin")]


@router.get("/video/jobs/{job_id}", response_model=S.JobOut, tags=["video"], responses=problems(*KEYED, 404, 422))
def get_video_job(request: Request, job_id: str = JobId, key: ApiKey = Depends(READ)) -> dict[str, Any]:
    """A job's status and progress."""
    return _job(request, job_id, key).to_dict()


@router.get("/video/jobs/{job_id}/result", tags=["video"], response_model=S.VideoResultOut,
            responses={200: {"description": "The result, as a JSON download",
                             "headers": {"Content-Disposition": {"required": True, "schema": {"type": "string"}}}},
                       **problems(*KEYED, 404, 409, 422)})
def get_video_job_result(request: Request, job_id: str = JobId, key: ApiKey = Depends(READ)) -> Response:
    """The finished job's result as a JSON download: fps, frames and the face tracks with identities."""
    job = _job(request, job_id, key)
    if job.status != "done":
        raise Problem(409, "not_ready", f"video job {job_id} is {job.status}"
                      + (f": {job.error}" if job.error else ""))
    import json

    return Response(json.dumps(job.result), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="vultus-video-{job.id}.json"'})


@router.delete("/video/jobs/{job_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["video"],
               response_class=Response, responses=problems(*KEYED, 404, 422))
def delete_video_job(request: Request, job_id: str = JobId, key: ApiKey = Depends(READ)) -> Response:
    """Cancel a job if it is still waiting or running, and forget it and its result."""
    _job(request, job_id, key)
    _state(request).jobs.delete(job_id)
    return Response(status_code=204)

