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


class VerifyJSON(BaseModel):
    a: str = B64
    b: str = B64


class EnrollJSON(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    images: list[str] = Field(min_length=1, description="Images of that person, base64 each")
    metadata: dict[str, Any] = Field(default_factory=dict)


class EnrollFields(BaseModel):
    """The non-image fields of an enroll request (multipart or JSON)."""

    name: str = Field(min_length=1, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)


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


class VerifyOut(BaseModel):
    same: bool
    score: float
    threshold: float
    model: str
    target_far: Optional[float]


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
