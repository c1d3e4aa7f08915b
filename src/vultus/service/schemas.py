"""Typed request and response bodies. They mirror the core's `to_dict()` outputs field for field."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, Field


class ProblemBody(BaseModel):
    type: str = Field(examples=["urn:vultus:problem:bad_image"])
    title: str
    status: int
    detail: str
    kind: str


# -- requests (JSON forms; the same fields are accepted as multipart) ------------------------------
B64 = Field(description="The image as base64, or a data: URL")


class ImageJSON(BaseModel):
    image: str = B64


SessionDoc = Field(None, description="Optional: the web page collector's capture-session summary (checked for a "
                   "virtual camera when liveness is required)")


class VerifyJSON(BaseModel):
    a: str = B64
    b: str = B64
    session: Optional[dict[str, Any]] = SessionDoc


class IdentifyJSON(ImageJSON):
    session: Optional[dict[str, Any]] = SessionDoc


class LivenessJSON(BaseModel):
    image: Optional[str] = Field(None, description="The image as base64, or a data: URL")
    session: Optional[dict[str, Any]] = SessionDoc


class EnrollJSON(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    images: list[str] = Field(min_length=1, description="Images of that person, base64 each")
    metadata: dict[str, Any] = Field(default_factory=dict)
    session: Optional[dict[str, Any]] = SessionDoc


class EnrollFields(BaseModel):
    """The non-image fields of an enroll request (multipart or JSON)."""

    name: str = Field(min_length=1, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)
    session: Optional[dict[str, Any] | str] = None


class FacesJSON(BaseModel):
    images: list[str] = Field(min_length=1)


class Rename(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="The new name")


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
    score: float
    threshold: float
    model: str
    target_far: Optional[float]
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
