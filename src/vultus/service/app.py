"""The service: one FastAPI app over one shared Gallery (and its Pipeline), plus the web page.

The API is a thin layer: every route parses and checks its input, then calls the same core the CLI
calls, in a worker thread so the event loop stays free. Secure by default: every /v1 route except
health and readiness needs an API key of the right scope; bodies, images and request rates are
limited; CORS is closed; no request ever names a file on the server.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..gallery import Gallery
from ..pipeline import Pipeline
from . import problems
from .decoding import DecodeGate
from .jobs import JobManager
from .keys import KeyStore
from .ratelimit import RateLimiter
from .uploads import BodyLimit

STATIC = Path(__file__).parent / "static"
MiB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    max_upload_bytes: int = 20 * MiB  # one image request (enroll may carry several images)
    max_video_bytes: int = 500 * MiB  # one video upload
    max_pixels: int = 16_000_000  # per image, checked from its header before decoding (JPEG: 4x, at half size)
    decode_budget_pixels: int = 0  # large images decoded and held at once; 0: max_pixels
    small_pixels: int = 4_000_000  # images up to this size are decoded without waiting for that budget
    max_images: int = 20  # per enroll request
    rate: float = 10.0  # requests per second per key, on average; 0 turns limiting off
    burst: int = 20  # requests a key may send at once after being idle
    cors_origins: tuple[str, ...] = ()  # none: browsers may call the API only from this server's page
    compute_threads: int = field(default_factory=lambda: max(2, os.cpu_count() or 2))
    max_video_jobs: int = 4  # waiting in the queue; one runs at a time
    default_far: float = 1e-3
    require_liveness: bool = False  # every verify / identify / enroll must pass the liveness check
    require_session: bool = False  # ...and carry a capture session (the web page's collector)
    vcd_model: str | None = None  # a VCD model of this deployment's own (`vultus vcd train`)
    record_sessions: str | None = None  # a folder: append every received capture session (JSON lines)


class State:
    """What the routes share: one gallery, its pipeline, the keys, the limiter, the video jobs."""

    def __init__(self, gallery: Gallery, keys: KeyStore, settings: Settings,
                 detector_options: dict[str, Any] | None = None):
        self.gallery = gallery
        # One pipeline for every compute thread: the model runtime gives each thread its own
        # inference request, so requests run side by side without locks or per-thread copies.
        self.pipeline = gallery.pipeline
        self.pipeline.embedders  # load the models now, not on the first request
        self.keys = keys
        self.settings = settings
        self.limiter = RateLimiter(settings.rate, settings.burst)
        self.decoding = DecodeGate(settings.max_pixels, settings.decode_budget_pixels or settings.max_pixels,
                                   settings.small_pixels)
        self.jobs = JobManager(self._run_video, max_queued=settings.max_video_jobs)
        from .liveness import make_check

        self.liveness = make_check(settings)  # its models load on first use
        self._compute = None

    @property
    def compute(self):
        """Caps how many requests run models at once; made lazily inside the event loop."""
        if self._compute is None:
            import anyio

            self._compute = anyio.CapacityLimiter(self.settings.compute_threads)
        return self._compute

    def _run_video(self, job, progress) -> dict[str, Any]:
        from ..video import analyze_video

        from ..video.decode import VideoError

        # the server's temp path means nothing to the client and tells it about the server: every
        # message and field names the client's file instead
        result = _replace_text(analyze_video(job.path, self.gallery, progress=progress, **job.options).to_dict(),
                               str(job.path), job.filename)
        result["source"] = job.filename
        if not result.get("frames"):  # nothing decoded: a failed job, not an empty success
            raise VideoError(result.get("error") or f"{job.filename}: no frame could be decoded")
        names = sorted({t["identity"] for t in result.get("tracks", []) if t.get("identity")})
        self.gallery.store.audit(job.owner, "identify_video", None,
                                 {"job": job.id, "file": job.filename, "tracks": len(result.get("tracks", [])),
                                  "identities": names})
        return result

    def close(self) -> None:
        self.jobs.close()
        self.keys.close()
        self.gallery.close()


def _replace_text(value: Any, old: str, new: str) -> Any:
    """`value` (JSON-like) with `old` replaced by `new` in every string it holds."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _replace_text(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_text(v, old, new) for v in value]
    return value


