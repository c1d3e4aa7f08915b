"""Typed request and response bodies. They mirror the core's `to_dict()` outputs field for field."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .names import NAME_PATTERN, refused_in_names
from .uploads import MAX_JSON_DEPTH


class ProblemBody(BaseModel):
    """Problem details (RFC 9457): every error the API answers with."""

    type: str = Field(examples=["urn:vultus:problem:bad_image"], description="urn:vultus:problem:<kind>")
    title: str = Field(description="The HTTP status phrase")
    status: int
    detail: str = Field(description="What went wrong, naming the input; the same sentence the CLI prints")
    kind: str = Field(description="Machine-readable: bad_image, poor_quality, invalid_request, too_large, "
                                  "unauthorized, forbidden, not_found, conflict, not_ready, rate_limited, ...")
    reasons: Optional[list[str]] = Field(None, description="poor_quality: why each image was refused")
    errors: Optional[list[dict[str, Any]]] = Field(None, description="invalid_request: each field that is wrong")


# -- requests (JSON forms; the same fields are accepted as multipart) ------------------------------
class Strict(BaseModel):
    """A request body: a field the schema does not name is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


def _image(description: str = "An image file, base64-encoded (a `data:` URL is accepted too)") -> Any:
    return Field(min_length=4, description=description, json_schema_extra={"format": "byte"})


NAME = Field(min_length=1, max_length=200, json_schema_extra={"pattern": NAME_PATTERN},  # checked below
             description="A person's name: at least one visible character, no control or format character; "
                         "spaces around it are dropped")
METADATA = Field(default_factory=dict, description=f"Any JSON object, stored with the identity (a request "
                                                   f"is nested at most {MAX_JSON_DEPTH} levels deep)")


class NameChecks(Strict):
    @field_validator("name", check_fields=False)
    @classmethod
    def _visible(cls, name: str) -> str:
        """NAME_PATTERN's rule, with a message a person can read."""
        bad = sorted({f"U+{ord(c):04X}" for c in name if refused_in_names(c)})
        if bad:
            raise ValueError(f"a name may not hold control or format characters ({', '.join(bad)})")
        if not name.strip():
            raise ValueError("a name needs at least one visible character")
        return name
class CaptureSession(BaseModel):
    """The web page collector's summary of a capture session (static/collector.js, version 1): its
    sections are open objects; `vultus.sessions` reads the facts it knows from them."""

    model_config = ConfigDict(extra="allow")
    version: Literal[1] = Field(description="The collector's format version")
    track: dict[str, Any] = Field(description="The video track's label, settings and capabilities")
    frames: dict[str, Any] = Field(description="Frame timing statistics")
    image: dict[str, Any] = Field(description="Image statistics of sampled frames")


SESSION = Field(None, description="Optional: the capture-session summary of the web page's collector "
                "(checked for a virtual camera when liveness is required)")


class SessionFields(Strict):
    """The optional capture session of a request (a JSON object; in multipart, a JSON part)."""

    session: Optional[CaptureSession] = SESSION


class ImageJSON(Strict):
    image: str = _image()


class VerifyJSON(SessionFields):
    a: str = _image()
    b: str = _image()


class VerifyFields(SessionFields):
    """The non-image fields of a verify request (its JSON form names the images too)."""


class IdentifyJSON(SessionFields):
    image: str = _image()


class LivenessJSON(SessionFields):
    image: Optional[str] = Field(None, min_length=4, json_schema_extra={"format": "byte"},
                                 description="Optional: an image file, base64-encoded; leave it out to check a "
                                             "session alone")


class EnrollJSON(NameChecks):
    name: str = NAME
    images: list[str] = Field(min_length=1, description="Images of that person, base64 each",
                              json_schema_extra={"items": {"type": "string", "format": "byte", "minLength": 4}})
    metadata: dict[str, Any] = METADATA
    session: Optional[CaptureSession] = SESSION


class EnrollFields(NameChecks):
    """The non-image fields of an enroll request (multipart or JSON)."""

    name: str = NAME
    metadata: dict[str, Any] = METADATA
    session: Optional[CaptureSession] = SESSION


class FacesJSON(SessionFields):
    images: list[str] = Field(min_length=1, description="Images of that person, base64 each",
                              json_schema_extra={"items": {"type": "string", "format": "byte", "minLength": 4}})


class Rename(NameChecks):
    name: str = NAME


# -- responses -----------------------------------------------------------------------------------
class QualityOut(BaseModel):
    face_size: float
    sharpness: float
    yaw: float
    roll: float
    score: float


class FaceOut(BaseModel):
    box: list[float] = Field(description="x1, y1, x2, y2 in pixels")
    score: float
    landmarks: list[list[float]]
    quality: Optional[QualityOut] = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class DetectOut(BaseModel):
    width: int
    height: int
    faces: list[FaceOut]


