"""The API contract: the parts of the OpenAPI document FastAPI cannot derive from the code alone.

Clients are generated from this document and fuzzers test the server against it, so it must tell
the whole truth: every status a route can answer with (problem details, `application/problem+json`),
the request bodies (both forms: multipart files, or JSON with base64), required fields, formats and
limits, the two ways to send a key, and links from what creates a resource to what reads, changes
or deletes it. `vultus serve --write-openapi docs/openapi.json` writes it; a test compares the
committed copy with what the server serves. A change that breaks clients gets a new path prefix
(`/v2`), never an edit of `/v1`.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any, Callable

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Receive, Scope, Send

from . import schemas as S
from .problems import MEDIA_TYPE, problem_response

PROBLEM_REF = {"$ref": "#/components/schemas/ProblemBody"}

# why each status happens, for the document; the route's own description says more
WHEN = {
    400: "A body that is not valid JSON, a malformed multipart form, or a name or metadata the gallery refuses",
    401: "No key, an unknown or revoked key, or two different keys in X-API-Key and Authorization",
    403: "The key's scope is too low (the detail names the scope needed)",
    404: "No such identity, face, key or video job",
    409: "The new name is taken, or the video job is not done",
    413: "A body, an image's pixels, or the number of images or form fields over the limit",
    415: "A body that is neither multipart/form-data nor application/json (or not JSON where only JSON is taken)",
    422: "A field or parameter outside the schema, an image that cannot be read (`bad_image`) or has no "
         "usable face (`poor_quality`, with `reasons`)",
    429: "Over the key's request rate",
    503: "The server cannot do this now: no calibrated thresholds, video support not installed, or the video queue is full",
}
HEADERS = {
    401: {"WWW-Authenticate": {"description": "Always `Bearer`", "required": True, "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait", "required": True, "schema": {"type": "integer"}}},
    503: {"Retry-After": {"description": "Seconds to wait, when the video queue is full", "required": False,
                          "schema": {"type": "integer"}}},
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for these error statuses, each a problem-details body."""
    return {code: {"description": f"{HTTPStatus(code).phrase}. {WHEN[code]}.",
                   "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}}, **({"headers": HEADERS[code]} if code in HEADERS else {})}
            for code in codes}


KEYED = (401, 429)  # every route that needs a key
WRITES = (401, 403, 429)  # every route that needs more than the read scope


# -- request bodies ----------------------------------------------------------------------------------
def binary(description: str) -> dict[str, Any]:
    return {"type": "string", "format": "binary", "minLength": 1, "description": description}


def image_body(json_model: type, files: dict[str, str], fields: dict[str, dict[str, Any]] | None = None,
               required: tuple[str, ...] | None = None, example: dict[str, Any] | None = None) -> dict[str, Any]:
    """`openapi_extra` for a body taken as multipart files or as JSON with base64 text: `files`
    maps a field to "one" or "many" (an array; its maxItems is set from the server's settings)."""
    props: dict[str, Any] = {}
    for name, how in files.items():
        one = binary("An image file (JPEG, PNG, WebP, HEIC, ...)")
        props[name] = one if how == "one" else {"type": "array", "items": one, "minItems": 1,
                                                  "x-vultus-max-images": True}
    props.update(fields or {})
    multipart: dict[str, Any] = {"schema": {"type": "object", "properties": props,
                                            "required": list(required or files), "additionalProperties": False}}
    json_names = [n for n, p in props.items() if p.get("type") == "object"]
    if json_names:  # object fields travel as JSON text parts
        multipart["encoding"] = {n: {"contentType": "application/json"} for n in json_names}
    content = {"multipart/form-data": multipart, "application/json": {"schema": _ref(json_model)}}
    if example:
        content["application/json"]["example"] = example
    return {"requestBody": {"required": True, "content": content}}


def json_body(model: type, example: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"schema": _ref(model)}
    if example:
        body["example"] = example
    return {"requestBody": {"required": True, "content": {"application/json": body}}}


def video_body() -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": {"video": binary("A video file (MP4, MOV, MKV, WebM, AVI, ...)")},
        "required": ["video"], "additionalProperties": False}}}}}


REQUEST_MODELS: dict[str, type] = {}  # JSON request bodies, added to the document's components


def _ref(model: type) -> dict[str, str]:
    REQUEST_MODELS[model.__name__] = model
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def link(operation: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation, "parameters": parameters}


# -- the document ------------------------------------------------------------------------------------
def document(app: FastAPI, max_images: int, analyzers: dict[str, list[str]]) -> dict[str, Any]:
    """The OpenAPI document of `app`, with the values that depend on this server's settings and
    installed models (`analyzers`: the names each operation's `analyzers` parameter takes)."""
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                      tags=app.openapi_tags)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for model in (S.ProblemBody, *REQUEST_MODELS.values()):
        # nested models (e.g. a request's capture session) become components of their own
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    for name in list(schemas):
        _set_max_images(schemas[name], max_images)
    doc["components"]["schemas"] = dict(sorted(schemas.items()))
    for path in doc["paths"].values():
        for op in path.values():
            for content in op.get("requestBody", {}).get("content", {}).values():
                _set_max_images(content.get("schema", {}), max_images)
            for param in op.get("parameters", []):
                if param["name"] == "analyzers":
                    known = analyzers.get(op["operationId"], [])
                    names = "|".join(re.escape(a) for a in known)
                    # a comma-separated list of known names (empty: the default)
                    param["schema"] = {"anyOf": [{"type": "string", "pattern": f"^({names})(,({names}))*$"
                                                  if known else "^$"}, {"type": "null"}],
                                       "description": param["schema"].get("description", "")}
    return doc


def _set_max_images(schema: dict[str, Any], max_images: int) -> None:
    for name, prop in schema.get("properties", {}).items():
        if prop.pop("x-vultus-max-images", False) or (name == "images" and prop.get("type") == "array"):
            prop["maxItems"] = max_images


# -- 405 with the right Allow header -------------------------------------------------------------------
class MethodNotAllowed:
    """ASGI middleware: a method the document does not list for a path gets 405 with an `Allow`
    header naming exactly the methods it does list.

    Starlette alone answers from the first route whose path matches, so `Allow` named one method
    of three, and a name route (`{name:path}`, names may hold slashes) took `GET .../x/faces` for
    the identity 'x/faces'. Here paths are matched as the document writes them: one path segment
    per parameter, on the raw path, where a slash inside a name is still `%2F`.
    """

    def __init__(self, app: ASGIApp, document: Callable[[], dict[str, Any]]):
        self.app = app
        self._document = document
        self._table: list[tuple[re.Pattern[str], set[str]]] | None = None

    def _build(self) -> list[tuple[re.Pattern[str], set[str]]]:
        return [(re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"),
                 {m.upper() for m in ops})
                for path, ops in self._document()["paths"].items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self._table is None:
                self._table = self._build()
            raw = scope.get("raw_path") or scope["path"].encode()
            path = raw.decode("latin-1").partition("?")[0]
            allowed = set().union(*[m for rx, m in self._table if rx.match(path)])
            method = scope["method"]
            if allowed and method not in allowed and not (method == "HEAD" and "GET" in allowed):
                methods = ", ".join(sorted(allowed))
                response = problem_response(405, "method_not_allowed", f"{method} is not allowed here; "
                                            f"allowed: {methods}", headers={"Allow": methods})
                return await response(scope, receive, send)
        await self.app(scope, receive, send)
