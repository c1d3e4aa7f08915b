"""`vultus models`: every model and backend, where its weights come from, its licence, whether it
may be used commercially, its model card and its measured figures."""

from __future__ import annotations

import typer

from ..decide import calibrated
from ..models import specs
from .common import JsonOpt, emit, table



def register(app: typer.Typer) -> None:
    @app.command("models")
    def models_cmd(task: str = typer.Option(None, "--task", help="Only this task (detector, embedder, "
                                            "landmarker, analyzer, track_analyzer, transform, source_check, index)."),
                   json_out: bool = JsonOpt) -> None:
        """List every model with its task, weights source, licence, commercial use, card and measured figures."""
        rows, figures = [], []
        for s in sorted(specs(task), key=lambda s: (str(s.task), s.name)):
            installed = s.installed()
            card = f"docs/models/{s.card}" if s.card else None
            if json_out:
                emit({"name": s.name, "task": str(s.task), "summary": s.summary, "package": s.package,
                      "file": s.file, "sha256": s.sha256, "licence": s.licence, "commercial_use": s.commercial_use,
                      "input_size": s.input_size, "outputs": list(s.outputs), "requires": [str(t) for t in s.requires],
                      "modality": str(s.modality), "card": card, "training": s.training, "installed": installed,
                      "figures": s.figures})
            else:
                figures += [[s.name, k.replace("_", " "), v] for k, v in s.figures.items()]
                source = s.package or ("trained here" if s.training else ("vultus" if s.file else "-"))
                rows.append([s.name, str(s.task), source, s.licence,
                             "yes" if s.commercial_use else "[red]no[/]", "yes" if installed else "[red]NO[/]",
                             card or "-"])
        if not json_out:
            table("models", ["name", "task", "weights from", "licence", "commercial use", "installed", "card"], rows)
            table("measured (bench/, docs/benchmarks.md)", ["model", "figure", "value"], figures)
            table("calibrated recognizers", ["recognizer"], [[k] for k in calibrated()])
