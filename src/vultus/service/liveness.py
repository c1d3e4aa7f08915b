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
from typing import Any, Iterator

from fastapi import APIRouter, Depends, Query, Request

from ..liveness import LivenessCheck, LivenessError
from ..sessions import SessionError, check_session
from .keys import ApiKey
from .problems import Problem

LivenessQ = Query(False, description="Require live faces (presentation attack detection) and, when the request "
                  "carries a capture `session`, a genuine camera (virtual camera detection). A failure is a 422 "
                  "`liveness_failed` with the report. The server may require it for every request.")
SESSION_DOC = "The capture-session summary of the web page's collector (collector.js), as a JSON object"


#: the `session` field of a multipart request body in the API document (a JSON part)
SESSION_FIELD = {"session": {"type": "object", "allOf": [{"$ref": "#/components/schemas/CaptureSession"}],
                             "description": SESSION_DOC + " (a JSON part)"}}


def parse_session(value: Any) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    if hasattr(value, "model_dump"):  # validated against schemas.CaptureSession
        value = value.model_dump()
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
    from .decoding import Decoded, rescale
    from .openapi import KEYED, image_body, problems
    from .routes import _compute, _state
    from .uploads import read_body

    router = APIRouter(prefix="/v1", generate_unique_id_function=lambda route: route.name)

    @router.post("/liveness", response_model=S.LivenessOut, tags=["faces"],
                 responses=problems(400, *KEYED, 413, 415, 422),
                 openapi_extra=image_body(S.LivenessJSON, {"image": "one"}, SESSION_FIELD, required=()))
    async def liveness(request: Request, key: ApiKey = Depends(read_scope)) -> dict[str, Any]:
        """Presentation attack detection on every face of an image and, if the request carries a
        capture `session`, virtual camera detection on it. Reports; never refuses (the image may be
        left out to check a session alone)."""
        fields, up = await read_body(request, {"image": (0, 1)}, S.SessionFields)
        session = parse_session(fields.session)
        if not up["image"] and session is None:
            raise Problem(422, "invalid_request", "send an image, a capture session, or both")
        state = _state(request)

        def work(image: Decoded | None):
            out: dict[str, Any] = {"faces": [], "source": None}
            if image is not None:
                faces = state.pipeline.detect(image.array)
                out.update(width=image.width, height=image.height)
                out["faces"] = [rescale({"box": [round(float(v), 1) for v in f.box], **lv.to_dict()}, image.scale)
                                for f, lv in zip(faces, state.liveness.faces(image.array, faces))]
            with recording(state.settings, session, "liveness", key) as rec:
                rec["verdict"] = verdict = state.liveness.session(session)
            out["source"] = verdict.to_dict() if verdict is not None else None
            return out

        if not up["image"]:
            return await _compute(request, work, None)
        async with state.decoding.decoded(up["image"], state.compute) as (image,):
            return await _compute(request, work, image)

    return router
