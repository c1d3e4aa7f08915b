"""`vultus detect`, `vultus embed`, `vultus verify`: single images, no gallery."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .. import draw
from ..pipeline import DEFAULT_RECOGNIZER, Pipeline
from ..liveness import LivenessError
from .common import DetectorOpt, FarOpt, ImageBatch, JsonOpt, emit, fail, out, table
from .liveness import LivenessOpt, SessionOpt, liveness_options, print_report

RecognizerOpt = typer.Option(DEFAULT_RECOGNIZER, "--recognizer", "-r",
                             help="Embedder or fusion: sface, dlib, sface+dlib; add ':flip' for flip TTA.")
AnnotateOpt = typer.Option(None, "--annotate", help="Write annotated copies of the images into this folder.")


def register(app: typer.Typer) -> None:
    @app.command()
    def detect(images: list[Path] = typer.Argument(..., help="Image files or folders."),
               detector: str = DetectorOpt,
               min_score: Optional[float] = typer.Option(None, "--min-score",
                                                         help="Detector score threshold (default: the detector's)."),
               min_size: Optional[float] = typer.Option(None, "--min-size",
                                                        help="Smallest face, pixels on the short side (default 10)."),
               annotate: Optional[Path] = AnnotateOpt, json_out: bool = JsonOpt) -> None:
        """Find every face: box, score, 5 landmarks and quality."""
        options = {k: v for k, v in {"score_threshold": min_score, "min_face_size": min_size}.items() if v is not None}
        pipe = Pipeline(detector, DEFAULT_RECOGNIZER, detector_options=options or None)
        rows = []
        batch = ImageBatch(images, "detect", json_out)
        for p, img in batch:
            found = pipe.detect(img)
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
        batch.exit_code()

    @app.command()
    def embed(images: list[Path] = typer.Argument(..., help="Image files or folders."),
              recognizer: str = RecognizerOpt, detector: str = DetectorOpt, json_out: bool = JsonOpt) -> None:
        """Box, landmarks, quality and the embedding of every face (with --json: one line per face)."""
        pipe = Pipeline(detector, recognizer)
        rows = []
        batch = ImageBatch(images, "embed", json_out)
        for p, img in batch:
            found = pipe.embed(img)
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
        batch.exit_code()

    @app.command()
    def verify(a: Path = typer.Argument(..., help="First image (its largest face)."),
               b: Path = typer.Argument(..., help="Second image (its largest face)."),
               recognizer: str = RecognizerOpt, detector: str = DetectorOpt, far: float = FarOpt,
               best_accuracy: bool = typer.Option(False, "--best-accuracy",
                                                  help="Use the best-accuracy threshold instead of --far."),
               liveness: bool = LivenessOpt, session: Optional[Path] = SessionOpt,
               json_out: bool = JsonOpt) -> None:
        """Are the two images the same person? Prints the score and the threshold used.

        With --liveness, both faces must be live (and the --session camera genuine), else exit 1."""
        check, session_data = liveness_options(liveness, session)
        pipe = Pipeline(detector, recognizer)
        try:
            v = pipe.verify(a, b, None if best_accuracy else far, names=(str(a), str(b)), liveness=check,
                            session=session_data)
        except LivenessError as e:
            if json_out:
                emit({"a": str(a), "b": str(b), "error": str(e), "kind": e.kind, "liveness": e.report.to_dict()})
            fail(str(e))
        print_report(v.liveness)
        if json_out:
            emit({"a": str(a), "b": str(b), **v.to_dict()})
        else:
            rule = "best accuracy" if v.target_far is None else f"FAR {v.target_far:g}"
            verdict = "[green]same person[/]" if v.same else "[red]different people[/]"
            out.print(f"{verdict}: score {v.score:.3f}, threshold {v.threshold:.3f} ({v.model}, {rule})")

