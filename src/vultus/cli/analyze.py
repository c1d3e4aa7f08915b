"""`vultus analyze`: every face with the results of the asked analyzers (age, gender, expression...)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from .. import draw
from ..pipeline import DEFAULT_RECOGNIZER, Pipeline, known_analyzers, parse_names
from ..types import Estimate, Label
from .common import DetectorOpt, ImageBatch, JsonOpt, emit, table

WithOpt = typer.Option(None, "--with", "-w", help="Analyzers to run, comma-separated (default: all that "
                       "ship; `vultus models` lists them).")


def short(result: Any) -> str:
    """One analysis result in a few characters, for tables and image labels."""
    if isinstance(result, Label):
        return f"{result.value} {result.confidence:.2f}"
    if isinstance(result, Estimate):
        unit = {"years": "y", "degrees": "°"}.get(result.unit, f" {result.unit}" if result.unit else "")
        return f"{result.value:.0f}{unit}" if abs(result.value) >= 10 else f"{result.value:.2f}{unit}"
    return str(result)


def register(app: typer.Typer) -> None:
    @app.command()
    def analyze(images: list[Path] = typer.Argument(..., help="Image files or folders."),
                with_: Optional[str] = WithOpt, detector: str = DetectorOpt,
                annotate: Optional[Path] = typer.Option(None, "--annotate",
                                                        help="Write annotated copies of the images into this folder."),
                json_out: bool = JsonOpt) -> None:
        """Describe every face: the outputs of each analyzer, with confidences."""
        names = parse_names(with_) if with_ else known_analyzers()
        pipe = Pipeline(detector, DEFAULT_RECOGNIZER, analyzers=names)
        outputs = [o for a in pipe.analyzers for o in a.outputs]
        rows = []
        batch = ImageBatch(images, "analyze", json_out)
        for p, img in batch:
            found = pipe.analyze(img)
            if annotate:
                labels = [", ".join(short(f.attributes[o]) for o in outputs if o in f.attributes) for f in found]
                draw.save(draw.annotate(img, found, labels), annotate / f"{p.stem}.jpg")
            for i, f in enumerate(found):
                if json_out:
                    emit({"input": str(p), "face": i, "analyzers": names, **f.to_dict()})
                else:
                    rows.append([p.name, i, f"{f.score:.2f}", *(short(f.attributes.get(o, "-")) for o in outputs)])
            if not found and not json_out:
                rows.append([p.name, "-", "no face", *([""] * len(outputs))])
        if not json_out:
            table("faces", ["image", "#", "score", *outputs], rows)
        batch.exit_code()
