"""`vultus serve` (the REST API and web page) and `vultus keys create|list|revoke`."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Optional

import typer

from .common import JsonOpt, emit, err, fail, out, table

GalleryOpt = typer.Option(..., "--gallery", "-g", help="Gallery file (SQLite); created if new.")

keys = typer.Typer(no_args_is_help=True, help="API keys of the service: create, list, revoke.")


def register(app: typer.Typer) -> None:
    app.add_typer(keys, name="keys")

    @app.command()
    def serve(gallery: Optional[Path] = typer.Option(None, "--gallery", "-g", help="Gallery file (SQLite); created if new."),
              host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; loopback by default."),
              port: int = typer.Option(8000, "--port", "-p"),
              workers: Optional[int] = typer.Option(None, "--workers", "-w",
                                                    help="Requests running models at once (default: CPU cores)."),
              max_upload_mb: float = typer.Option(20, "--max-upload-mb", help="Largest image request body."),
              max_video_mb: float = typer.Option(500, "--max-video-mb", help="Largest video upload."),
              max_pixels: int = typer.Option(16_000_000, "--max-pixels",
                                             help="Largest image decoded, in pixels (a JPEG up to 4x this is "
                                                  "decoded at half size)."),
              max_connections: int = typer.Option(1000, "--max-connections", min=16,
                                                  help="Open connections at once; past it, the longest idle "
                                                       "ones are closed to make room."),
              header_timeout: float = typer.Option(10, "--header-timeout", min=0.1,
                                                   help="Seconds a client has to send a request's headers, "
                                                        "from connecting or from its previous response."),
              keep_alive: float = typer.Option(5, "--keep-alive", min=0.1,
                                               help="Seconds an idle keep-alive connection stays open."),
              rate: float = typer.Option(10, "--rate", help="Requests per second per key (0: no limit)."),
              burst: int = typer.Option(20, "--burst", help="Requests a key may send at once."),
              cors_origin: Optional[list[str]] = typer.Option(None, "--cors-origin",
                                                              help="Allow browser calls from this origin "
                                                                   "(repeatable); none by default."),
              index: str = typer.Option("auto", "--index", help="Search backend: auto, exact, hnsw, usearch, "
                                        "milvus (Milvus Lite beside the gallery) or milvus://HOST:PORT."),
              recognizer: Optional[str] = typer.Option(None, "--recognizer", "-r",
                                                       help="Recognizer of a new gallery (default sface)."),
              detect_scales: str = typer.Option(
                  "1.0", "--detect-scales", help="Detector scales. The service runs one (faces small "
                  "enough to need the still-image default's extra 1.5x pass, 20-40 px, are below what "
                  "identification can use); '1.0,1.5' finds them too, at about twice the CPU per image."),
              require_liveness: bool = typer.Option(False, "--require-liveness", help="Every verify, identify and "
                                                    "enroll must pass presentation attack detection (and virtual "
                                                    "camera detection when it carries a capture session)."),
              require_session: bool = typer.Option(False, "--require-session", help="With --require-liveness: "
                                                   "refuse requests without a capture session (web page only)."),
              vcd_model: Optional[Path] = typer.Option(None, "--vcd-model", help="A virtual camera model of your "
                                                       "own (`vultus vcd train`) instead of the shipped one."),
              record_sessions: Optional[Path] = typer.Option(None, "--record-sessions", help="Append every capture "
                                                             "session received to JSON-lines files in this folder "
                                                             "(label them, then `vultus vcd train`)."),
              log_level: str = typer.Option("info", "--log-level"),
              write_openapi: Optional[Path] = typer.Option(
                  None, "--write-openapi", help="Write the OpenAPI document this server would serve to this "
                  "file (docs/openapi.json) and exit; no gallery needed.")) -> None:
        """Serve the REST API (/v1, docs at /docs) and the web page (/) over one gallery."""
        import uvicorn

        from ..service import Settings, create_app
        from ..service.connections import uvicorn_options

        if not _loopback(host):
            err.print(f"[yellow]warning:[/] binding {host}: other machines can reach this server. Keys are "
                      "required, but traffic is plain HTTP: put a TLS proxy in front of it.")
        defaults = Settings()
        settings = Settings(max_upload_bytes=int(max_upload_mb * 2**20), max_video_bytes=int(max_video_mb * 2**20),
                            max_pixels=max_pixels, rate=rate, burst=burst, cors_origins=tuple(cors_origin or ()),
                            compute_threads=workers or defaults.compute_threads,
                            require_liveness=require_liveness, require_session=require_session,
                            vcd_model=str(vcd_model) if vcd_model else None,
                            record_sessions=str(record_sessions) if record_sessions else None)
        if require_session and not require_liveness:
            raise typer.BadParameter("needs --require-liveness", param_hint="--require-session")
        if vcd_model is not None and not vcd_model.is_file():
            fail(f"{vcd_model}: no such VCD model file")
        if write_openapi:
            import json

            from ..service.app import openapi_document

            write_openapi.write_text(json.dumps(openapi_document(settings), indent=2, ensure_ascii=False) + "\n")
            err.print(f"wrote {write_openapi}")
            return
        if gallery is None:
            raise typer.BadParameter("give the gallery file to serve", param_hint="--gallery")
        try:
            options = {"scales": tuple(float(x) for x in detect_scales.split(","))}
        except ValueError:
            raise typer.BadParameter(f"{detect_scales!r}: give numbers such as 1.0 or 1.0,1.5",
                                     param_hint="--detect-scales") from None
        application = create_app(gallery, settings, recognizer=recognizer, detector_options=options,
                                 search_index=index)
        state = application.state.vultus
        if not any(k.revoked_at is None for k in state.keys.list()):
            err.print(f"[yellow]no API keys yet:[/] create one with `vultus keys create --gallery {gallery} "
                      "--scope admin`; every /v1 call but health needs one.")
        err.print(f"vultus {state.gallery.recognizer.key} on {len(state.gallery.identities())} identities: "
                  f"http://{host}:{port}/  (API docs: /docs)")
        # one process: the gallery index, the rate limits and the video jobs live in its memory
        uvicorn.run(application, host=host, port=port, log_level=log_level, workers=1, timeout_graceful_shutdown=10,
                    server_header=False, **uvicorn_options(header_timeout, keep_alive, max_connections))

    @keys.command("create")
    def create(gallery: Path = GalleryOpt,
               scope: str = typer.Option(..., "--scope", "-s", help="read | enroll | admin (each includes the one before)."),
               name: str = typer.Option("", "--name", "-n", help="Who or what the key is for."),
               json_out: bool = JsonOpt) -> None:
        """Create a key. It is shown once; only its salted hash is stored."""
        from ..gallery.store import Store
        from ..service.keys import SCOPES, KeyStore

        if scope not in SCOPES:
            raise typer.BadParameter(f"{scope!r}; choose one of {', '.join(SCOPES)}", param_hint="--scope")
        store = KeyStore(gallery)
        key, text = store.create(scope, name)
        store.close()
        audit = Store(gallery)
        audit.audit("local", "create_key", None, {"key": key.id, "scope": key.scope, "name": key.name})
        audit.close()
        if json_out:
            emit({**key.to_dict(), "key": text})
        else:
            out.print(text)
            err.print(f"key {key.id} ({key.scope}) created; it is shown only this once, store it safely")

    @keys.command("list")
    def list_cmd(gallery: Path = GalleryOpt, json_out: bool = JsonOpt) -> None:
        """Every key: id, name, scope, revoked or not (never the key itself)."""
        from ..service.keys import KeyStore

        if not gallery.exists():
            fail(f"{gallery}: no such gallery")
        store = KeyStore(gallery)
        items = store.list()
        store.close()
        if json_out:
            for k in items:
                emit(k.to_dict())
        else:
            import time

            table("API keys", ["id", "scope", "name", "created", "revoked"],
                  [[k.id, k.scope, k.name or "-", time.strftime("%Y-%m-%d %H:%M", time.gmtime(k.created_at)),
                    "yes" if k.revoked_at else ""] for k in items])

    @keys.command("revoke")
    def revoke(key_id: str = typer.Argument(..., help="The key's id (the part after 'vultus_')."),
               gallery: Path = GalleryOpt, json_out: bool = JsonOpt) -> None:
        """Revoke a key; a running server refuses it from its next request."""
        from ..gallery.store import Store
        from ..service.keys import KeyStore

        if not gallery.exists():
            fail(f"{gallery}: no such gallery")
        store = KeyStore(gallery)
        key = store.revoke(key_id)
        store.close()
        audit = Store(gallery)
        audit.audit("local", "revoke_key", None, {"key": key.id})
        audit.close()
        emit(key.to_dict()) if json_out else out.print(f"revoked {key.id}")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
