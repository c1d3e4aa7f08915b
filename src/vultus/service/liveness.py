"""Liveness in the service: `POST /v1/liveness`, and the liveness requirement of verify, identify and
enroll (asked per request with `?liveness=true`, or forced for every request by the server with
`vultus serve --require-liveness`; a client cannot turn a server's requirement off).

A request may carry a capture session (the web page's collector summary, `session`: a JSON object,
or JSON text in a multipart form); with a liveness requirement it is checked for a virtual camera.
A failed check answers 422 `liveness_failed` with the report; nothing is stored.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from ..liveness import LivenessCheck, LivenessError
from ..sessions import SessionError, check_session
from .keys import ApiKey
from .problems import Problem

LivenessQ = Query(False, description="Require live faces (presentation attack detection) and, when the request "
                  "carries a capture `session`, a genuine camera (virtual camera detection). A failure is a 422 "
                  "`liveness_failed` with the report. The server may require it for every request.")
SESSION_DOC = "The capture-session summary of the web page's collector (collector.js), as a JSON object"


class SessionField(BaseModel):
    """The optional capture session of a request (multipart: JSON text; JSON: an object)."""

    session: Optional[dict[str, Any] | str] = Field(None, description=SESSION_DOC)


def parse_session(value: Any) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    try:
        return dict(check_session(value))
    except SessionError as e:
        raise Problem(422, e.kind, str(e)) from None


def requirement(request: Request, asked: bool) -> LivenessCheck | None:
    """The server's liveness check when this request asks for one or the server requires it."""
    state = request.app.state.vultus
    return state.liveness if asked or state.settings.require_liveness else None


def make_check(settings) -> LivenessCheck:
    return LivenessCheck(source_model=settings.vcd_model, require_session=settings.require_session)


@contextmanager
def recording(settings, session: dict[str, Any] | None, route: str, key: ApiKey) -> Iterator[dict[str, Any]]:
    """Append the request's capture session and its verdict to the server's session log
    (`vultus serve --record-sessions DIR`), refused or not, so the deployment can label its own
    sessions and retrain (`vultus vcd train`). The route puts the verdict in the yielded dict."""
    box: dict[str, Any] = {}
    try:
        yield box
    except LivenessError as e:
        _append(settings, session, e.report.source, route, key)
        raise
    _append(settings, session, box.get("verdict"), route, key)


def verdict_of(result: Any) -> Any:
    """The session verdict inside a result's liveness report (None without one)."""
    report = getattr(result, "liveness", None)
    return report.source if report is not None else None


def _append(settings, session: dict[str, Any] | None, verdict: Any, route: str, key: ApiKey) -> None:
    if session is None or not settings.record_sessions:
        return
    import time

    folder = Path(settings.record_sessions)
    folder.mkdir(parents=True, exist_ok=True)
    line = {"label": None, "at": round(time.time(), 3), "route": route, "key": key.id, "session": session,
            "verdict": verdict.to_dict() if verdict is not None else None}
    with open(folder / time.strftime("sessions-%Y-%m-%d.jsonl", time.gmtime()), "a") as f:
        f.write(json.dumps(line) + "\n")


def install(read_scope) -> APIRouter:
    """The /v1/liveness route, with the caller's key checked by `read_scope` (routes.READ)."""
    from . import schemas as S
    from .routes import ERRORS, _body, _compute, _state
    from .uploads import decode, read_body

    router = APIRouter(prefix="/v1")

    @router.post("/liveness", response_model=S.LivenessOut, tags=["faces"], responses=ERRORS,
                 openapi_extra=_body(S.LivenessJSON, {"image": "one"}, {"session": SESSION_DOC + " (JSON text)"}))
    async def liveness(request: Request, key: ApiKey = Depends(read_scope)) -> dict[str, Any]:
        """Presentation attack detection on every face of an image and, if the request carries a
        capture `session`, virtual camera detection on it. Reports; never refuses (the image may be
        left out to check a session alone)."""
        fields, up = await read_body(request, {"image": (0, 1)}, SessionField)
        session = parse_session(fields.session)
        if not up["image"] and session is None:
            raise Problem(422, "invalid_request", "send an image, a capture session, or both")
        state = _state(request)

        def work():
            out: dict[str, Any] = {"faces": [], "source": None}
            if up["image"]:
                img = decode(up["image"][0], state.settings.max_pixels)
                faces = state.pipeline.detect(img)
                out.update(width=img.shape[1], height=img.shape[0])
                out["faces"] = [{"box": [round(float(v), 1) for v in f.box], **lv.to_dict()}
                                for f, lv in zip(faces, state.liveness.faces(img, faces))]
            with recording(state.settings, session, "liveness", key) as rec:
                rec["verdict"] = verdict = state.liveness.session(session)
            out["source"] = verdict.to_dict() if verdict is not None else None
            return out

        return await _compute(request, work)

    return router
