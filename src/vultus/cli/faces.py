"""`vultus detect`, `vultus embed`, `vultus verify`: single images, no gallery."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .. import draw
from ..errors import VultusError
from ..io import load_image
from ..pipeline import DEFAULT_RECOGNIZER, Pipeline
from .common import DetectorOpt, FarOpt, JsonOpt, emit, err, expand, fail, progress, table

RecognizerOpt = typer.Option(DEFAULT_RECOGNIZER, "--recognizer", "-r",
                             help="Embedder or fusion: sface, dlib, sface+dlib; add ':flip' for flip TTA.")
AnnotateOpt = typer.Option(None, "--annotate", help="Write annotated copies of the images into this folder.")


def register(app: typer.Typer) -> None:
    @app.command()
    def detect(images: list[Path] = typer.Argument(..., help="Image files or folders."),
               detector: str = DetectorOpt,
               min_score: float = typer.Option(0.6, "--min-score", help="Detector score threshold."),
               min_size: float = typer.Option(10, "--min-size", help="Smallest face (pixels, short side)."),
               annotate: Optional[Path] = AnnotateOpt, json_out: bool = JsonOpt) -> None:
        """Find every face: box, score, 5 landmarks and quality."""
        pipe = Pipeline(detector, DEFAULT_RECOGNIZER,
                        detector_options={"score_threshold": min_score, "min_face_size": min_size})
        rows, failed = [], 0
        paths = expand(images)
        with progress(len(paths), "detect") as tick:
            for p in paths:
                try:
                    img = load_image(p)
                    found = pipe.detect(img)
                except VultusError as e:
                    failed += 1
                    _report_error(p, e, json_out)
                    continue
                finally:
                    tick()
                if annotate:
                    draw.save(draw.annotate(img, found), annotate / f"{p.stem}.jpg")
                for i, f in enumerate(found):
                    if json_out:
                        emit({"input": str(p), "face": i, **f.to_dict()})
                    else:
                        q = f.quality
                        rows.append([p.name, i, f"{f.score:.3f}", " ".join(f"{v:.0f}" for v in f.box),
                                     f"{q.face_size:.0f}", f"{q.sharpness:.0f}", f"{q.yaw:+.2f}"])
                if not found and not json_out:
                    rows.append([p.name, "-", "no face", "", "", "", ""])
        if not json_out:
            table("faces", ["image", "#", "score", "box x1 y1 x2 y2", "eye dist", "sharpness", "yaw"], rows)
        if failed:
            raise typer.Exit(1)

    @app.command()
    def embed(images: list[Path] = typer.Argument(..., help="Image files or folders."),
              recognizer: str = RecognizerOpt, detector: str = DetectorOpt, json_out: bool = JsonOpt) -> None:
        """Box, landmarks, quality and the embedding of every face (with --json: one line per face)."""
        pipe = Pipeline(detector, recognizer)
        paths = expand(images)
        rows, failed = [], 0
        with progress(len(paths), "embed") as tick:
            for p in paths:
                try:
                    found = pipe.embed(load_image(p))
                except VultusError as e:
                    failed += 1
                    _report_error(p, e, json_out)
                    continue
                finally:
                    tick()
                for i, f in enumerate(found):
                    if json_out:
                        emit({"input": str(p), "face": i, "recognizer": pipe.recognizer.key,
                              **f.to_dict(with_embeddings=True)})
                    else:
                        dims = ", ".join(f"{m} {len(v)}-d" for m, v in f.embeddings.items())
                        rows.append([p.name, i, f"{f.score:.3f}", dims, " ".join(f"{v:+.3f}" for v in
                                                                               next(iter(f.embeddings.values()))[:4])])
        if not json_out:
            table("embeddings", ["image", "#", "score", "vectors", "first values"], rows)
        if failed:
            raise typer.Exit(1)

    @app.command()
    def verify(a: Path = typer.Argument(..., help="First image (its largest face)."),
               b: Path = typer.Argument(..., help="Second image (its largest face)."),
               recognizer: str = RecognizerOpt, detector: str = DetectorOpt, far: float = FarOpt,
               best_accuracy: bool = typer.Option(False, "--best-accuracy",
                                                  help="Use the best-accuracy threshold instead of --far."),
               json_out: bool = JsonOpt) -> None:
        """Are the two images the same person? Prints the score and the threshold used."""
        pipe = Pipeline(detector, recognizer)
        v = pipe.verify(a, b, None if best_accuracy else far, names=(str(a), str(b)))
        if json_out:
            emit({"a": str(a), "b": str(b), **v.to_dict()})
        else:
            rule = "best accuracy" if v.target_far is None else f"FAR {v.target_far:g}"
            verdict = "[green]same person[/]" if v.same else "[red]different people[/]"
            from .common import out

            out.print(f"{verdict}: score {v.score:.3f}, threshold {v.threshold:.3f} ({v.model}, {rule})")


def _report_error(path: Path, e: VultusError, json_out: bool) -> None:
    if json_out:
        emit({"input": str(path), "error": str(e), "kind": e.kind})
    err.print(f"[red]error:[/] {e}", soft_wrap=True)


__all__ = ["register", "fail", "RecognizerOpt", "AnnotateOpt"]
