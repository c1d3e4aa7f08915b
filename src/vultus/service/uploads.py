"""Getting images out of requests: multipart files or base64 in JSON, both within limits.

The body size is limited while it streams in (so a 2 GB upload is refused after the first chunk
past the limit, not after it filled the disk); the pixels are limited before and while decoding
(`decoding.py`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import Problem, problem_response


@dataclass(frozen=True)
class Upload:
    field: str
    label: str  # for messages only: the field and the client's file name, never used as a path
    data: bytes


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: 413 for a request body over its limit, from Content-Length or as it streams.

    `limit_for(path)` picks the limit, so video uploads may be larger than image requests.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope["path"])
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await self._refuse(scope, receive, send, limit)
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge()
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send, limit)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(413, "too_large", f"request body over the {limit} byte limit of this endpoint",
                                    headers={"Connection": "close"})
        await response(scope, receive, send)


def clean_label(field: str, filename: str | None) -> str:
    """'image (photo.jpg)': the field and the base name the client gave, printable and short."""
    if not filename:
        return field
    name = re.split(r"[\\/]", filename)[-1]
    name = "".join(c for c in name if c.isprintable())[:80]
    return f"{field} ({name})" if name else field


def decode_base64(field: str, text: str) -> bytes:
    """Plain base64 or a data URL (data:image/jpeg;base64,...), as browsers produce."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        data = base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except (binascii.Error, ValueError):
        raise Problem(422, "bad_image", f"{field}: not valid base64") from None
    if not data:
        raise Problem(422, "bad_image", f"{field}: empty")
    return data


JSON_FIELDS = ("metadata", "session")


async def read_body(request: Request, files: dict[str, tuple[int, int]], model: type[BaseModel] | None = None,
                    lists: tuple[str, ...] = ()) -> tuple[Any, dict[str, list[Upload]]]:
    """Parse a multipart form or a JSON body into (the validated other fields, the uploads by field).

    `files` maps each image field to how many images it takes (at least, at most). In JSON a file
    field holds base64 text, or a list of them for the fields in `lists`; in multipart, files (or
    base64 text). Any other field is an error unless `model` names it.
    """
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    uploads: dict[str, list[Upload]] = {f: [] for f in files}
    fields: dict[str, Any] = {}
    most = sum(hi for _, hi in files.values())
    if ctype == "multipart/form-data":
        form = await read_form(request, max_files=most, max_fields=20)
        try:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if key not in uploads:
                        raise Problem(422, "invalid_request", f"unexpected file field {key!r}")
                    uploads[key].append(Upload(key, clean_label(key, value.filename), await value.read()))
                elif key in files:  # a text field where a file was expected: base64
                    uploads[key].append(Upload(key, key, decode_base64(key, value)))
                elif key in JSON_FIELDS:  # objects travel as JSON text parts
                    fields[key] = _json_field(key, value)
                else:
                    fields[key] = value
        finally:
            await form.close()
    elif ctype == "application/json":
        raw = parse_json(await request.body())
        if not isinstance(raw, dict):
            raise Problem(422, "invalid_request", "the JSON body must be an object")
        for key, (_, most_of_key) in files.items():
            value = raw.pop(key, None)
            many = key in lists
            if value is not None and isinstance(value, list) != many:
                raise Problem(422, "invalid_request", f"{key}: expected {'a list of base64 texts' if many else 'base64 text'}")
            values = [] if value is None else value if many else [value]
            for i, v in enumerate(values[:most_of_key + 1]):
                if not isinstance(v, str):
                    raise Problem(422, "invalid_request", f"{key}: expected base64 text")
                label = key if len(values) == 1 else f"{key}[{i}]"
                uploads[key].append(Upload(key, label, decode_base64(label, v)))
        fields = raw
    else:
        raise Problem(415, "unsupported_media_type", "send multipart/form-data (files) or application/json "
                      f"(base64), not {ctype or 'no content type'}")
    for key, (lo, hi) in files.items():
        if len(uploads[key]) < lo:
            raise Problem(422, "invalid_request", f"missing image field {key!r}")
        if len(uploads[key]) > hi:
            raise Problem(413, "too_large", f"{key}: at most {hi} image(s) per request")
    if model is None and fields:
        raise Problem(422, "invalid_request", f"unexpected field(s) {', '.join(map(repr, fields))}")
    return (None if model is None else validated(model, fields)), uploads


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], value: Any) -> M:
    """`value` checked against `model`, or a 422 naming each field that is wrong."""
    try:
        return model.model_validate(value)
    except ValidationError as e:
        raise Problem(422, "invalid_request", "; ".join(
            f"{'.'.join(map(str, x['loc'])) or 'body'}: {x['msg']}" for x in e.errors())) from None


def _json_field(key: str, value: str) -> Any:
    try:
        return parse_json(value, key)
    except Problem as e:
        raise Problem(422, e.kind, e.detail) from None


async def json_body(request: Request) -> Any:
    """The parsed JSON body of a request that must send JSON (415 for anything else)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise Problem(415, "unsupported_media_type", f"send application/json, not {ctype or 'no content type'}")
    return parse_json(await request.body())


#: Deeper JSON is refused: nobody needs it, and Python's parser and encoder recurse on nesting.
MAX_JSON_DEPTH = 32


def parse_json(raw: bytes | str, what: str = "the body") -> Any:
    """The JSON value of `raw`: 400 if it is not JSON, 422 if nested deeper than MAX_JSON_DEPTH."""
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Problem(400, "invalid_request", f"{what} is not valid JSON") from None
    except RecursionError:  # far deeper than the limit
        raise Problem(422, "invalid_request", f"{what}: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise Problem(422, "invalid_request", f"{what}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def json_depth(value: Any) -> int:
    """Levels of arrays and objects in a parsed JSON value (a scalar is 0), without recursion."""
    depth, level = 0, [(value, 1)]
    while level:
        item, d = level.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            depth = max(depth, d)
            level.extend((c, d + 1) for c in children)
    return depth


async def read_form(request: Request, max_files: int, max_fields: int):
    """The multipart (or urlencoded) form, with more files or fields than allowed a 413, as the
    count checks after parsing say, and a malformed form a 400."""
    try:
        return await request.form(max_files=max_files, max_fields=max_fields)
    except StarletteHTTPException as e:
        detail = str(e.detail)
        if detail.startswith("Too many files"):
            raise Problem(413, "too_large", f"at most {max_files} file(s) per request") from None
        if detail.startswith("Too many fields"):
            raise Problem(413, "too_large", f"at most {max_fields} form field(s) per request") from None
        raise Problem(400, "invalid_request", f"malformed form body: {detail}") from None