class SecurityHeaders:
    """Headers that keep the page and the API from being framed, sniffed or fed foreign scripts."""

    PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
                "connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; "
                "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
    # Swagger UI starts itself with an inline script; it gets its own, looser policy
    DOCS_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'")

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        csp = self.DOCS_CSP if scope["path"].startswith("/docs") else self.PAGE_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                            (b"x-frame-options", b"DENY"), (b"content-security-policy", csp.encode()),
                            (b"permissions-policy", b"camera=(self), microphone=(), geolocation=()")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(gallery_path: str | Path, settings: Settings | None = None, *, pipeline: Pipeline | None = None,
               recognizer: str | None = None, detector: str = "yunet",
               detector_options: dict[str, Any] | None = None, search_index: str = "auto") -> FastAPI:
    """The app over the gallery file at `gallery_path` (created if new). Pass `pipeline` to share
    already loaded models (tests do); otherwise the gallery's recognizer is loaded once here, with
    `detector_options` (e.g. fewer detection scales for speed) if given."""
    settings = settings or Settings()
    gallery = Gallery(gallery_path, recognizer=recognizer, detector=detector, pipeline=pipeline, index=search_index)
    if pipeline is None and detector_options:
        # the gallery decides the recognizer; the detector settings are this server's own
        pipeline = Pipeline(detector, gallery.recognizer, detector_options=detector_options)
        gallery.close()
        gallery = Gallery(gallery_path, detector=detector, pipeline=pipeline, index=search_index)
    state = State(gallery, KeyStore(gallery_path), settings, detector_options)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        state.close()

    app = build_api(settings, lifespan)
    app.state.vultus = state
    return app


def openapi_document(settings: Settings | None = None) -> dict[str, Any]:
    """The OpenAPI document a server with these settings serves at /openapi.json (no gallery needed)."""
    return build_api(settings or Settings()).openapi()


def build_api(settings: Settings, lifespan: Any = None) -> FastAPI:
    """The routes, pages, middleware and API document; `create_app` adds the state they serve."""
    from ..models import registry
    from ..models.registry import Task
    from ..pipeline import known_analyzers
    from . import liveness, routes
    from .openapi import MethodNotAllowed, document

    app = FastAPI(title="vultus", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Offline face detection, verification and identification over one gallery. "
                              "Every /v1 route but health and readiness needs an API key "
                              "(`vultus keys create --scope read|enroll|admin`), sent as "
                              "`Authorization: Bearer <key>` or `X-API-Key: <key>` (both at once only if "
                              "they carry the same key; two different keys are a 401). Images are sent as "
                              "multipart/form-data files or as base64 in a JSON body. Errors are problem "
                              "details (application/problem+json) whose `kind` a client can branch on. "
                              "A change that would break a client gets a new path prefix; /v1 only grows.")
    problems.install(app)
    app.include_router(routes.router)
    app.include_router(liveness.install(routes.READ))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            face = known_analyzers()
            track = face + [s.name for s in registry.specs(Task.TRACK_ANALYZER)]
            app.openapi_schema = document(app, settings.max_images, {"analyze": face, "create_video_job": track})
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    # -- the web page and the offline API docs -----------------------------------------------------
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    docs_assets = _docs_assets()
    if docs_assets:
        app.mount("/docs-assets", StaticFiles(directory=docs_assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        if not docs_assets:  # the page would load Swagger UI from a CDN; say where the spec is instead
            return HTMLResponse("<p>Swagger UI is not installed (pip install fastapi-offline); the API "
                                "description is at <a href='/openapi.json'>/openapi.json</a>.</p>")
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title="vultus API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon.png")

    # -- middleware (the last added runs first) ----------------------------------------------------
    app.add_middleware(MethodNotAllowed, document=app.openapi)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    app.add_middleware(BodyLimit, limit_for=lambda path: (
        settings.max_video_bytes if path.startswith("/v1/video") else settings.max_upload_bytes))
    app.add_middleware(SecurityHeaders)
    return app


def _docs_assets() -> Path | None:
    """Swagger UI's files from the fastapi-offline package, so /docs works without a network."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    path = Path(fastapi_offline.__file__).parent / "static"
    return path if (path / "swagger-ui-bundle.js").is_file() else None
