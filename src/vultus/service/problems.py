"""Every error leaves the API as a problem-details body (RFC 9457), never as a traceback.

`type` is a URN built from the error's kind (`urn:vultus:problem:bad_image`), so a client can
branch on it without parsing English; `detail` is the same sentence the CLI would print.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import GalleryError, ImageError, ModelError, NotFoundError, QualityError, VultusError
from ..liveness import LivenessError
from ..sessions import SessionError

log = logging.getLogger("vultus.service")

MEDIA_TYPE = "application/problem+json"

# a user's error -> the status it gets; the most specific class first
STATUS: list[tuple[type[VultusError], int]] = [
    (NotFoundError, 404),
    (QualityError, 422),
    (ImageError, 422),
    (LivenessError, 422),  # a presentation attack or a virtual camera: refused, the report says why
    (SessionError, 422),
    (GalleryError, 400),
    (ModelError, 503),  # the server's models or calibration are missing: not the caller's fault
]


class Problem(Exception):
    """Raise anywhere in a route to answer with this status and problem body."""

    def __init__(self, status: int, kind: str, detail: str, headers: dict[str, str] | None = None,
                 **extra: Any):
        super().__init__(detail)
        self.status, self.kind, self.detail, self.headers, self.extra = status, kind, detail, headers, extra


def problem_response(status: int, kind: str, detail: str, headers: dict[str, str] | None = None,
                     **extra: Any) -> JSONResponse:
    body = {"type": f"urn:vultus:problem:{kind}", "title": HTTPStatus(status).phrase, "status": status,
            "detail": detail, "kind": kind, **extra}
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def status_of(error: VultusError) -> int:
    return next((s for cls, s in STATUS if isinstance(error, cls)), 400)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, e: Problem) -> JSONResponse:
        return problem_response(e.status, e.kind, e.detail, e.headers, **e.extra)

    @app.exception_handler(VultusError)
    async def _vultus(_: Request, e: VultusError) -> JSONResponse:
        extra = {"reasons": e.reasons} if isinstance(e, QualityError) else {}
        if isinstance(e, LivenessError):
            extra = {"liveness": e.report.to_dict()}
        return problem_response(status_of(e), e.kind, str(e), **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(err.get("loc", ())), "msg": err.get("msg", "")} for err in e.errors()]
        detail = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in errors) or "invalid request"
        return problem_response(422, "invalid_request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        return problem_response(e.status_code, kind, str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, e: Exception) -> JSONResponse:
        # a bug: log it with its traceback on the server, answer without one
        log.exception("unhandled error")
        return problem_response(500, "internal", "internal server error; the server log has the details")