class AnalyzeOut(DetectOut):
    analyzers: list[str] = Field(description="The analyzers whose results are in each face's attributes")


class LivenessFaceOut(BaseModel):
    input: Optional[str] = None
    box: Optional[list[float]] = None
    live: bool
    score: float = Field(description="Presentation attack detection score: higher is more likely live")
    threshold: float
    model: str


class SourceOut(BaseModel):
    check: str
    genuine: bool = Field(description="False: the capture session looks like a virtual camera")
    score: float = Field(description="Higher is more unlike authentic sessions")
    threshold: float
    reasons: list[dict[str, Any]]
    explanations: list[dict[str, Any]] = Field(default_factory=list, description="The features that differ most "
                                               "from the nearest authentic sessions")


class LivenessReportOut(BaseModel):
    passed: bool
    faces: list[LivenessFaceOut]
    source: Optional[SourceOut]
    notes: list[str] = Field(default_factory=list)


class LivenessOut(BaseModel):
    width: Optional[int] = None
    height: Optional[int] = None
    faces: list[LivenessFaceOut]
    source: Optional[SourceOut]


class VerifyOut(BaseModel):
    same: bool
    score: float
    threshold: float
    model: str
    target_far: Optional[float]
    liveness: Optional[LivenessReportOut] = None


class CandidateOut(BaseModel):
    identity: str
    score: float


class IdentificationOut(BaseModel):
    identity: Optional[str] = Field(description="The name, or null for an unknown face")
    known: bool
    score: Optional[float] = Field(description="The best candidate's score; null when the gallery is empty")
    threshold: float
    model: str
    target_far: Optional[float] = Field(description="The asked rate of unknown faces taken for someone, per search")
    comparison_far: Optional[float] = Field(description="The per-comparison FAR whose threshold decided")
    box: list[float]
    candidates: list[CandidateOut]
    liveness: Optional[LivenessReportOut] = None


class IdentifyOut(BaseModel):
    width: int
    height: int
    faces: list[IdentificationOut]


class IdentityOut(BaseModel):
    name: str
    faces: int
    metadata: dict[str, Any]
    created_at: float


class FaceRecordOut(BaseModel):
    face_id: int
    box: list[float]
    quality: Optional[dict[str, float]]
    source_sha256: Optional[str]
    created_at: float
    thumbnail: str = Field(description="URL of the face's JPEG thumbnail")


class IdentityDetailOut(IdentityOut):
    face_records: list[FaceRecordOut]


class SkippedOut(BaseModel):
    input: str
    reason: str


class EnrollOut(BaseModel):
    name: str
    added: int
    face_ids: list[int]
    skipped: list[SkippedOut]
    liveness: Optional[LivenessReportOut] = None


class RemovedOut(BaseModel):
    name: str
    removed_faces: int


class AuditOut(BaseModel):
    at: float
    actor: str
    action: str
    identity: Optional[str]
    detail: dict[str, Any]


class KeyOut(BaseModel):
    id: str
    name: str
    scope: Literal["read", "enroll", "admin"]
    created_at: float
    revoked: bool


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    filename: str
    frames_done: int
    frames_total: Optional[int]
    progress: Optional[float] = Field(description="0..1 when the frame count is known")
    created_at: float
    started_at: Optional[float]
    finished_at: Optional[float]
    error: Optional[str]
    result: Optional[str] = Field(description="URL of the result once done")


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str


class ReadyOut(BaseModel):
    ready: bool
    checks: dict[str, bool]
    detail: dict[str, str]


class VoteOut(BaseModel):
    identity: Optional[str]
    weight: float


class TrackOut(BaseModel):
    track_id: int
    identity: Optional[str] = Field(description="The gallery name, or null for an unknown person")
    score: Optional[float]
    first_frame: int
    last_frame: int
    first_time: float = Field(description="Seconds")
    last_time: float
    label: str = Field(description="The identity, 'unknown person N' (the same face across tracks), or 'unknown'")
    cluster: Optional[int]
    detections: int
    embedded: int
    votes: list[VoteOut]
    analysis: Optional[dict[str, Any]] = Field(None, description="Each asked analyzer's summary of the track")
    events: Optional[list[dict[str, Any]]] = Field(None, description="Timed events the analyzers saw")


class VideoResultOut(BaseModel):
    source: str = Field(description="The uploaded file's name")
    fps: float
    frames: int = Field(description="Frames analyzed")
    width: int
    height: int
    duration: Optional[float]
    rotation: int
    first_time: Optional[float]
    last_time: Optional[float]
    complete: bool
    error: Optional[str] = Field(description="Why decoding stopped early (a damaged or truncated file), else null")
    processing_seconds: float
    processing_fps: float
    settings: dict[str, Any]
    tracks: list[TrackOut]
